"""Issue 2 acceptance through the CLI: demo, profile, validation errors with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.app import app

runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_demo_then_profile_reports_the_biases(tmp_path):
    csv = tmp_path / "d.csv"
    result = _run("dataset", "demo", "--out", str(csv))
    assert result.exit_code == 0, result.output
    meta = json.loads(csv.with_suffix(".meta.json").read_text())
    assert meta["source"] == "synthetic"

    plots = tmp_path / "plots"
    result = _run("dataset", "profile", str(csv), "--json", "--plots", str(plots))
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["rows"] == 652
    assert report["counts_by_ni"] == {"0.92": 634, "0.94": 18}
    assert "coating_temp_c" in report["clustered"]
    assert "calcination_temp_c" not in report["clustered"]
    assert {"li_source", "atmosphere", "calcination_time_h", "dopant_ti", "dopant_mg"} <= set(report["one_valued"])
    by_name = {p["name"]: p for p in report["parameters"]}
    assert by_name["calcination_temp_c"]["shape"] == "near-normal"
    assert by_name["coating_temp_c"]["group_top_share"]["B"] > 0.7
    assert report["counts_by_source"] == {"synthetic": 652}
    for path in report["plots"]:
        assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_human_profile_is_readable(demo_csv, tmp_path):
    result = _run("dataset", "profile", str(demo_csv), "--plots", str(tmp_path / "p"))
    assert result.exit_code == 0
    assert "runs per Ni level: 0.92: 634, 0.94: 18" in result.output
    assert "coating_temp_c: clustered on one habitual value per coating" in result.output


def _broken(demo_csv: Path, tmp_path: Path, kind: str) -> Path:
    frame = pd.read_csv(demo_csv, dtype=str, keep_default_na=False)
    if kind == "typo":
        frame = frame.rename(columns={"coating_temp_c": "coatingtemp_c"})
    elif kind == "step":
        frame.loc[11, "calcination_temp_c"] = "763"
    elif kind == "composition":
        frame.loc[11, "mn"] = str(round(float(frame.loc[11, "mn"]) + 0.05, 3))
    out = tmp_path / f"{kind}.csv"
    frame.to_csv(out, index=False)
    return out


COMMANDS = [
    ("dataset", "profile"),
    ("dataset", "validate"),
    ("dataset", "import"),
    ("train", "--data"),
    ("propose", "--fix", "ni=0.94", "--n", "3", "--data"),
    ("plan", "--n", "3", "--data"),
    ("ask", "profile my record", "--data"),
    ("record", "--data", "{good}", "--results"),
]


@pytest.mark.parametrize("kind,row,column", [("typo", None, "coatingtemp_c"), ("step", 12, "calcination_temp_c"), ("composition", 12, "ni")])
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
def test_bad_records_exit_2_naming_row_and_column_and_write_nothing(demo_csv, tmp_path, isolated_data_dir, kind, row, column, command):
    path = _broken(demo_csv, tmp_path, kind)
    before = sorted(p.name for p in isolated_data_dir.rglob("*"))
    plots = tmp_path / "plots-should-not-exist"
    extra = ["--plots", str(plots)] if command == ("dataset", "profile") else []
    good = tmp_path / "good.csv"
    good.write_bytes(demo_csv.read_bytes())
    args = [c.replace("{good}", str(good)) for c in command]
    result = runner.invoke(app, [*args, str(path), *extra])
    assert result.exit_code == 2
    message = result.stderr if hasattr(result, "stderr") else result.output
    assert f"column '{column}'" in message
    if row is not None:
        assert f"row {row} (line {row + 1})" in message
    assert "Traceback" not in result.output
    assert not plots.exists()
    assert sorted(p.name for p in isolated_data_dir.rglob("*")) == before
    assert good.read_bytes() == demo_csv.read_bytes()


def test_missing_file_is_a_one_line_error(tmp_path):
    result = runner.invoke(app, ["dataset", "profile", str(tmp_path / "nope.csv")])
    assert result.exit_code == 2
    assert "no such file" in result.output


def test_import_export_through_the_store(demo_csv, tmp_path):
    assert _run("dataset", "import", str(demo_csv), "--name", "lab").exit_code == 0
    listed = json.loads(_run("dataset", "list", "--json").output)
    assert listed["records"] == [{"name": "lab", "runs": 652}]
    out = tmp_path / "back.csv"
    assert _run("dataset", "export", "lab", "--out", str(out)).exit_code == 0
    assert out.read_text() == demo_csv.read_text()
    again = runner.invoke(app, ["dataset", "import", str(demo_csv), "--name", "lab"])
    assert again.exit_code == 2 and "nothing stored" in again.output


def test_space_show_and_infer(tmp_path):
    shown = json.loads(_run("space", "show", "--json").output)
    assert shown["name"] == "ncm" and len(shown["parameters"]) == 18
    csv = tmp_path / "x.csv"
    csv.write_text("a,b,y\n1,u,3\n2,v,4\n")
    out = tmp_path / "x.yaml"
    assert _run("space", "infer", str(csv), "--target", "y", "--out", str(out)).exit_code == 0
    assert "name: a" in out.read_text()


def test_main_job_runs(tmp_path):
    result = _run("demo", "--out-dir", str(tmp_path / "demo"), "--json")
    assert result.exit_code == 0
    payload = json.loads(result.output)
    assert payload["profile"]["rows"] == 652
    proposals = payload["proposals"]["proposals"]
    assert len(proposals) == 10 and {p["params"]["ni"] for p in proposals} == {0.94}
    assert any(f.endswith("results_template.csv") for f in payload["plan_files"])


def test_shipped_demo_copy_matches_the_generator(demo_csv):
    shipped = Path(__file__).resolve().parents[1] / "knowledge" / "demo" / "ncm_demo.csv"
    assert shipped.read_text() == demo_csv.read_text()
