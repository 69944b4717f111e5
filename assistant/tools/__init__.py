"""The assistant's tools: one module per tool, listed once in TOOLS.

Each module defines the tool's input model (the JSON schema the LLM sees) and a `SPEC` built
with `tool_spec(name, input_model, run)`. The router, the LLM agent, the CLI and the UI all
reach a tool through `build_registry()`, so adding a tool means: write its module here, add
its SPEC to TOOLS, and (for the offline router) teach `assistant/router.py` when to call it.
"""

from __future__ import annotations

from assistant.tools import (
    augment,
    cif,
    constraints,
    electrode,
    literature,
    materials_project,
    plan,
    predict,
    profile,
    propose,
    record,
    train,
    use_record,
)
from assistant.tools.base import ToolSpec

TOOLS: tuple[ToolSpec, ...] = (
    propose.SPEC,
    constraints.SPEC,
    use_record.SPEC,
    predict.SPEC,
    train.SPEC,
    record.SPEC,
    profile.SPEC,
    plan.SPEC,
    materials_project.SPEC,
    electrode.SPEC,
    cif.SPEC,
    literature.SPEC,
    augment.SPEC,
)


def build_registry() -> dict[str, ToolSpec]:
    """Every tool of this build, by the name the LLM and the router use."""
    return {spec.name: spec for spec in TOOLS}
