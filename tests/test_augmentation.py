"""Augmentation: design-space safety, provenance, clear refusals, quality report, CLI and assistant tool."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tools.augmentation.augment import augment_record, check_augmentable, write_augmentation
from tools.augmentation.columns import pin_rules, plan_columns, repair_row
from tools.augmentation.models import AugmentationInput
from tools.domain.design_space import DesignSpace, design_space_from_dict
from tools.domain.errors import AugmentationError
from tools.domain.record import ExperimentRecord, read_record, record_from_rows, write_record

runner = CliRunner()


# -- fast: planning, repair, refusals (no SDV) ------------------------------------------------------
def test_plan_holds_constants_derives_mn_and_models_the_rest(demo_record: ExperimentRecord) -> None:
    plan = plan_columns(demo_record)
    # the demo record never varies these: they are held, not modelled
    assert plan.held == {"li_source": "LiOH", "calcination_time_h": 10.0, "atmosphere": "O2", "dopant_ti": 0.0, "dopant_mg": 0.0}
    assert set(plan.derived) == {"mn"}
    assert "coating" in plan.modelled_categories
    assert {"ni", "co"} <= set(plan.modelled_levels)
    assert "calcination_temp_c" in plan.modelled_numbers
    modelled = {*plan.modelled_numbers, *plan.modelled_levels, *plan.modelled_categories}
    assert modelled | set(plan.held) | set(plan.derived) == set(demo_record.space.names)


def test_repair_applies_conditionals_snaps_and_derives(demo_record: ExperimentRecord) -> None:
    space, plan = demo_record.space, plan_columns(demo_record)
    raw = {n: demo_record.ok_runs.iloc[0][n] for n in space.names} | {"capacity_mah_g": 201.3}
    raw.update({"ni": "0.92", "co": "0.04", "calcination_temp_c": 761.7, "coating": "none", "coating_temp_c": 655.0})
    row = repair_row(raw, space, plan)
    assert row["mn"] == pytest.approx(0.04)  # derived: 1 - ni - co
    assert row["calcination_temp_c"] == 760.0  # snapped to the 5 degC step
    assert (row["coating_amount"], row["coating_temp_c"], row["coating_time_h"]) == (0, 0, 0)
    assert row["li_source"] == "LiOH"  # held
    assert space.row_problems(row) == []
    # out of bounds is never clipped into range: the row keeps its bad value and is rejected
    raw.update({"coating": "B", "coating_temp_c": 120.0, "coating_amount": "0.003", "coating_time_h": "5"})
    bad = repair_row(raw, space, plan)
    assert bad["coating_temp_c"] == 120.0
    assert any(col == "coating_temp_c" for col, _ in space.row_problems(bad))


def test_pin_rules_come_from_the_record(demo_record: ExperimentRecord) -> None:
    rules = pin_rules(demo_record)
    assert ({"coating": "none"}, "coating_amount", 0.0) in rules


def test_a_handful_of_runs_is_refused_clearly(demo_record: ExperimentRecord) -> None:
    small = ExperimentRecord(frame=demo_record.ok_runs.head(12).reset_index(drop=True), space=demo_record.space)
    with pytest.raises(AugmentationError, match=r"too few runs to learn from: 12 runs with status ok"):
        check_augmentable(small)
    with pytest.raises(AugmentationError, match="too few runs"):
        augment_record(small, AugmentationInput(method="gaussian_copula", rows=10))


def test_a_record_where_nothing_varies_is_refused(demo_record: ExperimentRecord) -> None:
    row = demo_record.ok_runs.iloc[[0]]
    frame = pd.concat([row] * 30, ignore_index=True)
    frame["capacity_mah_g"] = np.linspace(190, 210, 30)
    frame["experiment_id"] = [f"r{i}" for i in range(30)]
    with pytest.raises(AugmentationError, match="nothing to model"):
        check_augmentable(ExperimentRecord(frame=frame, space=demo_record.space))


def test_a_constant_target_is_refused(demo_record: ExperimentRecord) -> None:
    frame = demo_record.ok_runs.head(40).copy()
    frame["capacity_mah_g"] = 200.0
    with pytest.raises(AugmentationError, match="same capacity_mah_g"):
        check_augmentable(ExperimentRecord(frame=frame.reset_index(drop=True), space=demo_record.space))


def test_input_model_refuses_bad_requests() -> None:
    with pytest.raises(ValueError):
        AugmentationInput(method="gan", rows=10)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        AugmentationInput(method="tvae", rows=0)


# -- each method on the demo record ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def copula_result(demo_record: ExperimentRecord):
    return augment_record(demo_record, AugmentationInput(method="gaussian_copula", rows=120, seed=3))


def _assert_valid_and_labelled(result, record: ExperimentRecord, method: str, tmp_path: Path) -> None:
    label = method.replace("_", "-")
    syn = result.record.frame
    assert len(syn) == result.report.rows_returned > 0
    assert set(syn["source"]) == {"synthetic"}
    assert set(syn["shot"]) == {f"synthetic-{label}"}
    assert set(syn["status"]) == {"ok"}
    assert syn["experiment_id"].iloc[0] == f"syn-{label}-0001"
    assert syn["predicted_mah_g"].isna().all()
    assert not set(syn["experiment_id"]) & set(record.frame["experiment_id"])
    # the written CSV passes the record loader's design-space validation
    csv_path, report_path = write_augmentation(result, tmp_path / f"syn-{method}.csv")
    back = read_record(csv_path, space=record.space)
    assert len(back) == len(syn)
    for row in back.frame[record.space.names].to_dict("records"):
        assert record.space.row_problems(row) == []
        assert abs(row["ni"] + row["co"] + row["mn"] - 1) <= 0.005 + 1e-9
        if row["coating"] == "none":
            assert (row["coating_amount"], row["coating_temp_c"], row["coating_time_h"]) == (0, 0, 0)
        else:
            assert row["coating_amount"] > 0  # no coated run of the record has amount 0
    # no synthetic row repeats the conditions of a real run
    real = {tuple(r) for r in record.frame[record.space.names].astype(str).itertuples(index=False)}
    assert not any(tuple(r) in real for r in back.frame[record.space.names].astype(str).itertuples(index=False))
    saved = json.loads(report_path.read_text())
    assert saved["method"] == method and saved["synthetic_file"] == str(csv_path)


def test_gaussian_copula_rows_are_valid_new_and_labelled(copula_result, demo_record, tmp_path: Path) -> None:
    _assert_valid_and_labelled(copula_result, demo_record, "gaussian_copula", tmp_path)
    report = copula_result.report
    assert report.rows_returned == 120
    assert report.input_all_synthetic is True
    assert any("itself simulated" in n for n in report.notes)
    assert report.failed_runs_excluded == len(demo_record.failed_runs)
    assert 0.0 <= report.rejection_share < 0.6
    assert report.column_shapes is not None and 0.5 < report.column_shapes <= 1.0
    assert report.column_pair_trends is not None and 0.0 < report.column_pair_trends <= 1.0
    assert report.nn_distance_min is not None and report.nn_distance_min > 0
    assert report.fit_seconds < 60


def test_utility_check_reports_counts_of_each_training_set(copula_result) -> None:
    util = copula_result.report.utility
    assert util is not None
    arms = {a.training: a for a in util.arms}
    assert set(arms) == {"real", "real+synthetic", "synthetic"}
    assert arms["real"].origin_counts == {"record": util.n_train_real, "augmentation": 0}
    assert arms["real+synthetic"].origin_counts == {"record": util.n_train_real, "augmentation": util.synthetic_rows}
    assert arms["synthetic"].origin_counts["record"] == 0
    # the capacity model's own metadata counts every row it trained on
    assert sum(arms["real+synthetic"].model_source_counts.values()) == util.n_train_real + util.synthetic_rows
    for arm in util.arms:
        assert math.isfinite(arm.rmse) and arm.rmse > 0


def test_same_seed_same_rows(copula_result, demo_record: ExperimentRecord) -> None:
    again = augment_record(demo_record, AugmentationInput(method="gaussian_copula", rows=120, seed=3, check_utility=False))
    cols = [*demo_record.space.names, "capacity_mah_g"]
    pd.testing.assert_frame_equal(again.record.frame[cols], copula_result.record.frame[cols])


@pytest.mark.slow
@pytest.mark.parametrize("method", ["ctgan", "tvae"])
def test_neural_methods_with_few_epochs(method: str, demo_record: ExperimentRecord, tmp_path: Path) -> None:
    seen: list[tuple[str, int | None, int | None]] = []
    result = augment_record(
        demo_record,
        AugmentationInput(method=method, rows=40, epochs=3, seed=1, check_utility=False),
        progress=lambda phase, done, total: seen.append((phase, done, total)),
    )
    _assert_valid_and_labelled(result, demo_record, method, tmp_path)
    assert result.report.epochs == 3 and result.report.utility is None
    assert ("fit", 3, 3) in seen  # epochs reported
    assert {"sample", "check"} <= {p for p, _, _ in seen}


# -- any design space ------------------------------------------------------------------------------------
def _toy_space() -> DesignSpace:
    return design_space_from_dict({
        "name": "toy-sinter",
        "target": {"name": "density_pct", "unit": "%", "low": 0, "high": 100},
        "parameters": [
            {"name": "temp_c", "kind": "number", "low": 900, "high": 1400, "step": 10},
            {"name": "hold_h", "kind": "number", "low": 1, "high": 8, "step": 0.5},
            {"name": "frac_a", "kind": "number", "low": 0, "high": 1, "step": 0.05},
            {"name": "frac_b", "kind": "number", "low": 0, "high": 1, "step": 0.05},
            {"name": "binder", "kind": "category", "values": ["pva", "peg", "none"]},
        ],
        "constraints": [{"name": "fractions", "terms": {"frac_a": 1, "frac_b": 1}, "equals": 1, "tolerance": 1e-6}],
    })


def test_any_design_space(tmp_path: Path) -> None:
    space = _toy_space()
    rng = np.random.default_rng(0)
    rows = []
    for i in range(80):
        temp = float(rng.choice(np.arange(900, 1410, 10)))
        a = float(rng.choice(np.arange(0, 21)) * 0.05)
        rows.append({"temp_c": temp, "hold_h": float(rng.choice(np.arange(2, 17)) * 0.5), "frac_a": round(a, 2),
                     "frac_b": round(1 - a, 2), "binder": str(rng.choice(["pva", "peg", "none"])),
                     "density_pct": round(60 + 0.05 * (temp - 900) + 5 * a + rng.normal(0, 1), 2),
                     "experiment_id": f"toy-{i}"})
    record = record_from_rows(rows, space)
    result = augment_record(record, AugmentationInput(method="gaussian_copula", rows=60, seed=0, check_utility=False))
    assert result.report.columns.derived.keys() == {"frac_b"}
    path = tmp_path / "toy-syn.csv"
    write_augmentation(result, path)
    back = read_record(path, space=space)
    assert len(back) == result.report.rows_returned
    assert np.allclose(back.frame["frac_a"] + back.frame["frac_b"], 1.0)
    assert result.report.input_all_synthetic is False


# -- CLI and assistant tool ---------------------------------------------------------------------------------
def test_cli_writes_csv_and_report_and_leaves_the_record_alone(demo_csv: Path, tmp_path: Path) -> None:
    from cli.app import app

    before = demo_csv.read_bytes()
    out = tmp_path / "aug.csv"
    result = runner.invoke(app, ["augment", "--data", str(demo_csv), "--method", "gaussian_copula", "--rows", "30",
                                 "--out", str(out), "--no-utility", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["files"]["synthetic"] == str(out)
    assert payload["report"]["rows_returned"] == 30
    assert Path(payload["files"]["report"]).exists()
    assert len(read_record(out)) == 30
    assert demo_csv.read_bytes() == before


def test_cli_refuses_to_write_into_the_record(demo_csv: Path) -> None:
    from cli.app import app

    result = runner.invoke(app, ["augment", "--data", str(demo_csv), "--method", "tvae", "--out", str(demo_csv)])
    assert result.exit_code == 2
    assert "never into the record" in result.stderr


def test_cli_handful_of_rows_gets_a_message(demo_record: ExperimentRecord, tmp_path: Path) -> None:
    from cli.app import app

    small = tmp_path / "small.csv"
    write_record(ExperimentRecord(frame=demo_record.frame.head(15).reset_index(drop=True), space=demo_record.space), small)
    result = runner.invoke(app, ["augment", "--data", str(small), "--method", "ctgan", "--out", str(tmp_path / "o.csv")])
    assert result.exit_code == 2
    assert "too few runs to learn from" in result.stderr
    assert "Traceback" not in result.output


def test_cli_unknown_method(demo_csv: Path, tmp_path: Path) -> None:
    from cli.app import app

    result = runner.invoke(app, ["augment", "--data", str(demo_csv), "--method", "gan", "--out", str(tmp_path / "o.csv")])
    assert result.exit_code == 2
    assert "ctgan, tvae, gaussian_copula" in result.stderr


def test_assistant_tool_writes_under_the_data_dir(demo_csv: Path, tmp_path: Path) -> None:
    from assistant.settings import Settings
    from assistant.tools.augment import SPEC
    from assistant.tools.base import ToolContext, run_tool

    spec = SPEC
    data_dir = tmp_path / "data"
    ctx = ToolContext(settings=Settings(data_dir=data_dir), record_path=demo_csv)
    out = run_tool(ctx, spec, {"method": "gaussian_copula", "rows": 25, "seed": 0})
    assert out.ok, out.summary
    assert "column shapes" in out.summary and "held-out real runs" in out.summary
    csv_file = Path(out.files[0])
    assert csv_file.parent == data_dir / "augmented"
    assert len(read_record(csv_file)) == 25
    bad = run_tool(ctx, spec, {"method": "gan"})
    assert not bad.ok
