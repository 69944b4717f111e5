"""Capacity model: encoder, ensemble, compiled inference, persistence, failure classifier, `matassist train`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.app import app
from tools.domain.design_space import DesignSpace, design_space_from_dict
from tools.domain.errors import ModelError
from tools.domain.record import ExperimentRecord, record_from_rows, write_record
from tools.modelling.capacity_model import CapacityModel, fit_capacity_model, load_or_fit
from tools.modelling.comparison import compare_models, plot_parity
from tools.modelling.encoder import FeatureEncoder
from tools.modelling.tree_compile import compile_boosters, predict_members

SMALL = {"n_estimators": 40, "learning_rate": 0.15, "max_depth": 4, "num_leaves": 15, "min_child_samples": 5}


@pytest.fixture(scope="module")
def small_model(demo_record: ExperimentRecord) -> CapacityModel:
    return fit_capacity_model(demo_record, seed=0, hyperparameters=SMALL, n_members=3)


def toy_space() -> DesignSpace:
    return design_space_from_dict(
        {
            "name": "toy",
            "target": {"name": "yield_pct", "unit": "%"},
            "parameters": [
                {"name": "x", "kind": "number", "low": 0.0, "high": 1.0, "step": 0.01},
                {"name": "kind", "kind": "category", "values": ["u", "v"]},
                {"name": "y", "kind": "number", "low": 0.0, "high": 1.0, "step": 0.01},
            ],
        }
    )


def toy_record(n: int = 160, seed: int = 0, fail_above: float | None = 0.7) -> ExperimentRecord:
    """Yield rises with x and y; with `fail_above`, every run with x above it failed (no yield)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        x, y = round(float(rng.uniform(0, 1)), 2), round(float(rng.uniform(0, 1)), 2)
        kind = "u" if i % 2 else "v"
        failed = fail_above is not None and x > fail_above
        value = 50 + 30 * x + 10 * y + (5 if kind == "u" else 0) + float(rng.normal(0, 0.5))
        rows.append({"x": x, "kind": kind, "y": y, "yield_pct": float("nan") if failed else round(value, 2),
                     "status": "failed" if failed else "ok", "source": "measured"})
    return record_from_rows(rows, toy_space())


# -- encoder ---------------------------------------------------------------------------------
def test_encoder_numbers_and_one_hot_in_declared_order(ncm_space: DesignSpace) -> None:
    enc = FeatureEncoder(ncm_space)
    assert enc.feature_names[:4] == ["ni", "co", "mn", "li_ratio"]
    assert enc.feature_names[4:6] == ["li_source=LiOH", "li_source=Li2CO3"]
    assert [n for n in enc.feature_names if n.startswith("coating=")] == [
        "coating=none", "coating=B", "coating=W", "coating=Co", "coating=Al"]
    toy = FeatureEncoder(toy_space())
    frame = pd.DataFrame({"y": [0.5, 0.25], "kind": ["v", "u"], "x": [0.1, 1.0]})  # column order does not matter
    X = toy.encode(frame)
    assert X.dtype == np.float64
    assert toy.feature_names == ["x", "kind=u", "kind=v", "y"]
    np.testing.assert_array_equal(X, [[0.1, 0, 1, 0.5], [1.0, 1, 0, 0.25]])


def test_encoder_refuses_unknown_values_and_missing_columns() -> None:
    enc = FeatureEncoder(toy_space())
    with pytest.raises(ModelError, match="unknown value"):
        enc.encode(pd.DataFrame({"x": [0.1], "kind": ["w"], "y": [0.2]}))
    with pytest.raises(ModelError, match="missing column"):
        enc.encode(pd.DataFrame({"x": [0.1], "kind": ["u"]}))
    with pytest.raises(ModelError, match="non-finite"):
        enc.encode(pd.DataFrame({"x": [float("nan")], "kind": ["u"], "y": [0.2]}))


# -- ensemble and compiled inference ------------------------------------------------------------
def test_ensemble_mean_std_shapes(small_model: CapacityModel, demo_record: ExperimentRecord) -> None:
    frame = demo_record.frame.iloc[:50]
    mean, std = small_model.predict(frame)
    assert mean.shape == std.shape == (50,)
    assert np.all(std >= 0) and np.any(std > 0)
    assert 150 < mean.mean() < 230
    meta = small_model.metadata
    assert meta.n_train == len(demo_record.ok_runs) == 571
    assert meta.source_counts == {"synthetic": 571}
    assert meta.has_failure_model and small_model.has_failure_model
    assert meta.feature_names == small_model.encoder.feature_names
    assert meta.metrics["cv_rmse"] is not None and meta.metrics["cv_rmse"] > 0


def _random_inputs(model: CapacityModel, frame: pd.DataFrame, n: int, seed: int) -> np.ndarray:
    """Rows near and far outside the record, plus exact copies (thresholds sit between data values)."""
    X = model.encoder.encode(frame)
    rng = np.random.default_rng(seed)
    picked = X[rng.integers(0, len(X), n)]
    jitter = picked + rng.normal(0, 1, picked.shape) * X.std(axis=0)
    return np.vstack([X[:50], jitter, rng.uniform(X.min(0) - 1, X.max(0) + 1, picked.shape)])


