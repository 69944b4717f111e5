"""The active-learning loop: `propose`, `record` and `campaign` commands, baselines, per-shot error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.app import app
from tools.campaign.baselines import expert_proposals, random_proposals
from tools.campaign.shots import next_shot_label, shot_errors
from tools.campaign.simulation import run_campaign
from tools.data.store import RecordStore
from tools.domain.design_space import DesignSpace
from tools.domain.record import ExperimentRecord, read_record

runner = CliRunner()


def _one_line_error(result) -> str:
    text = result.stderr.strip() if hasattr(result, "stderr") else result.output.strip()
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert len(text.splitlines()) == 1, text
    return text


# -- propose -------------------------------------------------------------------------------
def test_propose_json_lists_every_column(demo_csv: Path, standin_fit: None, ncm_space: DesignSpace, tmp_path: Path) -> None:
    out_csv = tmp_path / "next.csv"
    result = runner.invoke(
        app,
        ["propose", "--data", str(demo_csv), "--fix", "ni=0.94", "--fix", "atmosphere=air", "--n", "4",
         "--iterations", "15", "--particles", "12", "--out", str(out_csv), "--json"],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["fixed"] == {"ni": 0.94, "atmosphere": "air"}
    assert len(payload["proposals"]) == 4
    space = ncm_space.with_fixed({"ni": 0.94, "atmosphere": "air"})
    for prop in payload["proposals"]:
        assert list(prop["params"]) == ncm_space.names
        assert space.row_problems(prop["params"]) == []
        for key in ("predicted_mah_g", "uncertainty_mah_g", "failure_probability", "distance_to_record", "reason"):
            assert key in prop
    assert len(payload["convergence"]["best_acquisition"]) == 14
    assert Path(payload["convergence"]["plot"]).exists()
    assert payload["next_shot"] == "shot-1"
    frame = pd.read_csv(out_csv)
    assert len(frame) == 4 and set(frame["shot"]) == {"shot-1"} and frame["predicted_mah_g"].notna().all()


def test_propose_table(demo_csv: Path, standin_fit: None) -> None:
    result = runner.invoke(app, ["propose", "--data", str(demo_csv), "--fix", "ni=0.94", "--n", "3", "--iterations", "10", "--particles", "10"])
    assert result.exit_code == 0, result.output
    assert "changes vs nearest record run" in result.stdout
    assert "convergence plot" in result.stdout


def test_propose_says_what_the_batch_is_for(demo_csv: Path, demo_record: ExperimentRecord, standin_fit: None) -> None:
    """Each proposal's chance to beat the best run, its expected improvement and untried values; the batch's purpose."""
    ok = demo_record.ok_runs
    slice_text = f"isotropic GP on {int((ok['ni'] == 0.94).sum())} runs"  # the correction's slice: ok runs with ni = 0.94
    args = ["propose", "--data", str(demo_csv), "--fix", "ni=0.94", "--n", "4", "--iterations", "10", "--particles", "10"]
    table = runner.invoke(app, args)
    assert table.exit_code == 0, table.output
    for row in ("P(beat best)", "EI mAh/g", "untried", "this batch: 4 runs:", f"local correction: {slice_text}"):
        assert row in table.stdout, row
    payload = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    assert payload["purpose"].startswith("4 runs:") and "best chance to beat the incumbent" in payload["purpose"]
    assert payload["local_correction"].startswith(slice_text)
    for prop in payload["proposals"]:
        assert 0.0 <= prop["p_improve"] <= 1.0 and prop["expected_improvement_mah_g"] >= 0.0
        assert isinstance(prop["untried"], list)


@pytest.mark.parametrize(
    ("fix", "expected"),
    [
        (["nickel=0.94"], "unknown parameter 'nickel'"),
        (["ni=0.945"], "not on the 0.01"),
        (["ni=0.96", "co=0.12"], "but composition must be 1 (within 0.005)"),
        (["ni"], "NAME=VALUE"),
        (["coating=Zn"], "is not one of"),
    ],
)
def test_propose_bad_fixed_values_exit_2(demo_csv: Path, standin_fit: None, fix: list[str], expected: str) -> None:
    args = ["propose", "--data", str(demo_csv)]
    for item in fix:
        args += ["--fix", item]
    result = runner.invoke(app, args)
    assert expected in _one_line_error(result)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("command", ["propose", "plan"])
@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--where", "temp<760"], "unknown parameter 'temp'; the parameters are: ni, co, mn"),
        (["--where", "calcination_temp_c<600"], "no allowed value of calcination_temp_c satisfies calcination_temp_c < 600 degC (its range is 650 to 850 degC)"),
        (["--where", "coating!=Q"], "coating != Q: 'Q' is not one of none, B, W, Co, Al"),
        (["--where", "calcination_temp_c<760", "--where", "calcination_temp_c>770"], "770 < calcination_temp_c < 760 degC"),
        (["--fix", "ni=0.94", "--where", "ni<0.9"], "contradictory constraints: ni = 0.94 and ni < 0.9"),
        (["--where", "calcination_temp_c<abc"], "--where 'calcination_temp_c<abc': write e.g."),
    ],
)
def test_bad_constraints_exit_2_with_one_line_and_write_nothing(command: str, options: list[str], expected: str, demo_csv: Path,
                                                                 standin_fit: None, isolated_data_dir: Path) -> None:
    before_data, before_record = _files(isolated_data_dir), demo_csv.read_bytes()
    result = runner.invoke(app, [command, "--data", str(demo_csv), *options])
    assert expected in _one_line_error(result)
    assert _files(isolated_data_dir) == before_data
    assert demo_csv.read_bytes() == before_record


def test_propose_empty_record_exits_2(tmp_path: Path, ncm_space: DesignSpace, standin_fit: None) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text(",".join([*ncm_space.names, "capacity_mah_g"]) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["propose", "--data", str(empty), "--fix", "ni=0.94"])
    assert "the record has no rows" in _one_line_error(result)


@pytest.mark.slow
def test_propose_with_the_real_model(demo_csv: Path) -> None:
    args = ["propose", "--data", str(demo_csv), "--fix", "ni=0.94", "--n", "3", "--iterations", "20", "--particles", "20", "--json"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["model"]["reused"] is False
    second = runner.invoke(app, args)
    assert json.loads(second.stdout)["model"]["reused"] is True


# -- record --------------------------------------------------------------------------------
def _results_csv(path: Path, record: ExperimentRecord, bad: bool = False) -> Path:
    base = record.frame[record.frame["ni"] == 0.94].iloc[:3][record.space.names].copy()
    base["calcination_time_h"] = [11.0, 12.0, 13.0]
    base["capacity_mah_g"] = [220.0, np.nan, 215.0]
    base["status"] = ["ok", "failed", "ok"]
    base["predicted_mah_g"] = [218.0, 219.0, 216.0]
    base["shot"] = "shot-1"
    if bad:
        base.loc[base.index[0], "calcination_temp_c"] = 762.0  # off the 5 degC step
    base.to_csv(path, index=False)
    return path


def test_record_appends_and_reports_per_shot_error(demo_csv: Path, demo_record: ExperimentRecord, tmp_path: Path, isolated_data_dir: Path) -> None:
    results = _results_csv(tmp_path / "results.csv", demo_record)
    out = runner.invoke(app, ["record", "--data", str(demo_csv), "--results", str(results), "--json"])
    assert out.exit_code == 0, out.output
    payload = json.loads(out.stdout)
    assert payload["added"] == 3 and payload["failed_added"] == 1 and payload["total"] == len(demo_record) + 3
    shot1 = next(s for s in payload["shots"] if s["shot"] == "shot-1")
    assert shot1["compared"] == 2
    assert shot1["mae_mah_g"] == pytest.approx(1.5)
    assert shot1["mean_pct_error"] == pytest.approx(np.mean([2 / 220, 1 / 215]) * 100)
    assert Path(payload["parity_plot"]).exists()
    again = read_record(demo_csv)
    assert len(again) == len(demo_record) + 3
    assert (again.frame["status"] == "failed").sum() == (demo_record.frame["status"] == "failed").sum() + 1
    store = RecordStore(payload["store"]["url"])
    assert store.count(demo_csv.stem) == len(demo_record) + 3
    store.dispose()
    # the next shot label follows
    assert next_shot_label(again) == "shot-2"


def test_record_writes_nothing_when_results_are_invalid(demo_csv: Path, demo_record: ExperimentRecord, tmp_path: Path, isolated_data_dir: Path) -> None:
    before = demo_csv.read_bytes()
    results = _results_csv(tmp_path / "results.csv", demo_record, bad=True)
    out = runner.invoke(app, ["record", "--data", str(demo_csv), "--results", str(results)])
    assert out.exit_code == 2
    assert "not on the 5" in out.output and "Traceback" not in out.output
    assert demo_csv.read_bytes() == before
    assert not (isolated_data_dir / "matassist.db").exists()


def test_record_refuses_duplicated_ids(demo_csv: Path, demo_record: ExperimentRecord, tmp_path: Path) -> None:
    results = _results_csv(tmp_path / "results.csv", demo_record)
    frame = pd.read_csv(results)
    frame["experiment_id"] = ["demo-0001", "x-2", "x-3"]
    frame.to_csv(results, index=False)
    before = demo_csv.read_bytes()
    out = runner.invoke(app, ["record", "--data", str(demo_csv), "--results", str(results)])
    assert out.exit_code == 2 and "already in the record" in out.output
    assert demo_csv.read_bytes() == before


def test_shot_errors_skip_runs_without_prediction(demo_record: ExperimentRecord) -> None:
    errors = shot_errors(demo_record)
    assert [e.shot for e in errors] == ["history"]
    assert errors[0].compared == 0 and errors[0].mae_mah_g is None


# -- baselines and the campaign -----------------------------------------------------------------
def test_random_and_expert_baselines_are_valid(demo_record: ExperimentRecord, ncm_space: DesignSpace) -> None:
    space = ncm_space.with_fixed({"ni": 0.94})
    taken = {tuple(r) for r in demo_record.frame[space.names].astype(str).itertuples(index=False)}
    for frame in (random_proposals(demo_record, space.fixed, 10, 0), expert_proposals(demo_record, space.fixed, 10, 0)):
        assert len(frame) == 10
        assert len({tuple(r) for r in frame.astype(str).itertuples(index=False)}) == 10
        for row in frame.to_dict("records"):
            assert space.row_problems(row) == []
            assert tuple(str(row[n]) for n in space.names) not in taken
    expert = expert_proposals(demo_record, space.fixed, 10, 0)
    best = demo_record.ok_runs[demo_record.ok_runs["ni"] == 0.94].sort_values("capacity_mah_g").iloc[-1]
    for row in expert.to_dict("records"):
        changed = [n for n in space.names if n not in ("co", "mn") and str(row[n]) != str(best[n])]
        assert len(changed) <= 4  # one factor (coating switches may move its pinned numbers)


def _hide_baybe(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make `import baybe` fail, as when the optional extra is not installed."""
    import sys

    monkeypatch.setitem(sys.modules, "baybe", None)


