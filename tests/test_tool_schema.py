"""Golden test: the JSON schema the LLM sees for every tool is pinned in tests/data/tool_schemas.json.

A deliberate change of a tool's input: regenerate with `python tests/test_tool_schema.py`, then
review the diff like any other interface change.
"""

from __future__ import annotations

import json
from pathlib import Path

from assistant.agent import make_langchain_tools
from assistant.settings import Settings
from assistant.tools import build_registry
from assistant.tools.base import ToolContext

GOLDEN = Path(__file__).parent / "data" / "tool_schemas.json"
REQUIRED_NAMES = {
    "propose_conditions", "predict_capacity", "train_model", "record_results", "profile_dataset",
    "draft_experiment_plan", "query_materials_project", "validate_cif", "search_literature", "augment_dataset",
    "update_constraints", "use_record", "predict_electrode",
}


def current_schemas(data_dir: Path) -> dict[str, dict]:
    from langchain_core.utils.function_calling import convert_to_openai_tool

    ctx = ToolContext(settings=Settings(data_dir=data_dir))
    tools = make_langchain_tools(ctx, build_registry(), [])
    return {t.name: convert_to_openai_tool(t) for t in tools}


def test_tool_schemas_match_the_golden_file(tmp_path):
    schemas = current_schemas(tmp_path)
    assert REQUIRED_NAMES <= set(schemas)
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert schemas == golden


def test_every_field_is_described(tmp_path):
    for name, schema in current_schemas(tmp_path).items():
        params = schema["function"]["parameters"]
        assert schema["function"]["description"], name
        for field, spec in params.get("properties", {}).items():
            assert spec.get("description"), f"{name}.{field} has no description"


if __name__ == "__main__":
    import tempfile

    GOLDEN.write_text(json.dumps(current_schemas(Path(tempfile.mkdtemp())), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {GOLDEN}")
