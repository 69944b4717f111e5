"""The offline router on the routing test set (pass rate and known gaps), plus follow-ups and memory.

Each case of tests/data/routing_cases.yaml is a message as a scientist writes it, optionally
after earlier turns (`before`) and with attached files (`attach`), and what the router must do:
`calls` (tool names in order) with their arguments, `ask: true` (a question, no tool), or
`none: true` (off-topic). The arguments of propose_conditions (or, without it, of the last
update_constraints call) must equal exactly `fixed`, `n`, `at_most`, `below`, `at_least`,
`above`, `allowed`, `excluded`, `seed` and `local_scan` as given; `update` is the exact
argument set of the first update_constraints call, `args` a subset of the first call's.

A case the router is known to get wrong carries `known_gap: true`: it is still run (and must
still fail, so a fixed gap loses its flag), and the gaps count against a 5% budget.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from assistant.router import RouterMemory, route
from tools.domain.design_space import DesignSpace

DATA = Path(__file__).parent / "data"
CASES: list[dict[str, Any]] = yaml.safe_load((DATA / "routing_cases.yaml").read_text(encoding="utf-8"))
# Blind sets written before looking at the router (first: before the phrasing fixes; second:
# after them, to measure generalisation). Deterministic, so the floors sit just under the rates.
HELDOUT_FLOORS = {"routing_heldout.yaml": 0.97, "routing_heldout2.yaml": 0.9}
HELDOUT_SETS: dict[str, list[dict[str, Any]]] = {
    name: yaml.safe_load((DATA / name).read_text(encoding="utf-8")) for name in HELDOUT_FLOORS}
HELDOUT = [case for cases in HELDOUT_SETS.values() for case in cases]
CORE_TOOLS = {"propose_conditions", "predict_capacity", "train_model", "record_results", "profile_dataset", "draft_experiment_plan"}
ALL_TOOLS = CORE_TOOLS | {"validate_cif", "query_materials_project", "search_literature", "augment_dataset", "predict_electrode"}
CONVERSATION_TOOLS = {"update_constraints", "use_record"}
ARG_KEYS = ("fixed", "n", "at_most", "below", "at_least", "above", "allowed", "excluded", "seed", "local_scan")
CASE_KEYS = {"message", "before", "attach", "calls", "args", "update", "ask", "none", "known_gap", *ARG_KEYS}
MIN_PASS_RATE = 0.95


def _korean(text: str) -> bool:
    return any("\uac00" <= ch <= "\ud7a3" for ch in text)


def routing_problems(case: dict[str, Any], space: DesignSpace, folder: Path) -> list[str]:
    """What the router does differently from the case (empty when it routes as expected)."""
    memory = RouterMemory()
    for earlier in case.get("before", []):
        decision = route(earlier, space, memory, [], available=ALL_TOOLS)
        if decision.questions or not decision.calls:
            return [f"earlier turn {earlier!r} did not route: {decision.questions or 'no tool'}"]
    attachments = []
    names = case.get("attach", [])
    for name in [names] if isinstance(names, str) else names:
        path = folder / name
        path.write_text("data_x\n_cell_length_a 1\n")  # the router looks at the suffix only
        attachments.append(path)
    decision = route(case["message"], space, memory, attachments, available=ALL_TOOLS)
    got = [(c.name, c.args) for c in decision.calls]
    if case.get("none"):
        return [] if decision.intent is None and not decision.calls else [f"expected no tool, got {decision.intent}: {got}"]
    if case.get("ask"):
        return [] if decision.questions and not decision.calls else [f"expected a question, got {got}"]
    problems = [f"asked {decision.questions}"] if decision.questions else []
    if [c.name for c in decision.calls] != case["calls"]:
        problems.append(f"called {got}")
        return problems
    if "args" in case:
        subset = {k: decision.calls[0].args.get(k) for k in case["args"]}
        if subset != case["args"]:
            problems.append(f"{decision.calls[0].name} arguments {decision.calls[0].args}, expected {case['args']}")
    expected = {k: case[k] for k in ARG_KEYS if k in case}
    if expected:
        target = next((c for c in decision.calls if c.name == "propose_conditions"), None) or next(
            (c for c in reversed(decision.calls) if c.name == "update_constraints"), None)
        if target is None or target.args != expected:
            problems.append(f"arguments {target.args if target else None}, expected {expected}")
    if "update" in case:
        update = next((c for c in decision.calls if c.name == "update_constraints"), None)
        if update is None or update.args != case["update"]:
            problems.append(f"update_constraints arguments {update.args if update else None}, expected {case['update']}")
    return problems


@pytest.fixture(scope="module")
def routed(ncm_space: DesignSpace, tmp_path_factory: pytest.TempPathFactory) -> list[list[str]]:
    """Every case routed once: its problems, in the order of CASES."""
    return [routing_problems(case, ncm_space, tmp_path_factory.mktemp("attach")) for case in CASES]


def test_the_set_is_large_and_varied():
    assert len(CASES) >= 150
    for case in CASES:
        assert set(case) <= CASE_KEYS, case
        assert sum(k in case for k in ("calls", "ask", "none")) == 1, case
        if "propose_conditions" in case.get("calls", []):
            assert "fixed" in case and "n" in case, case
    assert {t for c in CASES for t in c.get("calls", [])} == ALL_TOOLS | CONVERSATION_TOOLS
    assert sum(1 for c in CASES if _korean(c["message"])) >= 25
    assert sum(1 for c in CASES if c.get("ask")) >= 10
    constraint_kinds = {k for c in CASES for k in ("at_most", "below", "at_least", "above", "allowed", "excluded") if k in c}
    assert constraint_kinds == {"at_most", "below", "at_least", "above", "allowed", "excluded"}
    assert any("update" in c and c["update"].get("clear") for c in CASES)
    assert any("update" in c and c["update"].get("remove") for c in CASES)


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c["message"][:40] for c in CASES])
def test_routing_case(index, routed):
    problems = routed[index]
    if CASES[index].get("known_gap"):
        assert problems, "this known gap routes correctly now: remove its known_gap flag"
    else:
        assert not problems, problems


def test_routing_pass_rate_and_known_gaps(routed):
    failures = [f"{c['message']!r}: {'; '.join(p)}" for c, p in zip(CASES, routed, strict=True) if p]
    gaps = [c["message"] for c in CASES if c.get("known_gap")]
    rate = 1 - len(failures) / len(CASES)
    assert len(gaps) <= (1 - MIN_PASS_RATE) * len(CASES), f"{len(gaps)} known gaps exceed the 5% budget: {gaps}"
    assert rate >= MIN_PASS_RATE, f"{rate:.1%} routed right; failures:\n" + "\n".join(failures)


@pytest.mark.parametrize("index", range(len(HELDOUT)), ids=[c["message"][:40] for c in HELDOUT])
def test_heldout_case(index, ncm_space, tmp_path):
    case = HELDOUT[index]
    assert set(case) <= CASE_KEYS, case
    problems = routing_problems(case, ncm_space, tmp_path)
    if case.get("known_gap"):
        assert problems, "this known gap routes correctly now: remove its known_gap flag"
    else:
        assert not problems, problems


@pytest.mark.parametrize("name", list(HELDOUT_FLOORS))
def test_heldout_set(name, ncm_space, tmp_path, record_property):
    """First-try pass rate on a blind held-out set (reported as a property, floored just under it)."""
    cases = HELDOUT_SETS[name]
    failures = [c["message"] for c in cases if routing_problems(c, ncm_space, tmp_path)]
    rate = 1 - len(failures) / len(cases)
    record_property("heldout_pass_rate", round(rate, 3))
    assert rate >= HELDOUT_FLOORS[name], f"{rate:.1%} of {name} routed right; failures: {failures}"


def test_the_heldout_sets_are_large_and_varied():
    assert len(HELDOUT_SETS["routing_heldout.yaml"]) >= 60
    assert len(HELDOUT_SETS["routing_heldout2.yaml"]) >= 20
    assert sum(1 for c in HELDOUT if _korean(c["message"])) >= 25
    messages = [c["message"] for c in CASES]
    assert not [c["message"] for c in HELDOUT if c["message"] in messages and "before" not in c], "held-out cases must be new"


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
