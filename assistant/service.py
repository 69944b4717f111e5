"""One assistant, three backends: the CLI and the UI talk only to `Assistant`.

`Assistant.ask(message, attachments)` answers one turn through the configured backend and
returns the answer, the backend, the tool calls with their arguments, and the sources. The
offline backend routes deterministically (assistant.router); the LLM backends run the
LangGraph agent (assistant.agent). Both call the same registry tools.

The browser front-end needs a little more than questions and answers: the active record and
its summary, uploads validated before they count, the design space for its form, a tool
called from a button, documents added to the literature store, and the tables and figures
of a result. Those are methods and functions here too, so `ui/` imports nothing else.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from assistant.conversation import ConversationState, export_state, restore_state
from assistant.llm import BackendError, backend_label, llm_failure, make_chat_model, resolve_backend
from assistant.router import CAPABILITIES, RouterMemory, asks_to_record, is_greeting, route
from assistant.settings import Settings
from assistant.tools import build_registry
from assistant.tools.base import ToolContext, ToolOutput, run_tool
from prompts import load_prompt
from tools.domain.constraints import ConstraintSet
from tools.domain.errors import MatassistError

__all__ = ["Assistant", "AssistantReply", "MatassistError", "ParameterControl", "RecordInfo", "ToolOutput",
           "proposals_csv", "proposals_frame", "save_upload"]


class ToolCallRecord(BaseModel):
    """A tool the assistant called in a turn."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="tool name")
    args: dict[str, Any] = Field(description="arguments it was called with, files and long texts by reference (name and size, length), never their content")
    ok: bool = Field(default=True, description="False when the tool returned an error")


class AssistantReply(BaseModel):
    """One answered turn."""

    model_config = ConfigDict(extra="forbid")

    answer: str = Field(description="the answer, Markdown")
    backend: str = Field(description="offline, openai or openai-compatible")
    tool_calls: list[ToolCallRecord] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list, description="files, databases and citations the answer rests on")
    files: list[str] = Field(default_factory=list, description="files written in this turn")
    outputs: list[ToolOutput] = Field(default_factory=list, description="full tool outputs (for the UI)")
    unverified_numbers: list[str] = Field(default_factory=list, description="numbers in an LLM answer no tool result supports")
    constraints: list[dict[str, Any]] = Field(default_factory=list, description="the constraints in force after this turn, structured")


class RecordInfo(BaseModel):
    """What the UI shows about the active experiment record."""

    model_config = ConfigDict(extra="forbid")

    label: str = Field(description="file name and run count, or the demo record's name")
    runs: int = Field(description="rows in the record")
    failed: int = Field(description="runs with status failed")
    levels: dict[str, int] = Field(default_factory=dict, description="runs per Ni level (mole fraction -> count), when the record has ni")
    simulated: bool = Field(description="True when every run says source=synthetic")
    using_demo: bool = Field(description="True when the built-in demo record stands in")


class ParameterControl(BaseModel):
    """One design-space parameter as a form control."""

    model_config = ConfigDict(extra="forbid")

    name: str
    kind: str = Field(description="number or category")
    values: list[str] = Field(default_factory=list, description="allowed values of a category")
    low: float | None = Field(default=None, description="lowest value of a number, in `unit`")
    high: float | None = Field(default=None, description="highest value of a number, in `unit`")
    step: float | None = Field(default=None, description="grid step of a number, in `unit`")
    unit: str = ""


DEMO_LABEL = "built-in demo record (simulated)"


def save_upload(name: str, data: bytes, folder: Path) -> Path:
    """Write uploaded bytes under `folder` with a safe file name (atomically); returns the path."""
    from tools.domain.fileio import atomic_write_bytes

    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in Path(name).name) or "upload"
    path = folder / safe
    atomic_write_bytes(path, data)
    return path


def proposals_frame(data: dict[str, Any]) -> Any:
    """The proposals of a propose_conditions result as a table (pandas DataFrame)."""
    from assistant.rendering import proposals

    return proposals.frame(data)


def proposals_csv(data: dict[str, Any]) -> str:
    """The proposals of a propose_conditions result as CSV text, text cells escaped for spreadsheets."""
    from tools.domain.fileio import escape_text_cells

    return str(escape_text_cells(proposals_frame(data)).to_csv(index=False))