def test_campaign_runs_end_to_end_for_one_shot(monkeypatch: pytest.MonkeyPatch) -> None:
    _hide_baybe(monkeypatch)
    result = run_campaign(
        shots=1, n=3, fixed={"ni": 0.94}, seeds=[0], strategies=["ours", "random", "expert", "baybe"],
        iterations=5, particles=8, n_members=2,
    )
    by = {r.strategy: r for r in result.strategies}
    assert set(by) == {"ours", "random", "expert", "baybe"}
    assert not by["baybe"].available and by["baybe"].message.startswith("unavailable (pip install .[baybe])")
    for name in ("ours", "random", "expert"):
        rep = by[name]
        assert rep.available and len(rep.seeds) == 1 and len(rep.median_gap_closed) == 1
        shot = rep.seeds[0].shots[0]
        assert shot.best_measured_mah_g >= rep.seeds[0].record_best_mah_g
        assert 0 <= shot.failed_runs <= 3
    assert by["ours"].seeds[0].shots[0].mae_mah_g is not None or by["ours"].seeds[0].shots[0].failed_runs == 3
    assert 225 < by["ours"].seeds[0].optimum_mah_g < 235


def test_campaign_cli_json_and_bad_strategy() -> None:
    out = runner.invoke(app, ["campaign", "--shots", "1", "--n", "3", "--seeds", "0", "--strategy", "random,expert", "--json"])
    assert out.exit_code == 0, out.output
    payload = json.loads(out.stdout)
    assert [s["strategy"] for s in payload["strategies"]] == ["random", "expert"]
    assert "seed 0 random shot 1" in out.stderr
    bad = runner.invoke(app, ["campaign", "--strategy", "greedy", "--seeds", "0"])
    assert "unknown strategy greedy" in _one_line_error(bad)
    bad_seeds = runner.invoke(app, ["campaign", "--seeds", "a,b"])
    assert "--seeds" in _one_line_error(bad_seeds)


