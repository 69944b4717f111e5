"""What every assistant tool shares: the per-conversation context, the output, the spec, and how a tool runs.

Each tool (one module in this package) has an input model (what the LLM sees as its JSON
schema, pinned by a golden test) and a function taking the session's ToolContext and that
input, returning a ToolOutput: a Markdown summary for people and models, JSON data, sources
and files. User-caused problems raise MatassistError; `run_tool` turns them into an error
ToolOutput so an agent can read the message and correct itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assistant.paths import model_folder
from assistant.settings import Settings
from tools.domain.constraints import ConstraintSet
from tools.domain.design_space import DesignSpace, load_design_space
from tools.domain.errors import MatassistError
from tools.domain.fileio import check_regular_file, expected_kind

if TYPE_CHECKING:  # pandas loads with the first tool that reads a record
    from tools.domain.record import ExperimentRecord

DEMO_RECORD = Path(str(resources.files("knowledge") / "demo" / "ncm_demo.csv"))


class ToolOutput(BaseModel):
    """What a tool hands back: text for the conversation, data for programs."""

    model_config = ConfigDict(extra="forbid")

    ok: bool = Field(default=True, description="False when the tool refused or failed")
    summary: str = Field(description="Markdown summary of the result, every number taken from `data`")
    data: dict[str, Any] = Field(default_factory=dict, description="the result as JSON")
    sources: list[str] = Field(default_factory=list, description="where the facts come from (files, citations, databases)")
    files: list[str] = Field(default_factory=list, description="files written (plots, plans, templates)")


@dataclass
class ModelUse:
    """The capacity model a tool used: where it lives and whether it was reused or fitted."""

    model: Any
    folder: Path
    reused: bool


@dataclass
class ToolContext:
    """Per-conversation state the tools share: settings, the active record, the last proposals."""

    settings: Settings
    record_path: Path | None = None
    space_name: str | None = None
    target: str | None = None
    """When set, the design space is inferred from the record with this column as the target."""
    attachments: list[Path] = field(default_factory=list)
    last_proposals: Any = None
    last_fixed: dict[str, Any] = field(default_factory=dict)
    last_model: ModelUse | None = None
    constraints: ConstraintSet = field(default_factory=ConstraintSet)
    """The constraints in force in this conversation: every proposal, prediction and plan obeys them."""
    proposer_overrides: dict[str, Any] = field(default_factory=dict)
    """Swarm settings (iterations, particles) the command line may set; the LLM cannot."""
    progress: Callable[[str], None] | None = None
    write_allowed: bool = False
    """True only in a turn whose user message asks to record results: the one case a tool may write to the record."""
    written_files: list[Path] = field(default_factory=list)
    """Files the tools wrote in this session (plans, results templates), which a later tool call may read."""
    _record_cache: tuple[tuple[str, int, int, str], ExperimentRecord] | None = None

    @property
    def active_record_path(self) -> Path:
        """The record the user chose, else the shipped (simulated) demo record."""
        return self.record_path or DEMO_RECORD

    @property
    def using_demo(self) -> bool:
        """True when no record was chosen and the simulated demo record stands in."""
        return self.record_path is None

    def space(self) -> DesignSpace:
        """The design space of the active record."""
        if self.target is not None:
            return self.record().space
        return load_design_space(self.space_name or self.settings.design_space)

    def record(self) -> ExperimentRecord:
        """Load and validate the active record (cached while the file is unchanged)."""
        from tools.domain.record import read_record

        path = self.active_record_path
        space = None if self.target is not None else self.space()
        try:
            stat = path.stat()
        except OSError:
            return read_record(path, space=space, target=self.target)  # raises the clear "no such file" error
        key = (str(path), stat.st_mtime_ns, stat.st_size, self.target or self.space_name or self.settings.design_space)
        if self._record_cache is None or self._record_cache[0] != key:
            self._record_cache = (key, read_record(path, space=space, target=self.target))
        return self._record_cache[1]

    def attached_file(self, name: str) -> Path:
        """A file the user attached in this conversation, by name or path; MatassistError for anything else.

        Tools the model can call read only attachments: a path the user never attached (.env,
        /etc/shadow, another record) is refused without being opened.
        """
        for path in self.attachments:
            if name in {path.name, str(path)}:
                check_regular_file(path, what=expected_kind(path))
                return path
        raise MatassistError(f"'{Path(name).name}' is not a file attached in this conversation (attached: {self._attached_names()})")

    def readable_file(self, name: str) -> Path:
        """An attachment, or a file the assistant wrote in its plans folder (a results template); MatassistError otherwise.

        A file of the plans folder is found by its path, or by its name when a tool wrote it in
        this session; a path that leads out of that folder (`..`, a symbolic link) is refused
        without being opened.
        """
        if any(name in {p.name, str(p)} for p in self.attachments):
            return self.attached_file(name)
        plans = (self.settings.data_dir / "plans").resolve()
        by_name = [p for p in self.written_files if p.name == name]
        candidate = by_name[-1] if by_name else Path(name).expanduser()
        resolved = candidate.resolve()
        if resolved.is_relative_to(plans) and resolved != plans:
            check_regular_file(resolved)
            return resolved
        raise MatassistError(
            f"'{Path(name).name}' is neither a file attached in this conversation (attached: {self._attached_names()}) "
            f"nor a file the assistant wrote under {plans}; attach the file to use it"
        )

    def _attached_names(self) -> str:
        return ", ".join(p.name for p in self.attachments) or "none"

    def note(self, message: str) -> None:
        """Report progress of long work, when someone listens."""
        if self.progress is not None:
            self.progress(message)

    def output_dir(self, kind: str) -> Path:
        """A folder in the data directory for files a tool writes."""
        folder = self.settings.ensure_data_dir() / kind
        folder.mkdir(parents=True, exist_ok=True)
        return folder


@dataclass(frozen=True)
class ToolSpec:
    """One registered tool."""

    name: str
    description: str
    input_model: type[BaseModel]
    run: Callable[[ToolContext, Any], ToolOutput]


def holding_note(ctx: ToolContext, space: DesignSpace) -> str:
    """'Holding: ni = 0.94; calcination_temp_c < 760 degC.' or '' when nothing is held."""
    return ctx.constraints.holding_line(space)


def record_note(ctx: ToolContext) -> str:
    """One line saying which record the answer rests on."""
    if ctx.using_demo:
        return "Record: the built-in demo record (652 runs, SIMULATED by the virtual lab, not measurements). Attach your own CSV to use real data."
    return f"Record: {ctx.active_record_path}"


def model_for(ctx: ToolContext, record: ExperimentRecord, seed: int = 0) -> Any:
    """The capacity model of the active record, fitted once and reused while the record is unchanged."""
    from tools.modelling.capacity_model import load_or_fit

    folder = model_folder(ctx.settings, record)
    ctx.note("loading or fitting the capacity model")
    model, reused = load_or_fit(record, folder, seed=seed)
    ctx.note("model reused" if reused else "model fitted")
    ctx.last_model = ModelUse(model=model, folder=folder, reused=reused)
    return model


def tool_spec(name: str, input_model: type[BaseModel], run: Callable[[ToolContext, Any], ToolOutput]) -> ToolSpec:
    """A ToolSpec whose description is the input model's docstring (what the LLM reads)."""
    return ToolSpec(name=name, description=(input_model.__doc__ or name).strip(), input_model=input_model, run=run)


def call_tool(ctx: ToolContext, spec: ToolSpec, arguments: dict[str, Any]) -> ToolOutput:
    """Run a tool for a command line: its error comes back as a MatassistError, not an error output."""
    output = run_tool(ctx, spec, arguments)
    if not output.ok:
        raise MatassistError(output.summary.removeprefix("error: "))
    return output


def run_tool(ctx: ToolContext, spec: ToolSpec, arguments: dict[str, Any]) -> ToolOutput:
    """Validate arguments and run a tool; user-caused problems come back as an error ToolOutput."""
    try:
        args = spec.input_model.model_validate(arguments)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(str(x) for x in e['loc']) or 'input'}: {e['msg']}" for e in err.errors())
        return ToolOutput(ok=False, summary=f"error: invalid arguments for {spec.name}: {problems}", data={"error": problems})
    try:
        output = spec.run(ctx, args)
    except MatassistError as err:
        return ToolOutput(ok=False, summary=f"error: {err}", data={"error": str(err)})
    ctx.written_files.extend(Path(f) for f in output.files)
    return output