def warm_up() -> None:
    """Import what the first answer of a front-end needs (pandas, matplotlib, the tools), ahead of time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401
    import pandas  # noqa: F401

    import tools.proposer.output  # noqa: F401  (the figures the UI draws)

    build_registry()


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def begin_turn(ctx: ToolContext, message: str, attachments: list[Path] | None) -> list[Path]:
    """Start a turn: its attachments (regular files under the size limit), and whether it may write to the record.

    The record is written only when this very message asks to record results (the offline
    router's record intent), never on the model's own initiative.
    """
    from assistant.extract import Extraction, extract
    from tools.domain.fileio import check_regular_file, expected_kind

    files = [Path(a) for a in attachments or []]
    for f in files:
        try:
            check_regular_file(f, what=expected_kind(f))
        except MatassistError as err:
            raise MatassistError(f"attachment {err}") from err
    ctx.attachments = files
    try:
        extraction = extract(message, ctx.space())
    except MatassistError:  # an unreadable record is reported by the tools that need it
        extraction = Extraction()
    ctx.write_allowed = asks_to_record(message, files, extraction)
    return files


def message_with_attachments(message: str, files: list[Path]) -> str:
    """The user's message for the LLM, with the attachments listed by name and size (never their paths or content)."""
    if not files:
        return message
    listing = "\n".join(f"- {f.name} ({f.stat().st_size:,} bytes)" for f in files)
    return f"{message}\n\nAttached files (pass their names to tools):\n{listing}"


class Assistant:
    """A conversation with memory, over the configured backend."""

    def __init__(self, settings: Settings, record_path: Path | None = None, chat_model: Any = None,
                 progress: Callable[[str], None] | None = None, space_name: str | None = None):
        self.settings = settings
        self.registry = build_registry()
        self.ctx = ToolContext(settings=settings, record_path=record_path, space_name=space_name, progress=progress)
        self.memory = RouterMemory()
        self.backend = "offline" if chat_model is None and resolve_backend(settings) == "offline" else (
            resolve_backend(settings) if chat_model is None else "scripted"
        )
        self._chat_model = chat_model
        self._agent: Any = None
        self.thread_id = uuid.uuid4().hex
        self._record_label: str | None = None if record_path is None else record_path.name

    @classmethod
    def from_environment(cls, progress: Callable[[str], None] | None = None) -> Assistant:
        """An assistant with the settings of the environment (.env, MATASSIST_* variables)."""
        return cls(Settings(), progress=progress)

    @property
    def label(self) -> str:
        """Human description of the backend."""
        return "scripted test model" if self.backend == "scripted" else backend_label(self.settings)

    def set_record(self, path: Path | None) -> None:
        """Switch the active experiment record (None: the simulated demo record)."""
        self.ctx.record_path = path
        self.ctx.last_proposals = None
        self._record_label = None if path is None else path.name

    def record_info(self) -> RecordInfo:
        """The active record's label and summary; MatassistError when it cannot be read."""
        record = self.ctx.record()
        frame = record.frame
        levels = {f"{k:g}": int(v) for k, v in frame["ni"].value_counts().sort_index().items()} if "ni" in frame else {}
        using_demo = self.ctx.using_demo
        label = DEMO_LABEL if using_demo else f"{self._record_label or self.ctx.active_record_path.name} ({len(frame)} runs)"
        return RecordInfo(
            label=label,
            runs=len(frame),
            failed=int((frame["status"] == "failed").sum()),
            levels=levels,
            simulated=bool(len(frame)) and bool((frame["source"] == "synthetic").all()),
            using_demo=using_demo,
        )

    def load_record_upload(self, name: str, data: bytes, folder: Path) -> RecordInfo:
        """Validate uploaded CSV bytes in a temporary file; only a valid record becomes active.

        Raises MatassistError naming the upload (not the temporary file) when it is not valid;
        the active record is then unchanged.
        """
        from tools.domain.record import read_record

        staging = folder / f".staging-{uuid.uuid4().hex[:6]}.csv"
        save_upload(staging.name, data, folder)
        try:
            read_record(staging, space=self.ctx.space())
        except MatassistError as err:
            staging.unlink(missing_ok=True)
            raise MatassistError(f"{name} was not loaded: {err}".replace(str(staging), name)) from err
        final = folder / f"record-{Path(name).stem}.csv"
        staging.replace(final)
        self.set_record(final)
        self._record_label = name
        return self.record_info()

    def parameter_controls(self) -> list[ParameterControl]:
        """The active design space's parameters, for a form of values to hold fixed."""
        from tools.domain.design_space import CategoryParameter

        controls = []
        for p in self.ctx.space().parameters:
            if isinstance(p, CategoryParameter):
                controls.append(ParameterControl(name=p.name, kind="category", values=list(p.values)))
            else:
                controls.append(ParameterControl(name=p.name, kind="number", low=p.low, high=p.high, step=p.step, unit=p.unit))
        return controls

    def call(self, name: str, arguments: dict[str, Any]) -> ToolOutput:
        """Run one tool directly (a button in the UI); an error comes back as an error output."""
        return run_tool(self.ctx, self.registry[name], arguments)

    def ingest_documents(self, paths: list[Path]) -> Any:
        """Add documents to the literature store; returns the IngestResult."""
        from assistant.tools.literature import ingest_documents

        return ingest_documents(self.settings, paths, self.ctx.progress)

    def proposal_images(self, data: dict[str, Any]) -> list[bytes]:
        """PNG images of a propose_conditions result: predictions with uncertainty, and the record against the proposals.

        Rendered once per result: a page that shows them again (every rerun of the UI) reuses the bytes.
        """
        from tools.plotting import figure_png
        from tools.proposer.output import proposals_figure, record_vs_proposals_figure

        rows = list(data.get("proposals", []))
        return [figure_png(proposals_figure(rows), dpi=150), figure_png(record_vs_proposals_figure(self.ctx.record(), rows), dpi=150)]

    # -- conversation state ---------------------------------------------------------------------
    def constraint_list(self) -> list[dict[str, Any]]:
        """The constraints in force, structured (parameter, equals, lower, upper, allowed, excluded)."""
        return [c.model_dump(mode="json") for c in self.ctx.constraints.items]

    def constraint_descriptions(self) -> list[tuple[str, str]]:
        """(parameter, 'calcination_temp_c < 760 degC') for each constraint in force, in the order stated."""
        from tools.domain.design_space import NumberParameter

        space = self.ctx.space()
        out = []
        for c in self.ctx.constraints.items:
            param = space.parameter(c.parameter) if c.parameter in space.names else None
            unit = param.unit if isinstance(param, NumberParameter) and param.unit not in {"mole fraction", "weight fraction", "mol/mol"} else ""
            out.append((c.parameter, c.describe(unit)))
        return out

    def holding_line(self) -> str:
        """'Holding: ni = 0.94; calcination_temp_c < 760 degC.' or '' when nothing is held."""
        return self.ctx.constraints.holding_line(self.ctx.space())

    def drop_constraint(self, parameter: str) -> None:
        """Remove the constraint on one parameter (the UI's remove button)."""
        self.ctx.constraints = self.ctx.constraints.without(parameter)
        self.memory.constraints = self.ctx.constraints

    def clear_constraints(self) -> None:
        """Remove every constraint (the UI's "clear all")."""
        self.ctx.constraints = ConstraintSet()
        self.memory.constraints = self.ctx.constraints

    def export_state(self, name: str, turns: int = 0) -> ConversationState:
        """The conversation's state, to save it (`ask --conversation`)."""
        return export_state(self.ctx, self.memory, name, turns)

    def restore_state(self, state: ConversationState) -> None:
        """Continue a saved conversation: its record, constraints, last proposals and router memory."""
        if state.record_path is not None:
            self.set_record(Path(state.record_path))
        restore_state(self.ctx, self.memory, state)

    # -- answering ---------------------------------------------------------------------------
    def ask(self, message: str, attachments: list[Path] | None = None) -> AssistantReply:
        """Answer one message; user-caused problems come back as an answer, never an exception."""
        files = begin_turn(self.ctx, message, attachments)
        try:
            if self.backend == "offline":
                return self._ask_offline(message, files)
            return self._ask_llm(message, files)
        finally:
            self.ctx.write_allowed = False

    def stream(self, message: str, attachments: list[Path] | None = None) -> Iterator[str | AssistantReply]:
        """Yield answer text as it is produced (LLM backends), then the final AssistantReply."""
        if self.backend == "offline":
            yield self.ask(message, attachments)
            return
        files = begin_turn(self.ctx, message, attachments)
        try:
            agent = self._llm_agent()
            try:
                yield from agent.stream(message_with_attachments(message, files))
            except BackendError:
                raise
            except Exception as err:  # network and server errors of the LLM client
                raise llm_failure(err, self.settings) from err
            yield self._reply_from_turn(agent.last_turn)
        finally:
            self.ctx.write_allowed = False

    def _ask_offline(self, message: str, files: list[Path]) -> AssistantReply:
        space = self.ctx.space()
        self.memory.constraints = self.ctx.constraints
        try:
            decision = route(message, space, self.memory, files, available=set(self.registry))
            return self._answer_offline(decision, message)
        finally:
            self.memory.constraints = self.ctx.constraints  # the tools' context is the truth

    def _answer_offline(self, decision: Any, message: str) -> AssistantReply:
        if decision.intent is None:
            if is_greeting(message):
                return AssistantReply(answer=f"Hello. Offline I can {CAPABILITIES}.", backend="offline")
            text = load_prompt("offline_cannot.md", {"capabilities"}).render(capabilities=CAPABILITIES)
            return AssistantReply(answer=text, backend="offline")
        if decision.questions:
            questions = "\n".join(f"- {q}" for q in decision.questions)
            return AssistantReply(answer=load_prompt("offline_clarify.md", {"questions"}).render(questions=questions), backend="offline")
        outputs: list[ToolOutput] = []
        calls: list[ToolCallRecord] = []
        for call in decision.calls:
            output = run_tool(self.ctx, self.registry[call.name], call.args)
            outputs.append(output)
            calls.append(ToolCallRecord(name=call.name, args=arguments_by_reference(call.args, self._known_files()), ok=output.ok))
            if not output.ok:
                break
        preface = "".join(f"_{n}._\n\n" for n in decision.notes)
        body = "\n\n".join(o.summary for o in outputs)
        if calls and calls[0].name == "propose_conditions" and len(calls) == 1 and outputs[0].ok:
            footer = "\n\nSay \"draft an experiment plan for these\" to turn them into a plan with a results template."
        else:
            footer = ""
        answer = load_prompt("offline_answer.md", {"preface", "body", "footer"}).render(preface=preface, body=body, footer=footer)
        return AssistantReply(
            answer=answer.strip(),
            backend="offline",
            tool_calls=calls,
            sources=_unique([s for o in outputs for s in o.sources]),
            files=_unique([f for o in outputs for f in o.files]),
            outputs=outputs,
            constraints=self.constraint_list(),
        )

    def _llm_agent(self) -> Any:
        if self._agent is None:
            from assistant.agent import LLMAgent

            model = self._chat_model if self._chat_model is not None else make_chat_model(self.settings)
            self._agent = LLMAgent(model, self.ctx, self.registry, thread_id=self.thread_id)
        return self._agent

    def _known_files(self) -> list[Path]:
        return [*self.ctx.attachments, *self.ctx.written_files]

    def _ask_llm(self, message: str, files: list[Path]) -> AssistantReply:
        agent = self._llm_agent()
        try:
            turn = agent.ask(message_with_attachments(message, files))
        except BackendError:
            raise
        except Exception as err:  # the LLM client's network and server errors
            raise llm_failure(err, self.settings) from err
        return self._reply_from_turn(turn)

    def _reply_from_turn(self, turn: Any) -> AssistantReply:
        return AssistantReply(
            answer=turn.answer,
            backend=self.backend,
            tool_calls=[ToolCallRecord(name=c["name"], args=arguments_by_reference(c["args"], self._known_files()), ok=o.ok)
                        for c, o in zip(turn.tool_calls, turn.outputs, strict=True)],
            sources=_unique([s for o in turn.outputs for s in o.sources]),
            files=_unique([f for o in turn.outputs for f in o.files]),
            outputs=turn.outputs,
            unverified_numbers=turn.unverified,
            constraints=self.constraint_list(),
        )


_LONG_TEXT = 300


def _file_reference(path: Path) -> str:
    try:
        size = f"{path.stat().st_size:,} bytes"
    except OSError:
        size = "unreadable"
    return f"<file {path.name}, {size}>"


def arguments_by_reference(args: dict[str, Any], files: list[Path]) -> dict[str, Any]:
    """Tool-call arguments as shown to people: files by name and size, CIF and other long texts by length, never their content."""
    known = {key: path for path in files for key in (path.name, str(path))}

    def show(value: Any, key: str) -> Any:
        if isinstance(value, dict):
            return {k: show(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [show(v, key) for v in value]
        if isinstance(value, str):
            if key == "cif_text":
                return f"<CIF, {len(value):,} characters>"
            if value in known:
                return _file_reference(known[value])
            if len(value) > _LONG_TEXT:
                return f"<text, {len(value):,} characters>"
        return value

    return {k: show(v, k) for k, v in args.items()}