def test_compiled_inference_equals_lightgbm(small_model: CapacityModel, demo_record: ExperimentRecord) -> None:
    X = _random_inputs(small_model, demo_record.frame, 400, seed=1)
    ours = small_model.predict_members_encoded(X)
    reference = np.column_stack([b.predict(X) for b in small_model.boosters])
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-9)
    np.testing.assert_allclose(predict_members(small_model.forest, X, parallel=True), reference, rtol=0, atol=1e-9)
    mean, std = small_model.predict_encoded(X)
    np.testing.assert_allclose(mean, reference.mean(axis=1), atol=1e-9)
    np.testing.assert_allclose(std, reference.std(axis=1), atol=1e-9)
    booster = small_model.failure_booster
    assert booster is not None
    np.testing.assert_allclose(small_model.failure_probability_encoded(X), booster.predict(X), rtol=0, atol=1e-9)
    # NaN is read as 0 by LightGBM when training saw no missing values; so here
    X_nan = X[:20].copy()
    X_nan[:, ::3] = np.nan
    np.testing.assert_allclose(small_model.predict_members_encoded(X_nan),
                               np.column_stack([b.predict(X_nan) for b in small_model.boosters]), atol=1e-9)


@pytest.mark.parametrize("zero_as_missing", [False, True])
def test_compiled_missing_value_rules_equal_lightgbm(zero_as_missing: bool) -> None:
    """Trees trained with NaNs (missing type NaN) or zero_as_missing (type Zero) use the exact kernel."""
    import lightgbm as lgb

    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 4))
    X[rng.random(X.shape) < 0.2] = np.nan
    X[rng.random(X.shape) < 0.2] = 0.0
    y = np.nan_to_num(X[:, 0]) * 3 + np.isnan(X[:, 1]) * 2 + (X[:, 2] == 0) * 1.5 + rng.normal(0, 0.1, 300)
    reg = lgb.LGBMRegressor(n_estimators=30, num_leaves=8, min_child_samples=5, zero_as_missing=zero_as_missing, verbose=-1)
    reg.fit(X, y)
    forest = compile_boosters([reg.booster_])
    assert not forest.simple_missing
    X_new = rng.normal(size=(500, 4))
    X_new[rng.random(X_new.shape) < 0.25] = np.nan
    X_new[rng.random(X_new.shape) < 0.25] = 0.0
    np.testing.assert_allclose(predict_members(forest, X_new)[:, 0], reg.booster_.predict(X_new), rtol=0, atol=1e-9)


def test_predict_encoded_rejects_wrong_width(small_model: CapacityModel) -> None:
    with pytest.raises(ModelError, match="shape"):
        small_model.predict_encoded(np.zeros((3, 5)))


