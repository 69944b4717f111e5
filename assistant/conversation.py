"""A conversation's state kept between turns: constraints, active record, last results, router memory.

The CLI's `chat` and each UI session keep it in memory; `matassist ask --conversation NAME`
saves it under <data dir>/conversations/NAME.json (written to a temporary file, then renamed)
so a script can continue a conversation turn after turn.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assistant.settings import Settings
from tools.domain.constraints import ConstraintSet
from tools.domain.errors import MatassistError

if TYPE_CHECKING:
    from assistant.router import RouterMemory
    from assistant.tools.base import ToolContext

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
FORMAT = 1


class ConversationState(BaseModel):
    """What a conversation remembers."""

    model_config = ConfigDict(extra="forbid")

    format: int = Field(default=FORMAT, description="file format version")
    name: str = Field(description="the conversation's name")
    record_path: str | None = Field(default=None, description="the active record; None for the built-in demo record")
    constraints: ConstraintSet = Field(default_factory=ConstraintSet, description="the constraints in force")
    last_intent: str | None = Field(default=None, description="the offline router's last request, for follow-ups")
    last_args: dict[str, Any] = Field(default_factory=dict, description="its arguments")
    last_proposals: dict[str, Any] | None = Field(default=None, description="the last proposals (ProposalResult as JSON)")
    turns: int = Field(default=0, description="turns answered so far")


def conversation_path(settings: Settings, name: str) -> Path:
    """Where conversation `name` is kept; MatassistError for a name that is not a plain file name."""
    if not _NAME.match(name):
        raise MatassistError(f"conversation name '{name}': use letters, digits, '-', '_' or '.', up to 64 characters")
    return settings.ensure_data_dir() / "conversations" / f"{name}.json"


def load_conversation(settings: Settings, name: str) -> ConversationState:
    """The saved state of conversation `name`, or a new one."""
    path = conversation_path(settings, name)
    if not path.exists():
        return ConversationState(name=name)
    try:
        return ConversationState.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, ValidationError) as err:
        raise MatassistError(f"conversation '{name}' cannot be read ({path}): {str(err).splitlines()[0]}; delete the file to start over") from err


def save_conversation(settings: Settings, state: ConversationState) -> Path:
    """Write the state atomically; returns its path."""
    from tools.domain.fileio import atomic_write_text

    path = conversation_path(settings, state.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, state.model_dump_json(indent=2))
    return path


def export_state(ctx: ToolContext, memory: RouterMemory, name: str, turns: int = 0) -> ConversationState:
    """The state of a conversation held in a tool context and the router's memory."""
    last = ctx.last_proposals
    return ConversationState(
        name=name,
        record_path=None if ctx.record_path is None else str(ctx.record_path),
        constraints=ctx.constraints,
        last_intent=memory.last_intent,
        last_args=memory.last_args,
        last_proposals=None if last is None else last.model_dump(mode="json", exclude={"convergence"}),
        turns=turns,
    )


def restore_state(ctx: ToolContext, memory: RouterMemory, state: ConversationState) -> None:
    """Put a saved state back into a tool context and router memory (the record is set by the caller)."""
    from tools.proposer.models import ProposalResult

    ctx.constraints = state.constraints
    memory.constraints = state.constraints
    memory.last_intent, memory.last_args = state.last_intent, dict(state.last_args)
    if state.last_proposals is not None:
        ctx.last_proposals = ProposalResult.model_validate(state.last_proposals)
        ctx.last_fixed = dict(ctx.last_proposals.fixed)
