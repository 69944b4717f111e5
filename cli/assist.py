"""`matassist ask`, `matassist chat` and `matassist plan`: the assistant on the command line."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markdown import Markdown

from cli.common import JsonOpt, constraint_arguments, emit_json, err, guarded, out, settings
from tools.domain.errors import MatassistError

if TYPE_CHECKING:
    from assistant.service import Assistant

RecordOpt = Annotated[
    Path | None,
    typer.Option("--data", "-d", help="experiment record CSV; default: the built-in simulated demo record"),
]


def _check_record(data: Path) -> None:
    """A bad record stops the command here (exit 2), before any question is answered."""
    from tools.domain.design_space import load_design_space
    from tools.domain.record import read_record

    read_record(data, space=load_design_space(settings().design_space))


def _assistant(data: Path | None, verbose: bool = True) -> Assistant:
    from assistant.service import Assistant

    if data is not None:
        _check_record(data)

    def progress(message: str) -> None:
        if verbose:
            err.print(f"[dim]... {message}[/]")

    return Assistant(settings(), record_path=data, progress=progress)


def register(app: typer.Typer) -> None:
    """Add ask, chat and plan."""

    @app.command("ask")
    @guarded
    def ask(
        question: Annotated[str, typer.Argument(help="the question, e.g. \"propose next 94% Ni conditions\"")],
        attach: Annotated[list[Path] | None, typer.Option("--attach", "-a", help="a file for the question (CSV, CIF, ...); repeatable")] = None,
        data: RecordOpt = None,
        conversation: Annotated[str | None, typer.Option(
            "--conversation", help="continue the named conversation: its constraints, active record and last results "
            "are kept under the data dir between calls")] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Ask one question through the configured backend (offline without a key)."""
        from assistant.conversation import load_conversation, save_conversation

        assistant = _assistant(None, verbose=not as_json)
        state = load_conversation(settings(), conversation) if conversation else None
        if state is not None:
            assistant.restore_state(state)
        if data is not None:
            _check_record(data)
            assistant.set_record(data)
        reply = assistant.ask(question, attachments=list(attach or []))
        if state is not None:
            save_conversation(settings(), assistant.export_state(state.name, state.turns + 1))
        if as_json:
            emit_json({
                "answer": reply.answer,
                "backend": reply.backend,
                "tool_calls": [{"name": c.name, "args": c.args, "ok": c.ok, "data": o.data}
                               for c, o in zip(reply.tool_calls, reply.outputs, strict=False)],
                "sources": reply.sources,
                "files": reply.files,
                "unverified_numbers": reply.unverified_numbers,
                "constraints": reply.constraints,
                "conversation": conversation,
            })
            return
        out.print(Markdown(reply.answer))
        if reply.tool_calls:
            err.print("[dim]tools: " + ", ".join(f"{c.name}({', '.join(f'{k}={v}' for k, v in c.args.items())})" for c in reply.tool_calls) + f" | backend: {assistant.label}[/]")

    @app.command("chat")
    @guarded
    def chat(data: RecordOpt = None) -> None:
        """Interactive chat with the assistant in the terminal (Ctrl-D or 'exit' to leave)."""
        assistant = _assistant(data)
        out.print(f"matassist chat, backend: {assistant.label}. Type 'exit' to leave.")
        while True:
            try:
                message = input("you> ").strip()
            except EOFError:
                out.print()
                return
            if message.lower() in {"exit", "quit", ":q"}:
                return
            if not message:
                continue
            attachments: list[Path] = []
            if message.startswith("/attach "):
                path = Path(message.split(" ", 1)[1].strip())
                if not path.exists():
                    err.print(f"[red]{path}: no such file[/]")
                    continue
                attachments = [path]
                message = input("about this file> ").strip() or "check this file"
            try:
                reply = assistant.ask(message, attachments=attachments)
            except MatassistError as exc:
                err.print(f"[bold red]error:[/] {exc}")
                continue
            out.print(Markdown(reply.answer))

    @app.command("plan")
    @guarded
    def plan(
        fix: Annotated[list[str] | None, typer.Option("--fix", "-f", help="NAME=VALUE held fixed (repeatable), e.g. --fix ni=0.93 --fix atmosphere=air")] = None,
        where: Annotated[list[str] | None, typer.Option("--where", "-w", help="a limit, range or choice (repeatable), e.g. --where 'calcination_temp_c<760'")] = None,
        n: Annotated[int, typer.Option("--n", "-n", help="runs to propose")] = 8,
        replicates: Annotated[int, typer.Option(help="extra repeats of the top run")] = 1,
        no_control: Annotated[bool, typer.Option("--no-control", help="do not add a control run")] = False,
        title: Annotated[str, typer.Option(help="plan title")] = "Next experiments",
        data: RecordOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Propose runs and draft a plan the lab can run: Markdown plan, run list and results template (CSV)."""
        from assistant.tools.base import call_tool

        arguments = {**constraint_arguments(fix, where), "n": n}
        assistant = _assistant(data, verbose=not as_json)
        proposed = call_tool(assistant.ctx, assistant.registry["propose_conditions"], arguments)
        drafted = call_tool(assistant.ctx, assistant.registry["draft_experiment_plan"],
                            {"replicates": replicates, "add_control": not no_control, "title": title})
        if as_json:
            emit_json({"plan": drafted.data, "files": drafted.files, "proposals": proposed.data})
            return
        out.print(Markdown(drafted.summary))
