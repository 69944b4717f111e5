"""The full electrode model (the product's default hyper-parameters on all 3,480 electrodes): slow tier.

Training takes about a minute on an idle core; the fast tier uses a small model instead
(tests/conftest.py, `fast_electrodes`).
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cli.app import app
from tools.electrodes.cache import load_or_train
from tools.electrodes.predict import predict_candidates
from tools.electrodes.schemas import ElectrodeCandidate

pytestmark = pytest.mark.slow


def test_the_full_model_trains_is_cached_and_knows_the_classics(tmp_path):
    model, info = load_or_train(tmp_path)
    assert not info.reused and info.n_train == 3480
    again, cached = load_or_train(tmp_path)
    assert cached.reused and cached.config_key == info.config_key
    candidates = [ElectrodeCandidate(working_ion=i, charged_formula=c, discharged_formula=d)
                  for i, c, d in (("Li", "CoO2", "LiCoO2"), ("Li", "FePO4", "LiFePO4"), ("Na", "FePO4", "NaFePO4"), ("Mg", "Mo6S8", "Mg2Mo6S8"))]
    result = predict_candidates(again, cached, candidates, rank_by="gravimetric_energy_wh_kg")
    by_formula = {p.discharged_formula: p for p in result.predictions}
    licoo2 = by_formula["LiCoO2"]
    assert licoo2.nearest_known.exact_match and abs(licoo2.average_voltage_v - licoo2.nearest_known.average_voltage_v) < 0.5
    assert 3.0 < by_formula["LiFePO4"].average_voltage_v < 4.0  # olivine: about 3.4 V in GGA+U
    assert by_formula["Mg2Mo6S8"].gravimetric_capacity_mah_g == pytest.approx(121.72, abs=0.01)
    assert [p.discharged_formula for p in result.predictions][0] == "LiCoO2"
    assert all(p.in_domain for p in result.predictions)


def test_the_cli_predicts_with_the_full_model(isolated_data_dir):
    done = CliRunner().invoke(app, ["electrode", "predict", "--ion", "Li", "--charged", "Mn2O4", "--discharged", "LiMn2O4", "--json"])
    assert done.exit_code == 0, done.output
    payload = json.loads(done.stdout)
    assert not payload["model"]["reused"] and payload["model"]["n_train"] == 3480
    (p,) = payload["predictions"]
    assert 3.0 < p["average_voltage_v"] < 5.0 and p["gravimetric_capacity_mah_g"] == pytest.approx(148.2, abs=0.1)