# -- BayBE --------------------------------------------------------------------------------------
_SMALL_BAYBE = {"n_restarts": 1, "n_raw_samples": 16}
_BAYBE_FIXED = {"ni": 0.94, "atmosphere": "O2", "li_source": "LiOH", "coating": "B"}


@pytest.mark.slow
def test_baybe_proposals_are_valid_distinct_new_runs(demo_record: ExperimentRecord, ncm_space: DesignSpace) -> None:
    pytest.importorskip("baybe")
    from tools.campaign.baybe import baybe_batch

    # a small record (ok and failed runs) and one discrete configuration keep BayBE quick
    small = ExperimentRecord(pd.concat([demo_record.ok_runs.iloc[:40], demo_record.failed_runs.iloc[:5]]), demo_record.space)
    rows, info = baybe_batch(small, _BAYBE_FIXED, 3, 0, recommender_options=_SMALL_BAYBE)
    space = ncm_space.with_fixed(_BAYBE_FIXED)
    assert list(rows.columns) == ncm_space.names and len(rows) == 3
    assert len({tuple(r) for r in rows.astype(str).itertuples(index=False)}) == 3
    taken = {tuple(r) for r in small.frame[space.names].astype(str).itertuples(index=False)}
    for row in rows.to_dict("records"):
        assert space.row_problems(row) == []
        assert tuple(str(row[n]) for n in space.names) not in taken
    assert info.measurements == 45 and info.failed_as is not None
    assert info.failed_as == pytest.approx(np.quantile(small.ok_runs["capacity_mah_g"], 0.1))
    assert info.recommended >= 3 and info.repaired + info.rejected <= info.recommended


