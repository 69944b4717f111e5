"""Issue 14 acceptance: multi-turn conversations whose proposals obey every constraint stated so far.

The scripts are in tests/data/conversations.yaml (its header says how a turn is written). Each
runs through the Assistant (offline router), `matassist ask --conversation NAME --json`, or the
Streamlit app (AppTest), with the closed-form stand-in model and a small swarm in the fast tier,
and with the real LightGBM model in the slow tier. After every turn the conversation holds
exactly the constraints stated so far, each in the stated form, and every proposal's PARAMETER
VALUES satisfy all of them (checked here from the specs, independently of the code under test,
and with the set's own `violations`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from assistant.settings import Settings
from tools.domain.constraints import ConstraintSet, ParameterConstraint
from tools.domain.design_space import CategoryParameter, DesignSpace, NumberParameter

SCRIPTS: list[dict[str, Any]] = yaml.safe_load((Path(__file__).parent / "data" / "conversations.yaml").read_text(encoding="utf-8"))
TURN_KEYS = {"say", "attach", "tools", "holds", "drops", "clear", "asks", "proposals", "varies", "answer_has", "error", "record", "local_scan"}
APP = str(Path(__file__).resolve().parents[1] / "ui" / "app.py")
TOL = 1e-9

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


# -- what one turn gave back, whatever the front-end --------------------------------------------------
@dataclass
class Call:
    name: str
    ok: bool
    data: dict[str, Any]
    summary: str = ""


@dataclass
class TurnResult:
    answer: str
    calls: list[Call]
    constraints: ConstraintSet
    shown_tables: list[pd.DataFrame] = field(default_factory=list)
    """Proposal tables as the page shows them (AppTest only)."""


# -- specs: "= 0.94", "< 760", "in B, Al", "not W" ------------------------------------------------------
@dataclass(frozen=True)
class Spec:
    op: str  # =, <, <=, >, >=, in, not
    value: Any


def parse_specs(raw: str | list[str]) -> list[Spec]:
    specs = []
    for text in [raw] if isinstance(raw, str) else raw:
        m = re.fullmatch(r"\s*(<=|>=|<|>|=|in|not)\s+(.+?)\s*", text)
        assert m, f"bad spec {text!r}"
        op, value = m.group(1), m.group(2)
        if op in {"in", "not"}:
            specs.append(Spec(op, tuple(v.strip() for v in value.split(","))))
        else:
            try:
                specs.append(Spec(op, float(value)))
            except ValueError:
                specs.append(Spec(op, value))
    return specs


def value_holds(spec: Spec, value: Any) -> bool:
    if spec.op == "=":
        return str(value) == spec.value if isinstance(spec.value, str) else abs(float(value) - spec.value) <= TOL
    if spec.op == "in":
        return str(value) in spec.value
    if spec.op == "not":
        return str(value) not in spec.value
    number = float(value)
    return {"<": number < spec.value - TOL, "<=": number <= spec.value + TOL,
            ">": number > spec.value + TOL, ">=": number >= spec.value - TOL}[spec.op]


def constraint_states(c: ParameterConstraint | None, specs: list[Spec]) -> bool:
    """True when the conversation's constraint says what the specs say, in the same form (a limit is not a fixed value)."""
    if c is None:
        return False
    for spec in specs:
        if spec.op == "=":
            if c.equals is None and not (c.allowed is not None and list(c.allowed) == [spec.value]):
                return False
            if c.equals is not None and not value_holds(spec, c.equals):
                return False
        elif spec.op in {"<", "<="}:
            if c.upper is None or abs(c.upper.value - spec.value) > TOL or c.upper.strict != (spec.op == "<"):
                return False
        elif spec.op in {">", ">="}:
            if c.lower is None or abs(c.lower.value - spec.value) > TOL or c.lower.strict != (spec.op == ">"):
                return False
        elif spec.op == "in":
            if c.allowed is None or set(c.allowed) - set(c.excluded) != set(spec.value):
                return False
        elif set(c.excluded) != set(spec.value) or c.allowed is not None:
            return False
    lows = sum(s.op in {">", ">="} for s in specs)
    highs = sum(s.op in {"<", "<="} for s in specs)
    return (c.lower is None or lows == 1) and (c.upper is None or highs == 1)


