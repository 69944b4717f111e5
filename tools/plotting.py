"""Shared plotting helpers: the headless matplotlib backend and PNG files written atomically.

The figures themselves live beside what they show (tools/data/profile_plots.py,
tools/proposer/output.py, tools/modelling/comparison.py, tools/campaign/shots.py). Every legend
gets an explicit position: with loc="best" matplotlib searches for one and warns when that takes
more than a second (a loaded machine), and pytest turns that warning into a failure.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from tools.domain.fileio import atomic_write_bytes


def pyplot() -> Any:
    """matplotlib.pyplot on the headless Agg backend (imported on first use)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def figure_png(fig: Any, dpi: int = 110) -> bytes:
    """Render a figure to PNG bytes and close it."""
    plt = pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def save_figure(fig: Any, path: Path) -> Path:
    """Render a figure to PNG bytes and write them atomically."""
    atomic_write_bytes(path, figure_png(fig))
    return path
