"""Start Streamlit on ui/app.py after importing what the app needs, so the first page renders fast.

Streamlit runs the app script in its own process; modules imported here are already loaded
when the first browser session arrives, instead of being imported while the user waits.
"""

from __future__ import annotations

import sys
from pathlib import Path

APP = Path(__file__).resolve().parent / "app.py"


def warm_up() -> None:
    """Import the app's heavy dependencies once, before the server accepts sessions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401
    import pandas  # noqa: F401

    import assistant.service  # noqa: F401
    import tools.proposer.output  # noqa: F401  (the figures the app draws)
    from assistant.tools import build_registry

    build_registry()


def main(argv: list[str]) -> None:
    """`python -m ui.launch [streamlit flags]`."""
    warm_up()
    from streamlit.web.cli import main as streamlit_main

    sys.argv = ["streamlit", "run", str(APP), *argv]
    streamlit_main()


if __name__ == "__main__":
    main(sys.argv[1:])
