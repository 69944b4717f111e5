"""Learning from the shot: the local GP correction (tools/modelling/local_model.py) and the proposal statistics it feeds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.proposer_standin import StandInModel, toy_record, toy_space
from tools.domain.constraints import ConstraintSet, value_range
from tools.domain.record import ExperimentRecord, append_records, record_from_rows
from tools.modelling.local_model import LocalCorrection, LocallyCorrectedModel
from tools.proposer.models import Proposal
from tools.proposer.scoring import expected_improvement, probability_of_improvement
from tools.proposer.selection import batch_purpose
from tools.proposer.swarm import propose


def _flat(space):
    return StandInModel(space, mean=lambda c: np.full(len(c["x"]), 200.0), std=lambda c: np.full(len(c["x"]), 0.5))


def _with_new_best(record: ExperimentRecord, x: float, y: float, value: float) -> ExperimentRecord:
    new = record_from_rows([{"x": x, "y": y, "kind": "u", "capacity_mah_g": value, "status": "ok", "shot": "shot-1"}], record.space, source="shot")
    return append_records(record, new)


def test_correction_moves_predictions_towards_a_new_run_and_fades_away_from_it():
    space = toy_space()
    sparse = [(x, y) for x in (0.1, 0.5, 0.9) for y in (0.1, 0.5, 0.9)]
    record = _with_new_best(toy_record(points=sparse), 0.3, 0.3, 210.0)
    base = _flat(space)
    model = LocallyCorrectedModel(base, record, {"kind": "u"})
    assert model.active and model.n_slice == 10
    at = pd.DataFrame([{"x": 0.3, "y": 0.3, "kind": "u"}, {"x": 0.33, "y": 0.3, "kind": "u"}, {"x": 0.9, "y": 0.9, "kind": "u"}])
    mu, sigma = model.predict(at)
    base_mu, _ = base.predict(at)
    assert mu[0] > 205.0  # half-way or more from the trees' 200 towards the measured 210
    assert mu[1] > 203.0  # its neighbour is lifted too: the next shot can climb from it
    # maximum likelihood on the same runs reads the one good run as noise: the reason for fixed settings
    fitted = LocallyCorrectedModel(base, record, {"kind": "u"}, LocalCorrection(fit_hyperparameters=True))
    assert fitted.predict(at)[0][0] < mu[0] - 2.0
    assert abs(mu[2] - 200.0) < 1.0  # far from it the trees speak alone
    assert np.all(sigma >= 0.5 - 1e-9)  # never less certain... nor more certain than the trees
    assert base_mu[0] == 200.0


def test_no_correction_with_too_few_runs_in_the_slice():
    space = toy_space()
    record = toy_record(points=[(0.1, 0.1), (0.2, 0.2), (0.3, 0.3)])
    model = LocallyCorrectedModel(_flat(space), record, {"kind": "u"}, LocalCorrection(min_runs=5))
    assert not model.active
    mu, sigma = model.predict(pd.DataFrame([{"x": 0.5, "y": 0.5, "kind": "u"}]))
    assert mu[0] == 200.0 and sigma[0] == pytest.approx(0.5)


def test_disabled_correction_is_the_base_model():
    space = toy_space()
    record = _with_new_best(toy_record(), 0.52, 0.48, 210.0)
    model = LocallyCorrectedModel(_flat(space), record, {"kind": "u"}, LocalCorrection(enabled=False))
    assert not model.active
    assert model.predict(pd.DataFrame([{"x": 0.52, "y": 0.48, "kind": "u"}]))[0][0] == 200.0


@pytest.mark.slow
def test_correction_of_the_real_ensemble_follows_a_new_best_run(demo_record: ExperimentRecord):
    """The issue's failure: ten new runs barely move the trees. The correction must move them."""
    from tools.modelling.capacity_model import fit_capacity_model

    f = demo_record.frame
    best = f[(f["ni"] == 0.94) & (f["status"] == "ok")].sort_values("capacity_mah_g").iloc[-1]
    row = {n: best[n] for n in demo_record.space.names}
    row.update(calcination_time_h=14.0, dopant_ti=0.0015)  # an untried corner, measured 8 mAh/g better
    measured = float(best["capacity_mah_g"]) + 8.0
    new = record_from_rows([{**row, "capacity_mah_g": measured, "status": "ok", "shot": "shot-1"}], demo_record.space, source="shot")
    record = append_records(demo_record, new)
    base = fit_capacity_model(record, seed=0, n_members=4)
    assert base.bootstrap_counts is not None and base.bootstrap_counts.shape == (4, len(record.ok_runs))
    model = LocallyCorrectedModel(base, record, {"ni": 0.94})
    at = pd.DataFrame([row])
    before = float(base.predict(at)[0][0])
    after = float(model.predict(at)[0][0])
    assert measured - after < 0.6 * (measured - before)


