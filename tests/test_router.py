"""The offline router on the routing test set, plus follow-ups and memory."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from assistant.router import RouterMemory, route

CASES = yaml.safe_load((Path(__file__).parent / "data" / "routing_cases.yaml").read_text(encoding="utf-8"))
CORE_TOOLS = {"propose_conditions", "predict_capacity", "train_model", "record_results", "profile_dataset", "draft_experiment_plan"}
ALL_TOOLS = CORE_TOOLS | {"validate_cif", "query_materials_project", "search_literature", "augment_dataset"}


def test_the_set_is_large_and_varied():
    assert len(CASES) >= 40
    assert {t for c in CASES for t in c.get("calls", [])} == ALL_TOOLS
    assert sum(1 for c in CASES if any("\uac00" <= ch <= "\ud7a3" for ch in c["message"])) >= 5


@pytest.mark.parametrize("case", CASES, ids=[c["message"][:40] for c in CASES])
def test_routing_case(case, ncm_space, tmp_path):
    attachments = []
    if "attach" in case:
        path = tmp_path / case["attach"]
        path.write_text("data_x\n_cell_length_a 1\n")
        attachments.append(path)
    decision = route(case["message"], ncm_space, RouterMemory(), attachments, available=ALL_TOOLS)
    if case.get("none"):
        assert decision.intent is None and not decision.calls
        return
    if case.get("ask"):
        assert decision.questions and not decision.calls
        return
    assert not decision.questions, decision.questions
    assert [c.name for c in decision.calls] == case["calls"]
    if "args" in case:
        assert {k: decision.calls[0].args.get(k) for k in case["args"]} == case["args"]
    if "fixed" in case:
        args = decision.calls[0].args
        assert args["fixed"] == case["fixed"]
        assert args["n"] == case["n"]


def test_follow_up_keeps_the_previous_request(ncm_space):
    memory = RouterMemory()
    first = route("propose 10 runs at 94% Ni", ncm_space, memory, available=CORE_TOOLS)
    assert first.calls[0].args == {"fixed": {"ni": 0.94}, "n": 10}
    second = route("now keep the atmosphere in air", ncm_space, memory, available=CORE_TOOLS)
    assert [c.name for c in second.calls] == ["propose_conditions"]
    assert second.calls[0].args == {"fixed": {"ni": 0.94, "atmosphere": "air"}, "n": 10}
    third = route("and only 5 of them", ncm_space, memory, available=CORE_TOOLS)
    assert third.calls[0].args == {"fixed": {"ni": 0.94, "atmosphere": "air"}, "n": 5}


def test_a_tool_outside_this_build_is_named(ncm_space):
    decision = route("search the literature for Zr doping", ncm_space, RouterMemory(), available=CORE_TOOLS)
    assert decision.intent == "search_literature"
    assert decision.questions and "not part of this build" in decision.questions[0]


def test_kelvin_is_converted_and_said(ncm_space):
    decision = route("propose at 94% Ni calcined at 1033 K", ncm_space, RouterMemory(), available=CORE_TOOLS)
    assert decision.calls[0].args["fixed"]["calcination_temp_c"] == 760.0
    assert decision.notes == ["read 1033 k as 760 degC"]