def inactive(space: DesignSpace, row: dict[str, Any], name: str) -> bool:
    """A number a conditional pins for this row (coating none -> coating temperature 0): limits do not apply to it."""
    return name in space.conditional_values(row)


def one_step_pairs(space: DesignSpace, rows: list[dict[str, Any]]) -> list[tuple[int, int, str]]:
    """Pairs of proposals that differ only by a single grid step in one parameter (the composition's derived mn aside)."""
    found = []
    for i in range(len(rows)):
        for j in range(i + 1, len(rows)):
            changed = [p for p in space.parameters if p.name != "mn" and str(rows[i][p.name]) != str(rows[j][p.name])
                       and not (isinstance(p, NumberParameter) and abs(float(rows[i][p.name]) - float(rows[j][p.name])) <= TOL)]
            if len(changed) == 1 and isinstance(changed[0], NumberParameter) and changed[0].step:
                steps = abs(float(rows[i][changed[0].name]) - float(rows[j][changed[0].name])) / changed[0].step
                if abs(steps - 1) < 1e-6:
                    found.append((i, j, changed[0].name))
    return found


# -- checking a turn -------------------------------------------------------------------------------------
def check_turn(turn: dict[str, Any], result: TurnResult, held: dict[str, list[Spec]], space: DesignSpace,
               record_ids: dict[str, set[str]]) -> None:
    where = f"after {turn['say']!r}"
    assert set(turn) <= TURN_KEYS, turn
    names = [c.name for c in result.calls]
    if turn.get("asks"):
        assert names == [], f"{where}: expected a question, got {names}"
        assert result.answer.strip(), where
    else:
        assert names == turn["tools"], f"{where}: called {names}; answer:\n{result.answer}"
        failed = [c for c in result.calls if not c.ok]
        if "error" in turn:
            assert failed and turn["error"] in failed[0].summary + result.answer, f"{where}: {result.answer}"
        else:
            assert not failed, f"{where}: {[c.summary for c in failed]}"
    for text in turn.get("answer_has", []):
        assert text in result.answer, f"{where}: {text!r} not in the answer:\n{result.answer}"

    # the constraints: exactly those stated so far, each in the stated form
    if turn.get("clear"):
        held.clear()
    for name in turn.get("drops", []):
        held.pop(name, None)
        assert result.constraints.get(name) is None, f"{where}: {name} is still held: {result.constraints.holding_line()}"
    for name, raw in (turn.get("holds") or {}).items():
        held[name] = parse_specs(raw)
    assert set(result.constraints.parameters) == set(held), f"{where}: holding {result.constraints.holding_line()}, expected {sorted(held)}"
    for name, specs in held.items():
        assert constraint_states(result.constraints.get(name), specs), f"{where}: {result.constraints.get(name)} is not {specs}"

    # the proposals' parameter values
    proposals = [c.data for c in result.calls if c.name == "propose_conditions" and c.ok]
    rows = [dict(p["params"]) for data in proposals for p in data["proposals"]]
    if result.shown_tables:  # the page's table shows what the tool returned
        shown = [r for table in result.shown_tables for r in table.to_dict("records")]
        assert len(shown) == len(rows), where
        for row, seen in zip(rows, shown, strict=True):
            for name in space.names:
                assert str(row[name]) == str(seen[name]) or abs(float(row[name]) - float(seen[name])) <= TOL, (where, name)
    plans = [c.data for c in result.calls if c.name == "draft_experiment_plan" and c.ok]
    checked = rows + [{n: r[n] for n in space.names} for plan in plans for r in plan["runs"]]
    for row in checked:
        assert space.row_problems(row) == [], (where, row)
        assert result.constraints.violations(row, space) == [], (where, row)
        for name, specs in held.items():
            for spec in specs:
                if spec.op != "=" and isinstance(space.parameter(name), NumberParameter) and inactive(space, row, name):
                    continue  # a limit applies where its parameter is active; a fixed value applies everywhere
                assert value_holds(spec, row[name]), f"{where}: {name} = {row[name]} breaks {spec.op} {spec.value}"
    if "proposals" in turn:
        assert len(rows) == turn["proposals"], where
    if proposals and not turn.get("asks"):
        assert len(rows) >= 1, where
        for data in proposals:
            batch = [dict(p["params"]) for p in data["proposals"]]
            if turn.get("local_scan"):
                assert data["local_scan"] is True, where
            else:
                assert one_step_pairs(space, batch) == [], f"{where}: near-duplicates {one_step_pairs(space, batch)}"
                assert data["min_steps_apart"] is None or data["min_steps_apart"] >= 2, where
    for name in turn.get("varies", []):
        assert len({str(r[name]) for r in rows}) >= 2, f"{where}: every proposal has {name} = {rows[0][name]}"
    if "record" in turn:
        ids = record_ids[turn["record"]]
        assert rows and all(p["nearest_run"] in ids for data in proposals for p in data["proposals"]), where
        assert turn["record"] in result.answer, where


