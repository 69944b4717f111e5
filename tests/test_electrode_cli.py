"""`matassist electrode train` and `predict`: the round trip through files, the printed tables, bad input.

The product's default model is replaced by a small one (the `fast_electrodes` fixture) so these
run in seconds; `train` runs on a 120-row table.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.app import app
from tools.electrodes.table import OUTPUT_COLUMNS

pytestmark = pytest.mark.usefixtures("fast_electrodes")


def run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def _csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _row(ion: str, charged: str, discharged: str, **extra: str) -> dict[str, str]:
    return {"sample": extra.pop("sample", "s"), "Working Ion": ion, "Formula Charge": charged, "Formula Discharge": discharged, **extra}


# -- predict: one electrode --------------------------------------------------------------------------
def test_predict_one_electrode_as_text_and_json(tmp_path):
    text = run("electrode", "predict", "--ion", "Li", "--charged", "Mn2O4", "--discharged", "LiMn2O4")
    assert text.exit_code == 0, text.output
    assert "Mn2O4 -> LiMn2O4 (Li)" in text.stdout and "148.2" in text.stdout  # the capacity is exact whatever the model
    assert "CC BY 4.0" in text.stdout and "reused" in text.stdout
    plot = tmp_path / "energy.png"
    done = run("electrode", "predict", "--ion", "Li", "--discharged", "LiCoO2", "--json", "--plot", str(plot))
    assert done.exit_code == 0, done.output
    payload = json.loads(done.stdout)
    (p,) = payload["predictions"]
    assert p["charged_formula"] == "CoO2"  # the host without the ion
    assert p["gravimetric_capacity_mah_g"] == pytest.approx(273.84, abs=0.01) and p["gravimetric_capacity_mah_g_std"] == 0
    assert p["nearest_known"]["exact_match"] and p["nearest_known"]["battery_id"] == "mp-22526_Li"
    assert payload["model"]["reused"] and payload["files"]["plot"] == str(plot)
    assert plot.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--ion", "Li", "--charged", "Mn2O4", "--discharged", "LiXx2O4"), "--discharged: discharged formula 'LiXx2O4' contains an unknown element symbol 'Xx'"),
        (("--ion", "Li", "--charged", "CoO2", "--discharged", "NaCoO2"), "--discharged: working ion Li is missing from the discharged formula"),
        (("--ion", "Li", "--charged", "LiCoO2", "--discharged", "Li0.5CoO2"), "--charged and --discharged: the discharged formula 'Li0.5CoO2' holds less Li"),
        (("--ion", "Li", "--charged", "CoO2", "--discharged", "LiNiO2"), "--charged and --discharged: charged and discharged hosts differ"),
        (("--ion", "Xe", "--charged", "CoO2", "--discharged", "XeCoO2"), "--ion: unknown working ion 'Xe'"),
        (("--ion", "Li", "--charged", "Li-1CoO2", "--discharged", "LiCoO2"), "--charged: charged formula 'Li-1CoO2' contains a negative amount"),
        (("--ion", "Li"), "give --ion and --discharged"),
        (("--ion", "Li", "--discharged", "LiCoO2", "--rank-by", "price"), "--rank-by 'price'"),
    ],
)
def test_bad_single_electrodes_exit_2_with_one_line(args, words, tmp_path):
    plot = tmp_path / "p.png"
    done = run("electrode", "predict", *args, "--plot", str(plot))
    assert done.exit_code == 2
    assert words in done.stderr and len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.output
    assert not plot.exists()


# -- predict: a table ----------------------------------------------------------------------------
def test_table_round_trip_keeps_extra_columns_and_adds_predictions(tmp_path):
    rows = [_row("Li", "CoO2", "LiCoO2", sample="A", note="=SUM(A1)"), _row("Na", "FePO4", "NaFePO4", sample="B", note="-1.5"),
            _row("Mg", "Mo6S8", "Mg2Mo6S8", sample="C", note="chevrel")]
    source, target, plot = _csv(tmp_path / "in.csv", rows), tmp_path / "out.csv", tmp_path / "rank.png"
    done = run("electrode", "predict", "--data", str(source), "--out", str(target), "--rank-by", "gravimetric_energy_wh_kg", "--plot", str(plot))
    assert done.exit_code == 0, done.output
    assert "ranked by specific energy" in done.stdout and str(target) in done.stdout
    text = target.read_text(encoding="utf-8")
    table = list(csv.DictReader(io.StringIO(text)))
    assert list(table[0]) == [*rows[0], *OUTPUT_COLUMNS]
    assert [r["sample"] for r in table] == ["A", "B", "C"]  # the table keeps its order; the ranking is for the printout
    assert table[0]["note"] == "'=SUM(A1)"  # a spreadsheet formula is escaped
    assert float(table[0]["gravimetric_capacity_mah_g"]) == pytest.approx(273.84, abs=0.01)
    assert float(table[2]["gravimetric_capacity_mah_g"]) == pytest.approx(121.72, abs=0.01)  # divalent Mg
    assert table[0]["nearest_known"].startswith("mp-22526_Li CoO2 -> LiCoO2") and table[0]["in_domain"] in {"True", "False"}
    assert all(float(r["gravimetric_capacity_mah_g_std"]) == 0 for r in table)
    assert float(table[0]["gravimetric_energy_wh_kg"]) == pytest.approx(
        float(table[0]["average_voltage_v"]) * float(table[0]["gravimetric_capacity_mah_g"]), rel=1e-3)
    assert plot.read_bytes()[:4] == b"\x89PNG"
    again = run("electrode", "predict", "--data", str(source), "--out", str(tmp_path / "again.csv"), "--json")
    assert again.exit_code == 0, again.output
    assert [p["discharged_formula"] for p in json.loads(again.stdout)["predictions"]] == ["LiCoO2", "NaFePO4", "Mg2Mo6S8"]


@pytest.mark.parametrize(
    ("bad", "column", "words"),
    [
        (_row("Li", "Mn2O4", "LiXx2O4"), "'Formula Discharge'", "unknown element symbol 'Xx'"),
        (_row("Li", "CoO2", "NaCoO2"), "'Formula Discharge'", "working ion Li is missing from the discharged formula"),
        (_row("Li", "LiCoO2", "Li0.5CoO2"), "'Formula Charge' and 'Formula Discharge'", "holds less Li per host"),
        (_row("Li", "CoO2", "LiNiO2"), "'Formula Charge' and 'Formula Discharge'", "hosts differ"),
        (_row("Xe", "CoO2", "XeCoO2"), "'Working Ion'", "unknown working ion 'Xe'"),
        (_row("Li", "Li-1CoO2", "LiCoO2"), "'Formula Charge'", "negative amount"),
        (_row("Li", "", "LiCoO2"), "'Formula Charge'", "charged formula is empty"),
    ],
)
def test_a_bad_row_names_row_and_column_and_nothing_is_written(tmp_path, bad, column, words):
    source = _csv(tmp_path / "in.csv", [_row("Li", "CoO2", "LiCoO2"), bad])
    target, plot = tmp_path / "out.csv", tmp_path / "p.png"
    done = run("electrode", "predict", "--data", str(source), "--out", str(target), "--plot", str(plot))
    assert done.exit_code == 2
    message = done.stderr.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in done.output
    assert f"row 2 (line 3), column{'s' if ' and ' in column else ''} {column}: " in message and words in message
    assert not target.exists() and not plot.exists()


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("Working Ion,Formula Charge\nLi,CoO2\n", "column 'Formula Discharge' is missing"),
        ("Working Ion,Formula Charge,Formula Discharge,average_voltage_v\nLi,CoO2,LiCoO2,3\n", "column 'average_voltage_v' is already in the table"),
        ("Working Ion,Formula Charge,Formula Discharge\n", "the table has no rows"),
        ("", "the file is empty"),
    ],
)
def test_a_bad_table_is_refused(tmp_path, content, words):
    source = tmp_path / "in.csv"
    source.write_text(content, encoding="utf-8")
    done = run("electrode", "predict", "--data", str(source), "--out", str(tmp_path / "out.csv"))
    assert done.exit_code == 2 and words in done.stderr, done.output
    assert not (tmp_path / "out.csv").exists()


def test_a_table_must_be_a_regular_file(tmp_path):
    done = run("electrode", "predict", "--data", str(tmp_path), "--out", str(tmp_path / "out.csv"))
    assert done.exit_code == 2 and "is a folder" in done.stderr
    missing_folder = run("electrode", "predict", "--ion", "Li", "--discharged", "LiCoO2", "--plot", str(tmp_path / "no" / "p.png"))
    assert missing_folder.exit_code == 2 and "does not exist" in missing_folder.stderr


# -- train -----------------------------------------------------------------------------------------
def test_train_prints_the_cv_table_and_reuses_it(tmp_path, electrode_subsample, isolated_data_dir):
    small = tmp_path / "small.csv"
    electrode_subsample.frame.iloc[:120].to_csv(small, index=False)
    first = run("electrode", "train", "--data", str(small), "--folds", "3")
    assert first.exit_code == 0, first.output
    for words in ("3-fold grouped CV", "mean (control)", "RF @ Magpie-style", "LightGBM @ Magpie-style", "ours", "CrabNet",
                  "not run", "per working ion", "Python 3.11", "published"):
        assert words in first.stdout, words
    assert "fold 1/3: " in first.stderr  # progress per model and fold
    done = run("electrode", "train", "--data", str(small), "--folds", "3", "--json")
    assert done.exit_code == 0, done.output
    payload = json.loads(done.stdout)
    assert payload["reused"] == {"model": True, "cv": True}
    rows = payload["cv"]["rows"]
    assert {r["model"] for r in rows} == {"mean", "rf", "lgbm", "ours"}
    ours_grav = [r for r in rows if r["model"] == "ours" and r["target"] == "gravimetric_capacity_mah_g"]
    assert all(r["mae"] < 1e-9 for r in ours_grav)
    folder = Path(payload["model"]["folder"])
    assert folder.parent == isolated_data_dir / "models" / "electrodes"
    assert Path(payload["parity_plot"]) == folder / "parity.png" and (folder / "parity.png").read_bytes()[:4] == b"\x89PNG"


def test_train_refuses_a_bad_table(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("Working Ion,Formula Charge,Formula Discharge,Average Voltage,Gravimetric Capacity,Volumetric Capacity\n"
                   "Li,CoO2,LiCoO2,3.8,273.8,1348\nLi,Mn2O4,LiXx2O4,4.0,148,600\n", encoding="utf-8")
    done = run("electrode", "train", "--data", str(bad))
    assert done.exit_code == 2
    assert "row 2 (line 3), column 'Formula Discharge'" in done.stderr and "'Xx'" in done.stderr
