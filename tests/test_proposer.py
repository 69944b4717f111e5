"""The particle-swarm proposer: constraints, distinctness, failure steering, exploration."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.proposer_standin import StandInModel, ncm_standin, toy_record, toy_space
from tools.domain.design_space import DesignSpace
from tools.domain.errors import DesignSpaceError, ProposalError
from tools.domain.record import ExperimentRecord
from tools.modelling.encoder import FeatureEncoder
from tools.proposer.output import proposals_frame
from tools.proposer.relaxation import Encoding, Relaxation
from tools.proposer.swarm import propose

TINY = {"iterations": 20, "particles": 20}


def _check_batch(result, record: ExperimentRecord, space: DesignSpace, n: int) -> None:
    assert len(result.proposals) == n
    keys = set()
    record_rows = {tuple(r) for r in record.frame[space.names].astype(str).itertuples(index=False)}
    for prop in result.proposals:
        assert space.row_problems(prop.params) == [], prop.params
        for name, value in space.fixed.items():
            assert prop.params[name] == value
        key = tuple(str(prop.params[name]) for name in space.names)
        assert key not in keys, "duplicated proposal"
        keys.add(key)
        row = tuple(
            str(float(prop.params[name])) if not isinstance(prop.params[name], str) else prop.params[name]
            for name in space.names
        )
        assert row not in record_rows, "proposal repeats a record run"
        assert np.isfinite(prop.predicted_mah_g) and prop.uncertainty_mah_g >= 0
        assert 0.0 <= prop.failure_probability <= 1.0
        assert prop.reason in {"exploit", "explore", "boundary probe"}


def test_fast_encoding_equals_the_encoder(ncm_space: DesignSpace, demo_record: ExperimentRecord) -> None:
    space = ncm_space.with_fixed({"ni": 0.94})
    relax = Relaxation(space)
    rng = np.random.default_rng(3)
    enc = FeatureEncoder(ncm_space)
    encoding = Encoding(relax, enc, rng, demo_record.frame)
    assert encoding.fast
    V, C, ok = relax.sample(rng, 500)
    V, C = V[ok], C[ok]
    assert np.array_equal(encoding.encode(V, C), enc.encode(relax.to_frame(V, C)))
    Vr, Cr = relax.from_frame(demo_record.frame)
    assert np.array_equal(encoding.encode(Vr, Cr), enc.encode(demo_record.frame))


def test_decode_honours_grid_bounds_composition_and_conditionals(ncm_space: DesignSpace) -> None:
    space = ncm_space.with_fixed({"ni": 0.95})
    relax = Relaxation(space)
    V, C, ok = relax.sample(np.random.default_rng(0), 2000)
    assert ok.all(), "the composition repair should make every point feasible"
    frame = relax.to_frame(V, C)
    for row in frame.to_dict("records")[:400]:
        assert space.row_problems(row) == []
    none = frame["coating"] == "none"
    assert none.any()
    assert (frame.loc[none, ["coating_amount", "coating_temp_c", "coating_time_h"]] == 0).all().all()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    ni=st.sampled_from([0.80, 0.85, 0.90, 0.92, 0.94, 0.96]),
    atmosphere=st.sampled_from([None, "air", "O2"]),
    coating=st.sampled_from([None, "none", "B", "W"]),
    nb=st.sampled_from([None, 0.0, 0.002, 0.006]),
    co=st.sampled_from([None, 0.0, 0.02, 0.04]),
    seed=st.integers(0, 10_000),
)
def test_every_proposal_is_valid_distinct_and_new(
    ncm_space: DesignSpace, demo_record: ExperimentRecord, ni, atmosphere, coating, nb, co, seed
) -> None:
    fixed: dict[str, object] = {"ni": ni}
    for name, value in (("atmosphere", atmosphere), ("coating", coating), ("dopant_nb", nb), ("co", co)):
        if value is not None:
            fixed[name] = value
    space = ncm_space.with_fixed(fixed)
    model = ncm_standin(ncm_space)
    result = propose(model, demo_record, fixed, n=5, seed=seed, **TINY)
    _check_batch(result, demo_record, space, 5)
    assert result.fast_encoding


def test_result_reports_convergence_and_counts(ncm_space: DesignSpace, demo_record: ExperimentRecord) -> None:
    model = ncm_standin(ncm_space)
    result = propose(model, demo_record, {"ni": 0.94}, n=10, seed=1, iterations=30, particles=16)
    assert len(result.convergence) == 29
    assert all(b >= a for a, b in zip(result.convergence, result.convergence[1:], strict=False))
    assert result.evaluations <= 30 * 16
    assert model.calls <= 30, "at most one model call per iteration (vectorised over particles)"
    assert result.incumbent_mah_g == pytest.approx(
        demo_record.ok_runs.loc[demo_record.ok_runs["ni"] == 0.94, "capacity_mah_g"].max()
    )
    frame = proposals_frame(result, ncm_space, shot="shot-1")
    assert list(frame.columns[: len(ncm_space.names)]) == ncm_space.names
    assert set(frame["source"]) == {"ml-proposal"}


def test_failure_steering_avoids_the_region_the_mean_prefers() -> None:
    record = toy_record()

    def rising(c):
        return 200.0 + 20.0 * c["x"]

    def fails_above_07(c):
        return (c["x"] > 0.7).astype(float)

    greedy = propose(StandInModel(toy_space(), rising), record, {}, n=6, seed=0, **TINY)
    steered = propose(StandInModel(toy_space(), rising, fail=fails_above_07), record, {}, n=6, seed=0, **TINY)
    assert max(p.params["x"] for p in greedy.proposals) > 0.9, "without a failure model the mean pulls to x near 1"
    assert all(p.params["x"] <= 0.7 for p in steered.proposals)
    assert all(p.failure_probability == 0.0 for p in steered.proposals)


def test_uncertainty_spreads_the_batch_over_two_basins() -> None:
    record = toy_record()
    a, b = np.array([0.2, 0.2]), np.array([0.8, 0.8])

    def two_peaks(c):
        da = (c["x"] - a[0]) ** 2 + (c["y"] - a[1]) ** 2
        db = (c["x"] - b[0]) ** 2 + (c["y"] - b[1]) ** 2
        return np.maximum(212.0 - 200.0 * da, 208.0 - 200.0 * db)

    def unsure_near_b(c):
        db = (c["x"] - b[0]) ** 2 + (c["y"] - b[1]) ** 2
        return 8.0 * np.exp(-db / 0.02)

    def near(prop, centre) -> bool:
        return float(np.hypot(prop.params["x"] - centre[0], prop.params["y"] - centre[1])) < 0.15

    mean_only = propose(
        StandInModel(toy_space(), two_peaks, std=unsure_near_b), record, {}, n=6, seed=0,
        kappa=0.0, novelty_mah_g=0.0, exploit_share=1.0, min_separation=0.0, iterations=40, particles=30,
    )
    assert all(near(p, a) for p in mean_only.proposals), "the mean alone keeps the whole batch in basin A"
    with_sigma = propose(
        StandInModel(toy_space(), two_peaks, std=unsure_near_b), record, {}, n=6, seed=0,
        novelty_mah_g=0.0, iterations=40, particles=30,
    )
    assert any(near(p, a) for p in with_sigma.proposals)
    assert any(near(p, b) for p in with_sigma.proposals), "kappa * sigma sends part of the batch to basin B"
    assert {p.reason for p in with_sigma.proposals} >= {"exploit", "explore"}


def test_novelty_moves_proposals_away_from_the_data() -> None:
    # runs only in the left half; a flat mean: only the novelty bonus can prefer anything
    points = [(round(0.02 * i, 2), round(0.1 * j, 2)) for i in range(20) for j in range(10)]
    record = toy_record(points)
    record.frame["capacity_mah_g"] = np.linspace(185.0, 215.0, len(record.frame))  # a realistic spread
    flat = StandInModel(toy_space(), lambda c: np.full(len(c["x"]), 200.0))
    base = {"seed": 0, "exploit_share": 0.0, "iterations": 30, "particles": 20}
    without = propose(flat, record, {"kind": "u"}, n=4, novelty_mah_g=0.0, **base)
    with_bonus = propose(flat, record, {"kind": "u"}, n=4, novelty_mah_g=5.0, **base)
    mean_d = np.mean([p.distance_to_record for p in with_bonus.proposals])
    assert mean_d > np.mean([p.distance_to_record for p in without.proposals])
    # ... but not beyond the trust region
    assert all(p.distance_to_record <= with_bonus.settings.trust_radius + 0.05 for p in with_bonus.proposals)


def test_boundary_probe_label_near_failed_runs() -> None:
    space = toy_space()
    from tools.domain.record import record_from_rows

    rows = [{"x": 0.5, "y": round(0.1 * j, 1), "kind": "u", "capacity_mah_g": 200.0, "status": "ok"} for j in range(10)]
    rows += [{"x": 0.9, "y": round(0.1 * j, 1), "kind": "u", "capacity_mah_g": "", "status": "failed"} for j in range(10)]
    record = record_from_rows(rows, space)
    model = StandInModel(space, lambda c: 200.0 + 30.0 * c["x"], fail=lambda c: np.clip((c["x"] - 0.6) * 0.8, 0, 1))
    result = propose(model, record, {}, n=4, seed=0, **TINY)
    assert any(p.reason == "boundary probe" for p in result.proposals)


def test_bad_requests_raise_typed_errors(ncm_space: DesignSpace, demo_record: ExperimentRecord) -> None:
    model = ncm_standin(ncm_space)
    with pytest.raises(DesignSpaceError, match="unknown parameter"):
        propose(model, demo_record, {"nickel": 0.94}, **TINY)
    with pytest.raises(DesignSpaceError, match="step"):
        propose(model, demo_record, {"ni": 0.945}, **TINY)
    with pytest.raises(DesignSpaceError, match="infeasible"):
        propose(model, demo_record, {"ni": 0.96, "co": 0.12}, **TINY)
    with pytest.raises(ProposalError, match="unknown proposer setting"):
        propose(model, demo_record, {"ni": 0.94}, kapa=2.0, **TINY)
    # a space with 4 points cannot give 10 new proposals
    tiny_space = toy_space().with_fixed({"kind": "u"})
    small = StandInModel(toy_space(), lambda c: c["x"] + 200.0)
    record = toy_record()
    with pytest.raises(ProposalError, match="distinct new candidates"):
        propose(small, record, {"kind": "u", "x": 0.5, "y": 0.5}, n=2, **TINY)
    assert tiny_space.fixed == {"kind": "u"}


@pytest.mark.slow
def test_real_model_proposals_are_valid(ncm_space: DesignSpace, demo_record: ExperimentRecord) -> None:
    from tools.modelling.capacity_model import fit_capacity_model

    model = fit_capacity_model(demo_record, seed=0, n_members=2)
    result = propose(model, demo_record, {"ni": 0.94, "atmosphere": "air", "dopant_nb": 0.002}, n=10, seed=0, iterations=60, particles=40)
    _check_batch(result, demo_record, ncm_space.with_fixed({"ni": 0.94, "atmosphere": "air", "dopant_nb": 0.002}), 10)
    assert result.fast_encoding
