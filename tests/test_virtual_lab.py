"""The virtual lab's documented behaviours (tools/campaign/virtual_lab.py docstring)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.design_rows import random_grid_row
from tools.campaign.virtual_lab import VirtualLab

BASE = {
    "ni": 0.92, "co": 0.04, "mn": 0.04, "li_ratio": 1.035, "li_source": "LiOH",
    "calcination_temp_c": 770.0, "calcination_time_h": 12.0, "atmosphere": "O2",
    "dopant_zr": 0.0, "dopant_al": 0.0, "dopant_ti": 0.0, "dopant_nb": 0.0, "dopant_mg": 0.0,
    "dopant_w": 0.0, "coating": "none", "coating_amount": 0.0, "coating_temp_c": 0.0, "coating_time_h": 0.0,
}


def _rows(**changes_list):
    keys = list(changes_list)
    n = len(changes_list[keys[0]])
    return pd.DataFrame([{**BASE, **{k: changes_list[k][i] for k in keys}} for i in range(n)])


@pytest.fixture(scope="module")
def lab():
    return VirtualLab(seed=0)


def test_nickel_raises_capacity(lab):
    cap = lab.true_capacity(_rows(ni=[0.86, 0.90, 0.94], co=[0.07, 0.05, 0.03], mn=[0.07, 0.05, 0.03]))
    assert cap[0] < cap[1] < cap[2]


def test_best_calcination_temperature_falls_with_nickel(lab):
    temps = np.arange(650, 855, 5.0)

    def best(ni, co, mn):
        frame = _rows(calcination_temp_c=list(temps), ni=[ni] * len(temps), co=[co] * len(temps), mn=[mn] * len(temps))
        return temps[int(np.argmax(lab.true_capacity(frame)))]

    assert best(0.84, 0.08, 0.08) > best(0.92, 0.04, 0.04) > best(0.96, 0.02, 0.02)


def test_li_ratio_has_an_interior_optimum(lab):
    ratios = np.round(np.arange(0.98, 1.0801, 0.005), 3)
    cap = lab.true_capacity(_rows(li_ratio=list(ratios)))
    k = int(np.argmax(cap))
    assert 0 < k < len(ratios) - 1


def test_air_hurts_high_nickel_more(lab):
    low = lab.true_capacity(_rows(atmosphere=["O2", "air"], ni=[0.80] * 2, co=[0.10] * 2, mn=[0.10] * 2))
    high = lab.true_capacity(_rows(atmosphere=["O2", "air"], ni=[0.94] * 2, co=[0.03] * 2, mn=[0.03] * 2))
    assert (high[0] - high[1]) > (low[0] - low[1]) > 0


def test_dopants_cost_mass_but_help_at_small_amounts(lab):
    cap = lab.true_capacity(_rows(dopant_nb=[0.0, 0.002, 0.006]))
    assert cap[1] > cap[0] > cap[2]


def test_coating_helps_near_its_best_temperature_not_the_habitual_one(lab):
    cap = lab.true_capacity(
        _rows(coating=["none", "W", "W"], coating_amount=[0, 0.004, 0.004], coating_temp_c=[0, 700, 520], coating_time_h=[0, 4, 4])
    )
    assert cap[2] > cap[0] + 3  # near its own best temperature it helps clearly
    assert cap[1] < cap[0] + 1  # at the habitual 700 degC it barely helps (costs mass)


def test_too_hot_or_li_poor_runs_fail(lab):
    p = lab.failure_probability(_rows(calcination_temp_c=[770, 850, 770], li_ratio=[1.035, 1.035, 0.98]))
    assert p[0] < 0.05 and p[1] > 0.9 and p[2] > 0.9


def test_noise_is_about_one_point_two(lab):
    frame = pd.concat([_rows(ni=[0.92])] * 2000, ignore_index=True)
    ran = lab.run(frame)
    ok = ran[ran["status"] == "ok"]["capacity_mah_g"].to_numpy()
    assert 1.0 < ok.std() < 1.4
    assert (ran["source"] == "synthetic").all()


def test_failed_runs_are_mostly_discontinued(lab):
    frame = pd.concat([_rows(calcination_temp_c=[850])] * 500, ignore_index=True)
    ran = lab.run(frame)
    failed = ran[ran["status"] == "failed"]
    assert len(failed) > 450
    assert 0.45 < failed["capacity_mah_g"].isna().mean() < 0.75


def test_demo_record_has_the_reference_biases(demo_record):
    f = demo_record.frame
    assert len(f) == 652
    assert (f["ni"] == 0.92).sum() == 634 and (f["ni"] == 0.94).sum() == 18
    for one_valued in ("li_source", "atmosphere", "calcination_time_h", "dopant_ti", "dopant_mg"):
        assert f[one_valued].nunique() == 1
    coated = f[f["coating"] == "B"]
    assert coated["coating_temp_c"].value_counts(normalize=True).iloc[0] > 0.7
    assert 0.03 < (f["status"] == "failed").mean() < 0.2
    assert f["capacity_mah_g"].isna().sum() > 0


def test_optimum_beats_every_sampled_feasible_run(lab):
    opt = lab.optimum({"ni": 0.94})
    assert opt.params["ni"] == 0.94
    assert not lab.space.row_problems(opt.params)
    rng = np.random.default_rng(1)
    best_random = -np.inf
    space = lab.space.with_fixed({"ni": 0.94})
    for _ in range(3000):
        row = random_grid_row(space, rng)
        if space.row_problems(row) or lab.failure_probability(pd.DataFrame([row]))[0] > 0.2:
            continue
        best_random = max(best_random, float(lab.true_capacity(pd.DataFrame([row]))[0]))
    assert np.isfinite(best_random)
    assert opt.capacity_mah_g >= best_random


def test_capacity_is_never_negative_even_in_absurd_corners(lab):
    frame = _rows(calcination_temp_c=[650.0] * 200, li_ratio=[1.08] * 200, calcination_time_h=[20.0] * 200,
                  li_source=["Li2CO3"] * 200, atmosphere=["air"] * 200)
    assert (lab.true_capacity(frame) >= 0).all()
    ran = lab.run(frame)
    assert (ran["capacity_mah_g"].dropna() >= 0).all()
