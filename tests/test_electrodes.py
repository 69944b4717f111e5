"""The electrode capability (tools.electrodes): exact capacity, features, bad inputs, model, cache, CV table, snapshot.

Models here are small (15 boosting rounds) and trained on a few hundred rows; the full model
trains in the slow tier (tests/test_electrodes_slow.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import FAST_ELECTRODE_CONFIG
from tools.domain.errors import ElectrodeError, MatassistError
from tools.electrodes.cv import MODELS, compare_models
from tools.electrodes.elements import ELEMENT_PROPERTIES, STATS
from tools.electrodes.features import (
    feature_names,
    featurize,
    fraction_matrix,
    magpie_stats,
    mean_redox_oxidation_state,
)
from tools.electrodes.model import ModelConfig
from tools.electrodes.parsing import gravimetric_capacity, parse_electrode
from tools.electrodes.schemas import TARGETS, ElectrodeCandidate

FAST = ModelConfig(**FAST_ELECTRODE_CONFIG)


# -- capacity: Faraday's law, not a model ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("charged", "discharged", "ion", "expected", "tol"),
    [
        ("CoO2", "LiCoO2", "Li", 274.0, 0.5),  # the textbook 274 mAh/g
        ("FePO4", "LiFePO4", "Li", 170.0, 0.5),  # the textbook 170 mAh/g
        ("Mo6S8", "Mg2Mo6S8", "Mg", 121.7, 0.1),  # divalent: the Chevrel phase, 4 F per Mg2Mo6S8
        ("V2O5", "Al0.5V2O5", "Al", 3 * 0.5 * 96485.33212331001 / 3.6 / (2 * 50.9415 + 5 * 15.9994 + 0.5 * 26.9815), 0.05),  # trivalent
        ("Li0.5CoO2", "LiCoO2", "Li", 136.9, 0.1),  # half charged
        ("CoO2", "Li(CoO2)2", "Li", 141.95, 0.05),  # one Li per Co2O4
    ],
)
def test_capacity_of_known_electrodes(charged, discharged, ion, expected, tol):
    assert gravimetric_capacity(charged, discharged, ion) == pytest.approx(expected, abs=tol)


def test_capacity_does_not_depend_on_how_the_host_is_written():
    assert gravimetric_capacity("Fe2P2O8", "LiFePO4", "Li") == pytest.approx(gravimetric_capacity("FePO4", "LiFePO4", "Li"), rel=1e-12)


def test_a_divalent_ion_carries_twice_the_charge():
    mg = gravimetric_capacity("FePO4", "Mg0.5FePO4", "Mg")
    mass = 55.845 + 30.973762 + 4 * 15.9994 + 0.5 * 24.305
    assert mg == pytest.approx(2 * 0.5 * 96485.33212331001 / 3.6 / mass, rel=1e-4)


def test_the_whole_table_is_reproduced(electrode_table):
    computed = np.array([e.gravimetric_capacity_mah_g for e in electrode_table.electrodes])
    error = np.abs(computed - electrode_table.gravimetric_mah_g)
    assert len(electrode_table) == 3480
    assert error.max() < 1e-11, electrode_table.battery_ids[int(error.argmax())]


def test_volumetric_over_gravimetric_is_the_discharged_density(electrode_table):
    """Same charged host (elemental Mo), different discharged phases, different ratios: a property of the discharged side."""
    frame = electrode_table.frame
    mo = electrode_table.density_g_cm3[(frame["Formula Charge"] == "Mo").to_numpy()]
    assert len(mo) == 5 and mo.max() - mo.min() > 1.0


# -- featurisation -----------------------------------------------------------------------------------
def test_feature_matrix_shape_and_names():
    X = featurize([parse_electrode("FePO4", "LiFePO4", "Li"), parse_electrode("CoO2", "Mg0.5CoO2", "Mg")])
    names = feature_names()
    assert X.shape == (2, len(names)) == (2, 585)
    assert len(set(names)) == len(names)
    assert np.isfinite(X).all()


def test_magpie_statistics_of_a_toy_formula():
    stats = magpie_stats(fraction_matrix([{"Li": 1.0, "F": 1.0}])).reshape(len(ELEMENT_PROPERTIES), len(STATS))
    x = dict(zip(STATS, stats[ELEMENT_PROPERTIES.index("X")], strict=True))
    assert (x["mean"], x["min"], x["max"], x["range"], x["avgdev"]) == pytest.approx((2.48, 0.98, 3.98, 3.0, 1.5))
    assert x["mode"] == pytest.approx(0.98)  # a tie goes to the smaller value
    assert dict(zip(STATS, stats[ELEMENT_PROPERTIES.index("Z")], strict=True))["mean"] == pytest.approx(6.0)


def test_delta_ion_and_oxidation_features():
    X = featurize([parse_electrode("FePO4", "LiFePO4", "Li")])[0]
    names = feature_names()

    def get(name: str) -> float:
        return float(X[names.index(name)])

    assert get("ion_is_Li") == 1.0 and get("ion_is_Mg") == 0.0
    assert get("delta_X_mean") == pytest.approx(get("discharged_X_mean") - get("charged_X_mean"))
    assert get("ion_fraction_discharged") == pytest.approx(1 / 7)
    assert (get("redox_ox_state_charged"), get("redox_ox_state_discharged")) == pytest.approx((3.0, 2.0))
    assert get("host_frac_O") == pytest.approx(4 / 6)
    assert mean_redox_oxidation_state({"Li": 1, "Co": 1, "O": 2}) == pytest.approx(3.0)
    assert np.isnan(mean_redox_oxidation_state({"Al": 2, "Cu": 1}))  # an alloy has no charge balance


# -- bad inputs -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("charged", "discharged", "ion", "words", "fields"),
    [
        ("Mn2O4", "LiXx2O4", "Li", "unknown element symbol 'Xx'", ("discharged_formula",)),
        ("Mn2O4", "LiMn2O4)", "Li", "cannot be parsed", ("discharged_formula",)),
        ("CoO2", "NaCoO2", "Li", "missing from the discharged formula", ("discharged_formula",)),
        ("LiCoO2", "Li0.5CoO2", "Li", "holds less Li", ("charged_formula", "discharged_formula")),
        ("LiCoO2", "LiCoO2", "Li", "holds no more Li", ("charged_formula", "discharged_formula")),
        ("CoO2", "LiNiO2", "Li", "hosts differ", ("charged_formula", "discharged_formula")),
        ("CoO2", "LiCoO3", "Li", "hosts differ", ("charged_formula", "discharged_formula")),
        ("CoO2", "XeCoO2", "Xe", "unknown working ion 'Xe'", ("working_ion",)),
        ("CoO2", "LiCoO2", "li", "unknown working ion", ("working_ion",)),
        ("Li-1CoO2", "LiCoO2", "Li", "negative amount", ("charged_formula",)),
        ("", "LiCoO2", "Li", "is empty", ("charged_formula",)),
        ("CoO2", "Li$CoO2", "Li", "not allowed", ("discharged_formula",)),
        ("Li", "Li2", "Li", "no host", ("charged_formula",)),
        ("CoO2", "Li2", "Li", "no host", ("discharged_formula",)),
    ],
)
def test_bad_electrodes_are_one_line_errors_naming_the_input(charged, discharged, ion, words, fields):
    with pytest.raises(ElectrodeError) as caught:
        parse_electrode(charged, discharged, ion)
    assert "\n" not in str(caught.value) and words in str(caught.value)
    assert caught.value.fields == fields
    assert isinstance(caught.value, MatassistError)


def test_candidates_refuse_unknown_fields():
    with pytest.raises(ValueError, match="extra"):
        ElectrodeCandidate(working_ion="Li", charged_formula="CoO2", discharged_formula="LiCoO2", voltage=3.0)  # type: ignore[call-arg]


def test_importing_the_package_loads_no_heavy_library():
    code = (
        "import sys, json, importlib, pkgutil\n"
        "import tools.electrodes as pkg\n"
        "for m in pkgutil.iter_modules(pkg.__path__):\n"
        "    importlib.import_module('tools.electrodes.' + m.name)\n"
        "heavy = ['pymatgen', 'lightgbm', 'sklearn', 'pandas', 'numpy', 'scipy', 'matplotlib', 'torch', 'joblib']\n"
        "print(json.dumps([h for h in heavy if h in sys.modules]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[1])
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


# -- model, cache, predictions -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small(electrode_subsample):
    """150 electrodes: enough to train and cross-validate a tiny model in seconds."""
    rng = np.random.default_rng(0)
    return electrode_subsample.subset(np.sort(rng.choice(len(electrode_subsample), 150, replace=False)))


def test_model_is_cached_by_data_and_reloaded_identically(small, tmp_path):
    from tools.electrodes.cache import load_or_train
    from tools.electrodes.predict import predict_candidates

    csv = tmp_path / "small.csv"
    small.frame.to_csv(csv, index=False)
    models = tmp_path / "models"
    model, info = load_or_train(models, csv, FAST)
    again, info_again = load_or_train(models, csv, FAST)
    assert not info.reused and info_again.reused and info.folder == info_again.folder
    assert Path(info.folder).parent == models and Path(info.folder).name == info.data_sha256[:16]
    candidates = [ElectrodeCandidate(working_ion="Li", charged_formula="FePO4", discharged_formula="LiFePO4"),
                  ElectrodeCandidate(working_ion=str(small.frame["Working Ion"][0]), charged_formula=str(small.frame["Formula Charge"][0]),
                                     discharged_formula=str(small.frame["Formula Discharge"][0]))]
    first, second = predict_candidates(model, info, candidates), predict_candidates(again, info_again, candidates)
    for a, b in zip(first.predictions, second.predictions, strict=True):  # distances differ in the 7th decimal with the batch
        assert a.model_dump(exclude={"domain_distance"}) == b.model_dump(exclude={"domain_distance"})
        assert a.domain_distance == pytest.approx(b.domain_distance, abs=1e-6)
    fepo4, known = first.predictions
    assert fepo4.gravimetric_capacity_mah_g == pytest.approx(169.89, abs=0.01) and fepo4.gravimetric_capacity_mah_g_std == 0.0
    assert fepo4.average_voltage_v_std > 0 and fepo4.volumetric_capacity_mah_cm3 > 0
    assert fepo4.gravimetric_energy_wh_kg == pytest.approx(fepo4.average_voltage_v * fepo4.gravimetric_capacity_mah_g)
    assert fepo4.volumetric_capacity_mah_cm3 == pytest.approx(fepo4.gravimetric_capacity_mah_g * fepo4.discharged_density_g_cm3)
    assert known.nearest_known.exact_match and known.in_domain and known.nearest_known.battery_id == small.battery_ids[0]
    small.frame.iloc[:-1].to_csv(csv, index=False)  # the data change: a new model
    _, changed = load_or_train(models, csv, FAST)
    assert not changed.reused and changed.folder != info.folder


def test_bad_candidates_name_the_candidate_and_the_field(small, tmp_path):
    from tools.electrodes.cache import load_or_train
    from tools.electrodes.predict import predict_candidates

    csv = tmp_path / "small.csv"
    small.frame.to_csv(csv, index=False)
    model, info = load_or_train(tmp_path, csv, FAST)
    good = ElectrodeCandidate(working_ion="Li", charged_formula="FePO4", discharged_formula="LiFePO4")
    bad = ElectrodeCandidate(working_ion="Li", charged_formula="Mn2O4", discharged_formula="LiXx2O4")
    with pytest.raises(ElectrodeError, match=r"^candidate 2, discharged_formula: discharged formula 'LiXx2O4' contains an unknown element"):
        predict_candidates(model, info, [good, bad])


def test_ranking_sorts_highest_first(small, tmp_path):
    from tools.electrodes.cache import load_or_train
    from tools.electrodes.predict import predict_candidates

    csv = tmp_path / "small.csv"
    small.frame.to_csv(csv, index=False)
    model, info = load_or_train(tmp_path, csv, FAST)
    candidates = [ElectrodeCandidate(working_ion="Li", charged_formula=c, discharged_formula=d)
                  for c, d in (("FePO4", "LiFePO4"), ("CoO2", "LiCoO2"), ("Mn2O4", "LiMn2O4"))]
    result = predict_candidates(model, info, candidates, rank_by="gravimetric_capacity_mah_g")
    assert [p.discharged_formula for p in result.predictions] == ["LiCoO2", "LiFePO4", "LiMn2O4"]
    assert result.ranked_by == "gravimetric_capacity_mah_g" and "CC BY 4.0" in result.licence


def test_cv_table_shape(small):
    heard: list[str] = []
    report, oof = compare_models(small, FAST, scheme="grouped", n_splits=3, progress=lambda m, done, total: heard.append(m))
    n_ions = len(set(small.ions)) + 1
    assert len(report.rows) == len(MODELS) * len(TARGETS) * n_ions
    assert {(r.model, r.target) for r in report.rows} == {(m, t) for m in MODELS for t in TARGETS}
    assert all(r.n > 0 for r in report.rows) and sum(r.n for r in report.rows if r.ion != "all") == len(MODELS) * len(TARGETS) * len(small)
    assert all(report.row("ours", "gravimetric_capacity_mah_g", r.ion).mae < 1e-9 for r in report.rows if r.model == "ours")  # exact
    assert all(r.scaled_mae == pytest.approx(1.0) for r in report.rows if r.model == "mean" and r.ion == "all")
    assert "crabnet" in report.not_run and "Python 3.11" in report.not_run["crabnet"]
    assert {p.target for p in report.published} == set(TARGETS)
    assert len([m for m in heard if m.startswith("fold")]) == 3 * len(MODELS)  # every model of every fold
    assert set(oof) == set(MODELS) and all(np.isfinite(oof["ours"][t]).all() for t in TARGETS)


def test_random_folds_let_hosts_leak_and_grouped_folds_do_not(small):
    from tools.electrodes.cv import holdout_split, make_folds

    for train, test in make_folds(small, grouped=True, n_splits=3):
        assert not set(small.hosts[train]) & set(small.hosts[test])
    train, test = holdout_split(small)
    assert not set(small.hosts[train]) & set(small.hosts[test])


# -- the training table from a user's CSV -----------------------------------------------------------------
def test_a_training_table_with_a_bad_cell_names_row_and_column(small, tmp_path):
    from tools.electrodes.data import load_dataset

    frame = small.frame.copy()
    frame.loc[3, "Average Voltage"] = "high"
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(ElectrodeError, match=r"row 4 \(line 5\), column 'Average Voltage': 'high' is not a number"):
        load_dataset(path)
    frame = small.frame.drop(columns=["Volumetric Capacity"])
    frame.to_csv(path, index=False)
    with pytest.raises(ElectrodeError, match="column 'Volumetric Capacity' is missing"):
        load_dataset(path)


# -- the snapshot that answers without a Materials Project key -------------------------------------
def test_snapshot_applies_the_query_filters(electrode_table):
    from tools.electrodes.snapshot import search_snapshot
    from tools.materials_project.queries import ElectrodeQuery

    result = search_snapshot(ElectrodeQuery(working_ion="Li", average_voltage_min=4.0, limit=10))
    frame = electrode_table.frame
    voltages = frame["Average Voltage"].astype(float)
    assert result.total_matches == int(((frame["Working Ion"] == "Li") & (voltages >= 4.0)).sum()) > 10
    assert len(result.electrodes) == 10 and result.limit_reached
    assert all(e.working_ion == "Li" and e.average_voltage >= 4.0 for e in result.electrodes)
    assert result.copied_on == "2026-11-30" and "snapshot" in result.label
    by_formula = search_snapshot(ElectrodeQuery(working_ion="Li", formula="LiFePO4", sort_by="-average_voltage"))
    assert by_formula.electrodes and all("Fe" in (e.framework_formula or "") for e in by_formula.electrodes)
    volts = [e.average_voltage for e in by_formula.electrodes]
    assert volts == sorted(volts, reverse=True)
    no_co = search_snapshot(ElectrodeQuery(working_ion="Na", elements=["Mn"], exclude_elements=["Co"], capacity_grav_min=150, limit=500))
    assert all("Mn" in (e.framework_formula or "") and "Co" not in (e.framework_formula or "") and (e.capacity_grav or 0) >= 150
               for e in no_co.electrodes)


# -- plots ------------------------------------------------------------------------------------------
def test_parity_and_energy_plots_are_pngs(small, tmp_path):
    from tools.electrodes.cv import targets_of
    from tools.electrodes.plots import save_energy_plot, save_parity

    report, oof = compare_models(small, FAST, n_splits=3, models=("mean", "ours"))
    parity = save_parity(targets_of(small), oof["ours"], report, tmp_path / "parity.png")
    assert parity.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from tools.electrodes.cache import load_or_train
    from tools.electrodes.predict import predict_candidates

    csv = tmp_path / "small.csv"
    small.frame.to_csv(csv, index=False)
    model, info = load_or_train(tmp_path / "m", csv, FAST)
    result = predict_candidates(model, info, [ElectrodeCandidate(working_ion="Li", charged_formula="CoO2", discharged_formula="LiCoO2")])
    energy = save_energy_plot(result.predictions, tmp_path / "energy.png", background=[(150.0, 3.5), (200.0, 4.0)])
    assert energy.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
