"""`matassist ui`: start the Streamlit front-end; extra flags (e.g. --server.port 8600) pass through."""

from __future__ import annotations

import os
import sys

import typer


def streamlit_command(extra: list[str]) -> list[str]:
    """The command line that serves the app headless, with usage statistics off and no developer
    toolbar (no "Deploy" button for lab users); ui/launch.py warms imports first."""
    return [
        # -P: the user's folder is not put on the import path (a tools/ folder there must not shadow ours)
        sys.executable, "-P", "-m", "ui.launch",
        "--browser.gatherUsageStats", "false",
        "--server.headless", "true",
        "--client.toolbarMode", "minimal",
        *extra,
    ]


def register(app: typer.Typer) -> None:
    """Add `ui`."""

    @app.command("ui", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def ui(ctx: typer.Context) -> None:
        """Start the chat front-end in the browser (Streamlit). Extra flags go to Streamlit, e.g. --server.port 8600."""
        env = dict(os.environ, STREAMLIT_BROWSER_GATHER_USAGE_STATS="false", ANONYMIZED_TELEMETRY="False")
        command = streamlit_command(list(ctx.args))
        # Replace this process rather than start a child: whoever stops `matassist ui` stops
        # the server too (a child would be orphaned by SIGTERM). The working directory stays
        # where the user started, so a .env there is read as by every other command.
        os.execve(command[0], command, env)