# -- persistence -------------------------------------------------------------------------------
def test_save_load_round_trip(small_model: CapacityModel, demo_record: ExperimentRecord, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    small_model.save(folder)
    assert {"model.json", "design_space.yaml", "metadata.json"} <= {p.name for p in folder.iterdir()}
    assert json.loads((folder / "metadata.json").read_text())["data_hash"] == demo_record.data_hash()
    loaded = CapacityModel.load(folder)
    assert loaded.metadata == small_model.metadata
    assert loaded.space == small_model.space
    frame = demo_record.frame.iloc[:80]
    for a, b in zip(loaded.predict(frame), small_model.predict(frame), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.failure_probability(frame), small_model.failure_probability(frame))
    # the reloaded boosters still agree with the compiled trees
    X = loaded.encoder.encode(frame)
    np.testing.assert_allclose(loaded.predict_members_encoded(X), np.column_stack([b.predict(X) for b in loaded.boosters]), atol=1e-9)


def test_load_refuses_missing_or_corrupt(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no saved capacity model"):
        CapacityModel.load(tmp_path)
    (tmp_path / "model.json").write_text("{not json")
    with pytest.raises(ModelError, match="not a readable"):
        CapacityModel.load(tmp_path)


def test_load_or_fit_reuses_until_a_row_changes(tmp_path: Path) -> None:
    record = toy_record()
    folder = tmp_path / "m"
    first, reused = load_or_fit(record, folder, seed=0)
    assert not reused
    again, reused = load_or_fit(record, folder, seed=0)
    assert reused and again.metadata.trained_at == first.metadata.trained_at
    frame = record.frame.copy()
    i = int(np.flatnonzero(frame["status"] == "ok")[0])
    frame.loc[i, "yield_pct"] = frame.loc[i, "yield_pct"] + 1.0
    changed = ExperimentRecord(frame=frame, space=record.space)
    refit, reused = load_or_fit(changed, folder, seed=0)
    assert not reused and refit.metadata.data_hash == changed.data_hash() != record.data_hash()
    assert CapacityModel.load(folder).metadata.data_hash == changed.data_hash()


# -- failure classifier -----------------------------------------------------------------------
def test_failure_probability_is_higher_where_runs_failed() -> None:
    record = toy_record(n=200, seed=1, fail_above=0.7)
    model = fit_capacity_model(record, seed=0, hyperparameters=SMALL, n_members=3)
    assert model.metadata.has_failure_model
    grid = pd.DataFrame({"x": np.linspace(0, 1, 101), "kind": "u", "y": 0.5})
    p = model.failure_probability(grid)
    assert p[grid["x"] > 0.8].mean() > 0.7
    assert p[grid["x"] < 0.6].mean() < 0.2
    # failed runs are not regression targets
    assert model.metadata.n_train == int((record.frame["status"] == "ok").sum())


def test_too_few_failures_gives_an_explicit_flag_and_zeros() -> None:
    record = toy_record(n=80, fail_above=None)
    model = fit_capacity_model(record, seed=0, hyperparameters=SMALL, n_members=2)
    assert not model.has_failure_model and not model.metadata.has_failure_model
    assert "no failure model" in model.metadata.failure_model_note
    np.testing.assert_array_equal(model.failure_probability(record.frame), np.zeros(len(record)))


def test_training_refuses_records_without_targets() -> None:
    record = toy_record(n=40, fail_above=-1.0)  # every run failed
    with pytest.raises(ModelError, match="failed runs are not regression targets"):
        fit_capacity_model(record)
    with pytest.raises(ModelError, match="failed runs are not regression targets"):
        compare_models(record, n_iter=1)


# -- comparison ----------------------------------------------------------------------------------
def test_compare_models_table_and_parity_plot(tmp_path: Path) -> None:
    record = toy_record(n=120, fail_above=0.9)
    report = compare_models(record, seed=0, n_iter=1)
    assert [r.key for r in report.rows] == ["dt", "rf", "gbm_lightgbm", "gbm_sklearn", "nn"]
    assert report.n_train + report.n_test == len(record.ok_runs)
    assert report.chosen == "gbm_lightgbm" and set(report.chosen_params) >= {"n_estimators", "learning_rate"}
    for row in report.rows:
        assert row.rmse_test > 0 and row.r2_test <= 1
    dumped = report.model_dump(mode="json")
    assert "parity" not in dumped and dumped["reference"]["GBM"] == [1.219, 1.65, 0.957, 0.916]
    png = plot_parity(report, tmp_path / "parity.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- CLI -------------------------------------------------------------------------------------------
runner = CliRunner()


@pytest.mark.slow
def test_cli_train_demo_json_then_reused(demo_csv: Path, isolated_data_dir: Path) -> None:
    result = runner.invoke(app, ["train", "--data", str(demo_csv), "--json", "--n-iter", "1"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["chosen"] == "gbm_lightgbm"
    assert [r["key"] for r in payload["comparison"]["rows"]] == ["dt", "rf", "gbm_lightgbm", "gbm_sklearn", "nn"]
    assert payload["metadata"]["source_counts"] == {"synthetic": 571}
    assert "571 synthetic rows" in payload["note"]
    model_dir = Path(payload["model_dir"])
    assert model_dir.parent == isolated_data_dir / "models"
    assert (model_dir / "model.json").exists() and Path(payload["parity_plot"]).exists()
    assert payload["reused"] == {"comparison": False, "model": False}
    again = runner.invoke(app, ["train", "--data", str(demo_csv), "--n-iter", "1"])
    assert again.exit_code == 0, again.output
    assert "reused" in again.stdout and "trained on 571 synthetic rows (virtual-lab demo record)" in again.stdout


def test_cli_train_non_ncm_csv_with_target(tmp_path: Path) -> None:
    csv = tmp_path / "toy.csv"
    write_record(toy_record(n=90), csv)
    frame = pd.read_csv(csv).drop(columns=["experiment_id", "shot", "predicted_mah_g"])
    frame.to_csv(csv, index=False)
    out_dir = tmp_path / "models"
    result = runner.invoke(app, ["train", "--data", str(csv), "--target", "yield_pct", "--n-iter", "1",
                                 "--out", str(out_dir), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["model_dir"] == str(out_dir)
    assert payload["metadata"]["target"] == "yield_pct"
    assert payload["metadata"]["source_counts"] == {"measured": int((frame["status"] == "ok").sum())}
    model = CapacityModel.load(out_dir)
    assert model.space.target.name == "yield_pct"
    human = runner.invoke(app, ["train", "--data", str(csv), "--target", "yield_pct", "--n-iter", "1", "--out", str(out_dir)])
    assert human.exit_code == 0 and "reused" in human.stdout and "R2 test" in human.stdout


def test_cli_train_bad_input_exits_2(tmp_path: Path, ncm_space: DesignSpace) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text(",".join([*ncm_space.names, "capacity_mah_g"]) + "\n")
    result = runner.invoke(app, ["train", "--data", str(empty)])
    assert result.exit_code == 2
    assert "no rows" in result.stderr and "Traceback" not in result.output
    failed = tmp_path / "failed.csv"
    write_record(toy_record(n=30, fail_above=-1.0), failed)
    result = runner.invoke(app, ["train", "--data", str(failed), "--target", "yield_pct"])
    assert result.exit_code == 2
    assert "failed runs are not regression targets" in result.stderr
    missing = runner.invoke(app, ["train", "--data", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 2 and "no such file" in missing.stderr