def test_baybe_strategy_is_wired_into_the_campaign(monkeypatch: pytest.MonkeyPatch) -> None:
    """The campaign's handling of a BayBE batch (its rows, note and predictions), without BayBE's minutes."""
    import tools.campaign.simulation as campaign
    from tools.campaign.baybe import BaybeBatch

    calls: list[tuple[dict, int, int, object]] = []

    def fake_batch(record, fixed, n, seed, recommender_options=None, constraints=None):
        calls.append((dict(fixed), n, seed, recommender_options))
        rows = random_proposals(record, fixed, n, seed, constraints=constraints)
        info = BaybeBatch(
            recommended=n + 1, calls=1, repaired=1, rejected=1, measurements=len(record.ok_runs),
            failed_as=200.0, predicted_mah_g=[215.0] * n, warnings=[], elapsed_s=0.1,
        )
        return rows, info

    monkeypatch.setattr(campaign, "baybe_available", lambda: (True, ""))
    monkeypatch.setattr(campaign, "baybe_batch", fake_batch)
    messages: list[str] = []
    result = run_campaign(
        shots=2, n=3, fixed={"ni": 0.94}, seeds=[0], strategies=["baybe"], baybe_options={"n_restarts": 1},
        progress=messages.append,
    )
    rep = result.strategies[0]
    assert rep.available and len(rep.seeds) == 1 and len(rep.median_gap_closed) == 2
    assert [c[1:] for c in calls] == [(3, 1, {"n_restarts": 1}), (3, 2, {"n_restarts": 1})]
    for shot in rep.seeds[0].shots:
        assert "4 recommended in 1 call(s), 1 repaired beyond grid snapping, 1 rejected" in shot.note
        assert shot.mae_mah_g is not None or shot.failed_runs == 3
    assert any("baybe shot 1: recommending 3 runs" in m for m in messages)
    assert any("seed 0 baybe shot 2: best" in m and "repaired" in m for m in messages)


def test_baybe_unavailable_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch, demo_record: ExperimentRecord) -> None:
    from tools.campaign.baybe import baybe_proposals
    from tools.domain.errors import ProposalError

    _hide_baybe(monkeypatch)
    result = run_campaign(shots=1, n=2, fixed={"ni": 0.94}, seeds=[0], strategies=["random", "baybe"])
    by = {r.strategy: r for r in result.strategies}
    assert by["random"].available
    assert not by["baybe"].available and by["baybe"].seeds == []
    assert by["baybe"].message.startswith("unavailable (pip install .[baybe])")
    with pytest.raises(ProposalError, match=r"unavailable \(pip install \.\[baybe\]\)"):
        baybe_proposals(demo_record, {"ni": 0.94}, 2, 0)
    out = runner.invoke(app, ["campaign", "--shots", "1", "--n", "2", "--seeds", "0", "--strategy", "random,baybe"])
    assert out.exit_code == 0, out.output
    assert "unavailable (pip install .[baybe])" in out.stdout