# -- attached files ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def attachments(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """my_runs.csv: a valid record (every 94% Ni run of the demo record and 180 others, ids lab-0001...);
    bad_runs.csv: a misspelled column and two bad cells."""
    from assistant.tools.base import DEMO_RECORD

    folder = tmp_path_factory.mktemp("attachments")
    demo = pd.read_csv(DEMO_RECORD, dtype=str, keep_default_na=False)
    mine = pd.concat([demo[demo["ni"] == "0.94"], demo[demo["ni"] != "0.94"].iloc[::3].head(180)])
    mine["experiment_id"] = [f"lab-{i:04d}" for i in range(1, len(mine) + 1)]
    mine.to_csv(folder / "my_runs.csv", index=False)
    bad = demo.head(20).rename(columns={"calcination_temp_c": "calcinaton_temp_c"})
    bad.loc[3, "coating"] = "Zn"
    bad.loc[5, "ni"] = "0.945"
    bad.to_csv(folder / "bad_runs.csv", index=False)
    return {"my_runs.csv": folder / "my_runs.csv", "bad_runs.csv": folder / "bad_runs.csv"}


@pytest.fixture(scope="module")
def record_ids(attachments: dict[str, Path]) -> dict[str, set[str]]:
    return {"my_runs.csv": set(pd.read_csv(attachments["my_runs.csv"], dtype=str)["experiment_id"])}


# -- the three front-ends -------------------------------------------------------------------------------------
def run_service(script: dict[str, Any], settings: Settings, files: dict[str, Path]):
    from assistant.service import Assistant

    assistant = Assistant(settings)
    for turn in script["turns"]:
        reply = assistant.ask(turn["say"], attachments=[files[a] for a in turn.get("attach", [])])
        calls = [Call(c.name, c.ok, o.data, o.summary) for c, o in zip(reply.tool_calls, reply.outputs, strict=True)]
        yield turn, TurnResult(reply.answer, calls, assistant.ctx.constraints)


def run_cli(script: dict[str, Any], settings: Settings, files: dict[str, Path]):
    from typer.testing import CliRunner

    from cli.app import app

    runner = CliRunner()
    for turn in script["turns"]:
        args = ["ask", "--json", "--conversation", script["name"]]
        for name in turn.get("attach", []):
            args += ["--attach", str(files[name])]
        result = runner.invoke(app, [*args, turn["say"]])
        assert result.exit_code == 0, result.output
        reply = json.loads(result.stdout)
        assert reply["conversation"] == script["name"]
        calls = [Call(c["name"], c["ok"], c["data"], c["data"].get("error", "")) for c in reply["tool_calls"]]
        constraints = ConstraintSet(items=tuple(ParameterConstraint.model_validate(c) for c in reply["constraints"]))
        yield turn, TurnResult(reply["answer"], calls, constraints)


def run_app(script: dict[str, Any], settings: Settings, files: dict[str, Path]):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    for turn in script["turns"]:
        assert not turn.get("attach"), "the app's chat attachments are not scripted here"
        tables_before = len(at.dataframe)
        at.chat_input[0].set_value(turn["say"]).run()
        assert not at.exception, at.exception
        message = at.session_state.messages[-1]
        calls = [Call(c["name"], o["ok"], o["data"], o["summary"]) for c, o in zip(message["calls"], message["outputs"], strict=True)]
        tables = [t.value for t in at.dataframe[tables_before:]]
        assistant = at.session_state.assistant
        yield turn, TurnResult(message["content"], calls, assistant.ctx.constraints, tables)
        # the holding line above the chat input says what is held now
        items = assistant.constraint_descriptions()
        holding = [c.value for c in at.caption if c.value.startswith("Holding: ")]
        assert holding == (["Holding: " + "; ".join(text for _, text in items)] if items else []), holding


RUNNERS = {"service": run_service, "cli": run_cli, "apptest": run_app}


def _params() -> list[Any]:
    out = []
    for script in SCRIPTS:
        marks = [pytest.mark.slow] if script.get("model") == "real" else []
        out.append(pytest.param(script, id=script["name"], marks=marks))
    return out


@pytest.fixture()
def fast_model(request: pytest.FixtureRequest) -> None:
    """The stand-in model and a small swarm, except for the real-model scripts (slow tier)."""
    script = request.node.callspec.params["script"]
    if script.get("model") != "real":
        request.getfixturevalue("standin_fit")
        request.getfixturevalue("small_swarm")


def test_the_suite_is_large_and_varied():
    names = [s["name"] for s in SCRIPTS]
    assert len(names) == len(set(names))
    assert len(SCRIPTS) >= 60
    korean = [s for s in SCRIPTS if any("\uac00" <= ch <= "\ud7a3" for t in s["turns"] for ch in t["say"])]
    assert len(korean) >= 20
    via = [s.get("via", "service") for s in SCRIPTS]
    assert via.count("cli") >= 5 and via.count("apptest") >= 3
    assert sum(1 for s in SCRIPTS if s.get("model") == "real") >= 3
    assert sum(1 for s in SCRIPTS if len(s["turns"]) >= 2) >= 35


@pytest.mark.parametrize("script", _params())
def test_conversation(script, fast_model, attachments, record_ids, ncm_space, isolated_data_dir, shared_data_dir, monkeypatch):
    data_dir = shared_data_dir if script.get("model") == "real" else isolated_data_dir  # the real model is fitted once
    monkeypatch.setenv("MATASSIST_DATA_DIR", str(data_dir))
    settings = Settings(data_dir=data_dir)
    held: dict[str, list[Spec]] = {}
    ran = 0
    for turn, result in RUNNERS[script.get("via", "service")](script, settings, attachments):
        check_turn(turn, result, held, ncm_space, record_ids)
        ran += 1
    assert ran == len(script["turns"])


def test_the_specs_reader_itself():
    """The checker must catch what it is meant to catch (so a pass means something)."""
    assert value_holds(Spec("<", 760.0), 755.0) and not value_holds(Spec("<", 760.0), 760.0)
    assert value_holds(Spec("<=", 755.0), 755.0) and not value_holds(Spec("<=", 755.0), 760.0)
    assert not value_holds(Spec("not", ("W",)), "W") and value_holds(Spec("in", ("B", "Al")), "Al")
    from tools.domain.constraints import choice, fixed_value, value_range

    assert constraint_states(value_range("calcination_temp_c", upper=755), parse_specs("<= 755"))
    assert not constraint_states(fixed_value("calcination_temp_c", 755), parse_specs("<= 755"))  # fixed is not a limit
    assert not constraint_states(value_range("calcination_temp_c", upper=755), parse_specs("< 755"))
    assert constraint_states(choice("coating", excluded=["W", "none"]), parse_specs("not none, W"))
    space = __import__("tools.domain.design_space", fromlist=["load_design_space"]).load_design_space("ncm")
    base = {p.name: (p.values[0] if isinstance(p, CategoryParameter) else p.low) for p in space.parameters}
    twin = dict(base, calcination_temp_c=base["calcination_temp_c"] + 5)
    assert one_step_pairs(space, [base, twin]) == [(0, 1, "calcination_temp_c")]
    assert one_step_pairs(space, [base, dict(twin, calcination_temp_c=base["calcination_temp_c"] + 10)]) == []
