"""Issue 4 acceptance with no key: the offline backend through `matassist ask` and `matassist plan`."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.app import app
from tools.campaign.virtual_lab import VirtualLab
from tools.domain.record import read_record, write_record

runner = CliRunner()


@pytest.fixture()
def shared_env(shared_data_dir, monkeypatch):
    monkeypatch.setenv("MATASSIST_DATA_DIR", str(shared_data_dir))
    return shared_data_dir


def _ask(*args: str) -> dict:
    result = runner.invoke(app, ["ask", "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_propose_next_94_ni(shared_env):
    reply = _ask("propose next 94% Ni conditions")
    assert reply["backend"] == "offline"
    assert [c["name"] for c in reply["tool_calls"]] == ["propose_conditions"]
    assert reply["tool_calls"][0]["args"]["fixed"] == {"ni": 0.94}
    rows = [line for line in reply["answer"].splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert len(rows) == 10
    assert "SIMULATED" in reply["answer"]


def test_plan_for_8_runs_at_93_in_air(shared_env, tmp_path):
    reply = _ask("draft an experiment plan for 8 runs at 93% Ni in air")
    calls = reply["tool_calls"]
    assert [c["name"] for c in calls] == ["propose_conditions", "draft_experiment_plan"]
    assert calls[0]["args"] == {"fixed": {"ni": 0.93, "atmosphere": "air"}, "n": 8}
    assert "CR2032" in reply["answer"] and "1 M LiPF6 in EC/DMC 3:7" in reply["answer"]
    template = Path(next(f for f in reply["files"] if f.endswith("results_template.csv")))
    frame = pd.read_csv(template, dtype=str, keep_default_na=False)
    assert len(frame) == 8 + 1  # eight proposals and one replicate; no 93% Ni air run exists for a control
    assert set(frame["ni"]) == {"0.93"} and set(frame["atmosphere"]) == {"air"}

    # the lab fills in the template; `matassist record` accepts it
    lab = VirtualLab(seed=11)
    space = lab.space
    conditions = frame[space.names].copy()
    for p in space.numbers:
        conditions[p.name] = conditions[p.name].astype(float)
    measured = lab.run(conditions)
    frame["capacity_mah_g"] = measured["capacity_mah_g"].map(lambda v: "" if pd.isna(v) else f"{v:.2f}")
    frame["status"] = measured["status"]
    filled = tmp_path / "results.csv"
    frame.to_csv(filled, index=False)
    record_file = tmp_path / "record.csv"
    write_record(VirtualLab(seed=7).demo_record(), record_file)
    result = runner.invoke(app, ["record", "--data", str(record_file), "--results", str(filled), "--json"])
    assert result.exit_code == 0, result.output
    assert len(read_record(record_file)) == 652 + 9


def test_off_topic_calls_no_tool(shared_env):
    reply = _ask("what's the weather in Seoul?")
    assert reply["tool_calls"] == []
    assert "can't do that offline" in reply["answer"]


def test_unclear_value_is_asked_about(shared_env):
    reply = _ask("propose runs at 97% Ni")
    assert reply["tool_calls"] == []
    assert "0.97 is outside the allowed range 0.8 to 0.96" in reply["answer"]


def test_plan_command(shared_env):
    result = runner.invoke(app, ["plan", "--fix", "ni=0.94", "--n", "4", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    reasons = [r["reason"] for r in payload["plan"]["runs"]]
    assert reasons.count("replicate") == 1 and reasons.count("control") == 1 and len(reasons) == 6
    bad = runner.invoke(app, ["plan", "--fix", "ni=0.935"])
    assert bad.exit_code == 2 and "not on the 0.01" in bad.output


def test_llm_backend_without_key_names_the_setting(shared_env, monkeypatch):
    monkeypatch.setenv("MATASSIST_BACKEND", "openai")
    result = runner.invoke(app, ["ask", "hello"])
    assert result.exit_code == 2
    assert "OPENAI_API_KEY" in result.output and "Traceback" not in result.output
