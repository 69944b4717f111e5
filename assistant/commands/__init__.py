"""CLI command groups; each module registers its commands on the Typer app in `assistant.cli`."""