def test_pi_and_ei_formulas():
    mu, sigma = np.array([210.0, 200.0]), np.array([2.0, 2.0])
    assert probability_of_improvement(mu, sigma, 210.0)[0] == pytest.approx(0.5)
    assert expected_improvement(mu, sigma, 210.0)[0] == pytest.approx(2.0 / np.sqrt(2 * np.pi))
    assert expected_improvement(mu, sigma, 210.0)[1] < 1e-5
    assert np.all(expected_improvement(mu, sigma, 205.0) >= np.maximum(mu - 205.0, 0.0))


def test_proposals_carry_pi_ei_untried_factors_and_a_purpose():
    space = toy_space()
    record = _with_new_best(toy_record(), 0.52, 0.48, 210.0)
    model = LocallyCorrectedModel(_flat(space), record, {"kind": "u"})
    result = propose(model, record, {}, n=6, seed=0, iterations=30, particles=30)
    assert result.incumbent_mah_g == 210.0
    exploit = [p for p in result.proposals if p.reason == "exploit"]
    assert len(exploit) == 2  # 40% of six: the picks that climb from the best runs
    for p in result.proposals:
        assert p.p_improve is not None and 0.0 <= p.p_improve <= 1.0
        assert p.expected_improvement_mah_g is not None and p.expected_improvement_mah_g >= 0.0
        expected = probability_of_improvement(np.array([p.predicted_mah_g]), np.array([max(p.uncertainty_mah_g, 1e-9)]), 210.0)[0]
        assert p.p_improve == pytest.approx((1 - p.failure_probability) * expected, abs=1e-9)
    # the corrected mean sends the exploit picks next to the new best run
    for p in exploit:
        assert abs(p.params["x"] - 0.52) <= 0.15 + 1e-9 and abs(p.params["y"] - 0.48) <= 0.15 + 1e-9
    # kind=v was never tried in the record
    assert any("kind" in p.untried for p in result.proposals if p.params["kind"] == "v") or all(p.params["kind"] == "u" for p in result.proposals)
    assert result.purpose.startswith("6 runs: ") and "to climb around the best run so far (210.0 mAh/g)" in result.purpose
    assert "best chance to beat the incumbent" in result.purpose


def test_batch_purpose_names_boundaries_and_untried_factors():
    def prop(reason, untried=()):
        return Proposal(
            params={"x": 0.1}, predicted_mah_g=200, uncertainty_mah_g=1, failure_probability=0.0, distance_to_record=0.1,
            nearest_run="r1", acquisition=1.0, reason=reason, p_improve=0.2, expected_improvement_mah_g=0.1, untried=list(untried),
        )

    text = batch_purpose([prop("exploit"), prop("boundary probe"), prop("explore", ["dopant_ti"]), prop("explore")], 220.0)
    assert text == (
        "4 runs: 1 to climb around the best run so far (220.0 mAh/g); 1 to test values the record never tried (dopant_ti); "
        "1 to map the failure boundary; 1 to explore sparse regions; best chance to beat the incumbent 20%"
    )


def test_additive_kernel_carries_a_factor_value_to_other_recipes():
    space = toy_space()
    sparse = [(x, y) for x in (0.1, 0.5, 0.9) for y in (0.1, 0.5, 0.9)]
    record = _with_new_best(toy_record(points=sparse), 0.3, 0.3, 210.0)
    at = pd.DataFrame([{"x": 0.3, "y": 0.9, "kind": "u"}])  # shares x = 0.3 with the new best, far from it
    additive = LocallyCorrectedModel(_flat(space), record, {"kind": "u"}, LocalCorrection(kernel="additive"))
    isotropic = LocallyCorrectedModel(_flat(space), record, {"kind": "u"}, LocalCorrection(kernel="isotropic"))
    assert additive.predict(at)[0][0] > 202.0
    assert additive.predict(at)[0][0] > isotropic.predict(at)[0][0] + 1.0