def test_campaign_runs_on_lab_b_and_reports_purpose(monkeypatch: pytest.MonkeyPatch) -> None:
    _hide_baybe(monkeypatch)
    result = run_campaign(shots=1, n=3, fixed={"ni": 0.94}, seeds=[0], strategies=["ours", "ours-v1", "random"],
                          iterations=5, particles=8, n_members=2, lab="b")
    assert result.lab == "b"
    by = {r.strategy: r for r in result.strategies}
    shot = by["ours"].seeds[0].shots[0]
    assert shot.purpose.startswith("3 runs:") and shot.cpu_s is not None
    assert 235 < by["ours"].seeds[0].optimum_mah_g < 245  # lab b's optimum at 94% Ni
    assert by["random"].seeds[0].shots[0].purpose == ""


def test_campaign_refuses_an_unknown_lab() -> None:
    from tools.domain.errors import ProposalError

    with pytest.raises(ProposalError, match="unknown lab 'z'"):
        run_campaign(shots=1, n=2, seeds=[0], strategies=["random"], lab="z")


def test_campaign_cli_two_labs_writes_the_best_so_far_plot(tmp_path: Path) -> None:
    plot = tmp_path / "best.png"
    out = runner.invoke(app, ["campaign", "--shots", "2", "--n", "2", "--seeds", "0", "--strategy", "random,expert",
                              "--lab", "a,b", "--plot", str(plot), "--json"])
    assert out.exit_code == 0, out.output
    payload = json.loads(out.stdout)
    assert [r["lab"] for r in payload["labs"]] == ["a", "b"]
    assert payload["plot"] == str(plot) and plot.stat().st_size > 1000


# -- constraints (issue 14: every campaign strategy obeys them) ------------------------------------
_HELD = ["calcination_temp_c < 760", "atmosphere != air"]


def _held_constraints():
    from tools.domain.constraints import ConstraintSet, choice, value_range

    return ConstraintSet().extend([value_range("calcination_temp_c", upper=760.0, upper_strict=True), choice("atmosphere", excluded=["air"])])


def test_every_strategy_obeys_the_constraints(monkeypatch: pytest.MonkeyPatch, demo_record: ExperimentRecord) -> None:
    """ours, ours-v1, random and expert (and BayBE's wiring) propose only runs that satisfy every constraint."""
    import tools.campaign.simulation as campaign
    from tools.campaign.baybe import BaybeBatch

    constraints = _held_constraints()
    proposed: dict[str, list[dict]] = {}
    real_run = campaign._run_strategy

    def spy(strategy, variants, lab, *args, **kwargs):  # record every row a strategy sends to the lab
        original = lab.run

        def run(rows, shot="shot-1"):
            proposed.setdefault(strategy, []).extend(rows.to_dict("records"))
            return original(rows, shot=shot)

        lab.run = run
        return real_run(strategy, variants, lab, *args, **kwargs)

    def fake_batch(record, fixed, n, seed, recommender_options=None, constraints=None):
        rows = random_proposals(record, fixed, n, seed, constraints=constraints)
        return rows, BaybeBatch(recommended=n, calls=1, repaired=0, rejected=0, measurements=1, failed_as=None,
                                predicted_mah_g=[215.0] * n, warnings=[], elapsed_s=0.0)

    monkeypatch.setattr(campaign, "_run_strategy", spy)
    monkeypatch.setattr(campaign, "baybe_available", lambda: (True, ""))
    monkeypatch.setattr(campaign, "baybe_batch", fake_batch)
    result = run_campaign(shots=2, n=4, fixed={"ni": 0.94}, constraints=constraints, seeds=[0],
                          strategies=["ours", "ours-v1", "random", "expert", "baybe"], iterations=5, particles=8, n_members=2)
    assert set(result.constraints) == {"ni = 0.94", *_HELD}
    assert set(proposed) == {"ours", "ours-v1", "random", "expert", "baybe"}
    space = demo_record.space
    for strategy, rows in proposed.items():
        assert len(rows) == 8, strategy
        for row in rows:
            assert constraints.violations(row, space) == [], (strategy, row)
            assert row["ni"] == 0.94 and space.with_fixed({"ni": 0.94}).row_problems(row) == []
    # the gap is measured against the lab's optimum under the same constraints
    from tools.campaign.virtual_lab import VirtualLab

    free = VirtualLab(0).optimum({"ni": 0.94}).capacity_mah_g
    for rep in result.strategies:
        assert rep.seeds[0].optimum_mah_g < free
        assert rep.seeds[0].optimum_mah_g == pytest.approx(VirtualLab(0).optimum({"ni": 0.94}, constraints=constraints).capacity_mah_g)


