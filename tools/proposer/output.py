"""What a proposal run hands to people: the proposals as record rows ready to run, and its figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tools.domain.design_space import DesignSpace
from tools.proposer.models import ProposalResult


def proposals_frame(result: ProposalResult, space: DesignSpace, shot: str | None = None) -> pd.DataFrame:
    """Proposals as record rows ready to run: parameters, predicted_mah_g, source=ml-proposal."""
    rows = []
    for prop in result.proposals:
        row: dict[str, Any] = {name: prop.params[name] for name in space.names}
        row["predicted_mah_g"] = round(prop.predicted_mah_g, 2)
        row["source"] = "ml-proposal"
        if shot is not None:
            row["shot"] = shot
        rows.append(row)
    return pd.DataFrame(rows)


def plot_convergence(result: ProposalResult, path: Any) -> Any:
    """Write the swarm's convergence (best acquisition per iteration) as a PNG."""
    from tools.plotting import _pyplot, save_figure

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(np.arange(1, len(result.convergence) + 1), result.convergence, color="#4477aa")
    ax.set_xlabel("iteration")
    ax.set_ylabel("best acquisition (mAh/g-like)")
    ax.set_title(f"Particle swarm convergence ({result.settings.particles} particles)")
    ax.grid(alpha=0.3)
    return save_figure(fig, Path(path))