def test_parts_add_up_to_the_prediction():
    space = toy_space()
    record = _with_new_best(toy_record(points=[(x, y) for x in (0.1, 0.5, 0.9) for y in (0.1, 0.5, 0.9)]), 0.3, 0.3, 210.0)
    model = LocallyCorrectedModel(_flat(space), record, {"kind": "u"}, LocalCorrection(sigma_weight=0.5))
    X = model.encoder.encode(pd.DataFrame([{"x": 0.3, "y": 0.35, "kind": "u"}, {"x": 0.7, "y": 0.1, "kind": "v"}]))
    mu_b, sd_b, m, s = model.predict_parts_encoded(X)
    mu, sd = model.predict_encoded(X)
    assert np.allclose(mu, mu_b + m) and np.allclose(sd, np.sqrt(sd_b**2 + s**2))


def test_the_slice_is_the_runs_that_satisfy_the_constraints():
    """With a range instead of a fixed value, the correction is fitted on the runs inside the range."""
    space = toy_space()
    sparse = [(x, y) for x in (0.1, 0.5, 0.9) for y in (0.1, 0.5, 0.9)]
    record = _with_new_best(toy_record(points=sparse), 0.3, 0.3, 210.0)
    inside = LocallyCorrectedModel(_flat(space), record, ConstraintSet().add(value_range("x", upper=0.6)))
    outside = LocallyCorrectedModel(_flat(space), record, ConstraintSet().add(value_range("x", lower=0.4)))
    assert inside.n_slice == 7 and outside.n_slice == 6  # x in {0.1, 0.5} plus the new run; x in {0.5, 0.9}
    at = pd.DataFrame([{"x": 0.3, "y": 0.3, "kind": "u"}])
    assert inside.predict(at)[0][0] > 205.0
    assert outside.predict(at)[0][0] == pytest.approx(200.0, abs=1e-6)  # the new run is not in that slice


def test_out_of_bag_counts_survive_saving_the_model(demo_record: ExperimentRecord, tmp_path):
    """A reused model gives the same correction as the freshly fitted one: its bootstrap is recomputed from the seed."""
    from tools.modelling.capacity_model import CapacityModel, fit_capacity_model

    small = ExperimentRecord(demo_record.frame.iloc[-120:].reset_index(drop=True), demo_record.space)
    fitted = fit_capacity_model(small, seed=3, n_members=3)
    fitted.save(tmp_path)
    loaded = CapacityModel.load(tmp_path)
    assert np.array_equal(fitted.bootstrap_counts, loaded.bootstrap_counts)
    assert fitted.bootstrap_counts.shape == (3, len(small.ok_runs))
    assert np.all(fitted.bootstrap_counts.sum(axis=1) == len(small.ok_runs))
    a = LocallyCorrectedModel(fitted, small, {"ni": 0.94})
    b = LocallyCorrectedModel(loaded, small, {"ni": 0.94})
    assert a.active and np.allclose(a.residuals, b.residuals)


def test_a_batch_with_nothing_to_beat_says_so_and_shows_no_empty_columns():
    from assistant.rendering import proposals as render

    def prop(reason):
        return Proposal(
            params={"x": 0.1}, predicted_mah_g=200, uncertainty_mah_g=1, failure_probability=0.0, distance_to_record=0.1,
            nearest_run="r1", acquisition=1.0, reason=reason, p_improve=None, expected_improvement_mah_g=None, untried=[],
        )

    props = [prop("explore"), prop("explore")]
    text = batch_purpose(props, None)
    assert text == "2 runs: 2 to explore sparse regions; no measured run satisfies the constraints yet, so there is no best run to beat"
    data = {"proposals": [p.model_dump(mode="json") for p in props], "fixed": {}, "purpose": text}
    table = render.frame(data)
    assert "p_beat_best" not in table.columns and "expected_improvement_mah_g" not in table.columns
    assert "P(beat best)" not in render.markdown(data)
    # with a run to beat, both columns are there
    data["proposals"][0] |= {"p_improve": 0.3, "expected_improvement_mah_g": 0.5}
    assert {"p_beat_best", "expected_improvement_mah_g"} <= set(render.frame(data).columns)
    assert "| P(beat best) | EI (mAh/g) |" in render.markdown(data)