def test_expert_moves_the_best_run_into_the_constraints(demo_record: ExperimentRecord) -> None:
    """When no run satisfies the constraints, the expert starts from the best run moved into them, and breaks none."""
    from tools.domain.constraints import value_range

    constraints = _held_constraints().add(value_range("calcination_temp_c", upper=690.0))  # below every record run
    rows = expert_proposals(demo_record, {"ni": 0.94}, 6, 0, constraints=constraints)
    assert len(rows) == 6
    for row in rows.to_dict("records"):
        assert constraints.violations(row, demo_record.space) == []


@pytest.mark.slow
def test_baybe_search_space_is_narrowed_by_the_constraints(demo_record: ExperimentRecord) -> None:
    """BayBE's continuous bounds move to the allowed range and excluded categories are left out of its candidates."""
    pytest.importorskip("baybe")
    from tools.campaign.baybe import _baybe_campaign
    from tools.domain.constraints import fixed_value
    from tools.proposer.relaxation import Relaxation

    constraints = _held_constraints().add(fixed_value("ni", 0.94))
    relax = Relaxation(demo_record.space, constraints.validated(demo_record.space))
    campaign = _baybe_campaign(relax, "capacity_mah_g", None)
    params = {p.name: p for p in campaign.searchspace.parameters}
    assert params["calcination_temp_c"].bounds.upper == 755.0
    candidates = campaign.searchspace.discrete.exp_rep
    assert set(candidates["atmosphere"]) == {"O2"}


def test_campaign_cli_where(tmp_path: Path) -> None:
    out = runner.invoke(app, ["campaign", "--shots", "1", "--n", "3", "--seeds", "0", "--strategy", "random,expert",
                              "--where", "calcination_temp_c<760", "--where", "atmosphere!=air", "--json"])
    assert out.exit_code == 0, out.output
    payload = json.loads(out.stdout)
    assert payload["fixed"] == {"ni": "0.94"}
    assert set(payload["constraints"]) == {"ni = 0.94", *_HELD}
    bad = runner.invoke(app, ["campaign", "--seeds", "0", "--where", "calcination_temp_c<<760"])
    assert "--where" in _one_line_error(bad)


def test_untried_ceiling_holds_the_never_varied_factors() -> None:
    """The gap share a loop can close without trying what the demo record never varied: below 1 on both labs (their
    optima use Ti and Mg, or Nb and Ti, which the records never add), and never below what the record already has."""
    from tools.campaign.simulation import untried_ceiling

    a = untried_ceiling("a", 0)
    assert a.held == {"li_source": "LiOH", "calcination_time_h": 10.0, "atmosphere": "O2", "dopant_ti": 0.0, "dopant_mg": 0.0}
    assert a.record_best_mah_g < a.ceiling_mah_g < a.optimum_mah_g - 2.0  # Ti (+2 at its best) and Mg (+1) are left out
    assert a.share_of_gap == pytest.approx((a.ceiling_mah_g - a.record_best_mah_g) / (a.optimum_mah_g - a.record_best_mah_g))
    b = untried_ceiling("b", 0)
    assert {"dopant_nb", "dopant_ti", "calcination_time_h"} <= set(b.held) and b.held["dopant_nb"] == 0.0
    assert 0.0 < b.share_of_gap < a.share_of_gap < 1.0
    # a factor the user fixes is not "held": fixing the time leaves it out of the list
    fixed = untried_ceiling("a", 0, fixed={"ni": 0.94, "calcination_time_h": 12.0})
    assert "calcination_time_h" not in fixed.held and fixed.optimum_mah_g == pytest.approx(a.optimum_mah_g)
