"""A second virtual lab for Ni-rich NCM ("lab b"), shaped unlike tools/campaign/virtual_lab.py on purpose.

It exists so that the active-learning loop is not tuned to one hidden surface. Like lab a it is
a simulation: nothing it produces is a measurement, and every row it writes carries
``source=synthetic``. Same design space, same interface (`measure`/`run`, `demo_record`,
`optimum`, `true_capacity`, `failure_probability`, `noise_sd`); tools/campaign/labs.py makes
either by name.

How it differs from lab a (each behaviour has a test in tests/test_virtual_lab_b.py):

- **interactions between parameters**:
  - dopant x temperature: Nb and W inhibit grain growth, so the best calcination temperature
    rises by 3 degC per 0.001 of Nb + W, and Nb only helps once the calcination is hot enough to
    take it into the lattice (its benefit is scaled by ``sigmoid((T - 745) / 8)``);
  - Li ratio x atmosphere: in air the best Li/TM ratio is 0.03 higher (Li2CO3 forms on the
    surface and Li is lost), in O2 it is near 1.02 and rises slowly with temperature;
  - time x temperature: a longer dwell lowers the best temperature by 4 degC per hour (the
    thermal budget counts), and the dwell itself prefers 15 h (the record always used 12 h);
  - coating amount x coating temperature: a thicker coating needs a hotter heat treatment
    (the best coating temperature rises 20 degC per 0.001 of coating);
- **a narrower optimum**: capacity falls off the best calcination temperature as a Gaussian of
  width 14 degC (a 14 degC miss costs 63% of the 14 mAh/g peak), and off the best Li ratio
  at 3000 mAh/g per unit ratio squared (0.02 off costs 1.2 mAh/g);
- **a different failure boundary**: a run fails when its *thermal budget* is too high
  (``T + 6 degC per hour over 12 h`` more than 30 degC above the best temperature), when it
  is more than 50 degC too cold, when it is Li-poor (ratio below 1.00) **or Li-rich** (ratio
  above 1.07: residual lithium gels the slurry), when the dopants total more than 0.014,
  or when a coating is heat-treated above 725 degC;
- **heteroscedastic noise**: the noise standard deviation is 0.6 mAh/g for cool calcinations,
  rising to 1.5 mAh/g above about 760 degC (grain growth varies from batch to batch), and
  1.0 mAh/g more in air;
- Mg costs capacity (no benefit), Co has an interior optimum near 0.05, Mn costs 20 mAh/g per
  unit fraction.

The demo record is built like lab a's (634 runs at 92% Ni and 18 at 94%), with this lab's
habits: calcination temperature near-Gaussian around 750 degC, Li ratio usually 1.04, Li
source (LiOH), atmosphere (O2), calcination time (12 h) and the Nb and Ti dopants never varied,
coating temperatures piled on one habitual value per coating (none of them the best), a few
percent failed runs (Li-poor, Li-rich and too hot), most of them discontinued.

The true optimum under fixed values and constraints (`optimum`) is exact: the surface is a sum of
composition (ni, co, mn), calcination + Nb + W (coupled through the temperature), the other
dopants (each alone) and coating, which share only ``ni``. Each group is maximised by
enumerating its whole grid, narrowed by the constraints (calcination x Nb x W: 51,660 x 169
points per Ni level without constraints) with its
own failure probability at most 0.2. Because the combined failure probability is at least
each group's, that relaxation bounds the true optimum from above; the method then checks that
the combined point is attainable (the dopant-total failure included) and raises otherwise, so a
returned optimum is the exact one.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from tools.campaign.virtual_lab import (
    _ATTAINABLE_P_FAIL,
    COATING,
    COMPOSITION,
    Optimum,
    VirtualLab,
    _as_frame,
    _col,
    _py,
    _sigmoid,
    demo_composition_and_coating,
)
from tools.domain.constraints import ConstraintSet
from tools.domain.design_space import DesignSpace, design_space_from_dict
from tools.domain.errors import DesignSpaceError

CALC = ("li_ratio", "li_source", "calcination_temp_c", "calcination_time_h", "atmosphere")
# dopants that act alone: (amplitude mAh/g, best amount, width); Mg has no benefit
_SOLO_DOPANTS = {
    "dopant_zr": (2.5, 0.0020, 0.0010),
    "dopant_al": (2.0, 0.0015, 0.0010),
    "dopant_ti": (3.0, 0.0010, 0.0007),
    "dopant_mg": (0.0, 0.0010, 0.0010),
}
_NB = (5.0, 0.0025, 0.0012)
_W = (3.0, 0.0020, 0.0010)
_DOPANT_MASS_PENALTY = 150.0
_DOPANT_TOTAL_FAIL = 0.014
_T_PEAK = 14.0  # mAh/g at the best calcination temperature
_T_WIDTH = 14.0  # degC
# coating -> (amplitude mAh/g, best heat-treatment degC at 0.004, habitual degC of the demo record)
_COATINGS_B = {
    "B": (4.0, 360.0, 300.0),
    "W": (6.0, 480.0, 700.0),
    "Co": (3.0, 620.0, 700.0),
    "Al": (5.0, 520.0, 650.0),
}
_COATING_WIDTH = 50.0
_COATING_MASS_PENALTY = 150.0


def best_calcination_temp(ni: Any, li_source: Any, time_h: Any, nb: Any, w: Any) -> np.ndarray:
    """Best calcination temperature, degC: falls with Ni and dwell time, rises with Li2CO3 and with Nb + W."""
    ni = np.asarray(ni, dtype=float)
    return (
        745.0
        - 400.0 * (ni - 0.92)
        + np.where(np.asarray(li_source) == "Li2CO3", 25.0, 0.0)
        - 4.0 * (np.asarray(time_h, dtype=float) - 12.0)
        + 3000.0 * (np.asarray(nb, dtype=float) + np.asarray(w, dtype=float))
    )


def best_li_ratio(temp: Any, atmosphere: Any) -> np.ndarray:
    """Best Li/TM ratio: 1.02 in O2 at 740 degC, rising 0.0005 per degC, 0.03 higher in air."""
    return 1.02 + 0.0005 * (np.asarray(temp, dtype=float) - 740.0) + np.where(np.asarray(atmosphere) == "air", 0.03, 0.0)


def _composition(f: Mapping[str, Any]) -> np.ndarray:
    ni, co, mn = (_col(f, c).astype(float) for c in COMPOSITION)
    return 198.0 + 190.0 * (ni - 0.90) + 1600.0 * co * (0.10 - co) - 20.0 * mn


def _calcination(f: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Calcination with Nb and W (coupled through the temperature): value and failure probability."""
    ni = _col(f, "ni").astype(float)
    li = _col(f, "li_ratio").astype(float)
    src = _col(f, "li_source")
    temp = _col(f, "calcination_temp_c").astype(float)
    time = _col(f, "calcination_time_h").astype(float)
    atm = _col(f, "atmosphere")
    nb = _col(f, "dopant_nb").astype(float)
    w = _col(f, "dopant_w").astype(float)
    t_best = best_calcination_temp(ni, src, time, nb, w)
    air = atm == "air"
    value = (
        _T_PEAK * np.exp(-(((temp - t_best) / _T_WIDTH) ** 2))
        - 0.15 * (time - 15.0) ** 2
        - 3000.0 * (li - best_li_ratio(temp, atm)) ** 2
        - np.where(src == "Li2CO3", 3.0 + 50.0 * (ni - 0.80), 0.0)
        - np.where(air, 1.5 + 40.0 * (ni - 0.80), 0.0)
    )
    amp, best, width = _NB
    value += amp * _sigmoid((temp - 745.0) / 8.0) * np.exp(-(((nb - best) / width) ** 2)) * (nb > 0)
    amp, best, width = _W
    value += amp * np.exp(-(((w - best) / width) ** 2)) * (w > 0)
    value -= _DOPANT_MASS_PENALTY * (nb + w)
    budget = temp + 6.0 * (time - 12.0)
    p_hot = _sigmoid((budget - t_best - 30.0) / 5.0)
    p_cold = _sigmoid((t_best - 50.0 - temp) / 5.0)
    p_li_poor = _sigmoid((1.0 - li) / 0.004)
    p_li_rich = _sigmoid((li - 1.07) / 0.004)
    p_fail = 1.0 - (1.0 - p_hot) * (1.0 - p_cold) * (1.0 - p_li_poor) * (1.0 - p_li_rich)
    return value, p_fail


def _solo_dopants(f: Mapping[str, Any]) -> np.ndarray:
    value = np.zeros(len(np.atleast_1d(_col(f, "dopant_zr"))))
    for name, (amp, best, width) in _SOLO_DOPANTS.items():
        d = _col(f, name).astype(float)
        value = value + amp * np.exp(-(((d - best) / width) ** 2)) * (d > 0) - _DOPANT_MASS_PENALTY * d
    return value


def _dopant_total_failure(f: Mapping[str, Any]) -> np.ndarray:
    total = sum(_col(f, n).astype(float) for n in (*_SOLO_DOPANTS, "dopant_nb", "dopant_w"))
    return _sigmoid((np.asarray(total) - _DOPANT_TOTAL_FAIL) / 0.0015)


def best_coating_temp(kind: str, amount: Any) -> np.ndarray:
    """Best coating heat-treatment temperature, degC: rises 20 degC per 0.001 of coating."""
    return _COATINGS_B[kind][1] + 20000.0 * (np.asarray(amount, dtype=float) - 0.004)


def _coating(f: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    kind = np.asarray(_col(f, "coating"))
    amount = _col(f, "coating_amount").astype(float)
    temp = _col(f, "coating_temp_c").astype(float)
    time = _col(f, "coating_time_h").astype(float)
    value = np.zeros(len(kind))
    for name, (amp, _t, _habit) in _COATINGS_B.items():
        mask = kind == name
        if not mask.any():
            continue
        r = amount[mask] / 0.004
        value[mask] = (
            amp * r * np.exp(1.0 - r) * np.exp(-(((temp[mask] - best_coating_temp(name, amount[mask])) / _COATING_WIDTH) ** 2))
            - _COATING_MASS_PENALTY * amount[mask]
            - 0.2 * (time[mask] - 3.0) ** 2 * (amount[mask] > 0)
        )
    p_fail = np.where(kind != "none", _sigmoid((temp - 725.0) / 8.0), 0.0)
    return value, p_fail


@functools.lru_cache(maxsize=64)
def _cached_optimum(space_yaml: str) -> Optimum:
    """The exact optimum over a (narrowed, fixed) space given as YAML: a campaign asks once per seed and strategy."""
    import yaml

    space = design_space_from_dict(yaml.safe_load(space_yaml), origin="lab b optimum")
    return _exact_optimum(space)


class VirtualLabB(VirtualLab):
    """Lab b: interactions, a narrow optimum, another failure boundary, heteroscedastic noise (module docstring)."""

    name = "b"

    def __init__(self, seed: int = 0, noise_mah_g: float = 0.6, space: DesignSpace | None = None):
        super().__init__(seed=seed, noise_mah_g=noise_mah_g, space=space)

    # -- the hidden surface -------------------------------------------------------------
    def true_capacity(self, frame: pd.DataFrame | Mapping[str, Any]) -> np.ndarray:
        """Noise-free capacity (mAh/g) of each row, as if it did not fail."""
        return _true_capacity(_as_frame(frame))

    def failure_probability(self, frame: pd.DataFrame | Mapping[str, Any]) -> np.ndarray:
        """Probability that each row's synthesis fails."""
        return _failure_probability(_as_frame(frame))

    def noise_sd(self, frame: pd.DataFrame | Mapping[str, Any]) -> np.ndarray:
        """0.6 mAh/g (the base) for cool calcinations, up to 1.5 above ~760 degC, +1.0 in air."""
        f = _as_frame(frame)
        temp = _col(f, "calcination_temp_c").astype(float)
        air = _col(f, "atmosphere") == "air"
        return self.noise_mah_g + 0.9 * _sigmoid((temp - 760.0) / 8.0) + np.where(air, 1.0, 0.0)

    # -- the answer key -------------------------------------------------------------------
    def optimum(self, fixed: Mapping[str, Any] | None = None, constraints: ConstraintSet | None = None) -> Optimum:
        """Best true capacity on the grid with `fixed` values held and `constraints` obeyed, among attainable runs (exact; module docstring)."""
        return _cached_optimum(self.search_space(fixed, constraints).to_yaml())

    # -- the demo record -------------------------------------------------------------------
    demo_source = "virtual lab b demo record"

    def _demo_row(self, at_94: bool) -> dict[str, Any]:
        """One run of lab b's demo record, drawn with this lab's habits."""
        rng = self._rng
        row = demo_composition_and_coating(
            rng, at_94, kinds={"B": 0.3, "Al": 0.3, "W": 0.2, "Co": 0.1, "none": 0.1},
            habits={k: v[2] for k, v in _COATINGS_B.items()}, jitter_steps=(-20, 5), hottest=750.0,
        )
        temp = 5 * round(float(rng.normal(750.0, 15.0)) / 5)
        return row | {
            "li_ratio": float(rng.choice([1.0, 1.01, 1.01, 1.02, 1.02, 1.03, 1.03, 1.04, 1.04, 1.04, 1.04, 1.04, 1.05, 1.05, 1.06, 1.07])),
            "li_source": "LiOH",
            "calcination_temp_c": float(min(max(temp, 700), 800)),
            "calcination_time_h": 12.0,
            "atmosphere": "O2",
            "dopant_zr": float(rng.choice([0.001, 0.0015, 0.002, 0.002, 0.003])),
            "dopant_al": float(rng.choice([0.0, 0.0, 0.0005, 0.001, 0.002])),
            "dopant_ti": 0.0,
            "dopant_nb": 0.0,
            "dopant_mg": float(rng.choice([0.0, 0.0, 0.001, 0.002])),
            "dopant_w": float(rng.choice([0.0, 0.0, 0.001, 0.002, 0.003])),
        }


def _true_capacity(f: Mapping[str, Any]) -> np.ndarray:
    calc, _ = _calcination(f)
    coat, _ = _coating(f)
    return np.maximum(np.asarray(_composition(f) + calc + _solo_dopants(f) + coat, dtype=float), 0.0)


def _failure_probability(f: Mapping[str, Any]) -> np.ndarray:
    _, p1 = _calcination(f)
    _, p2 = _coating(f)
    p3 = _dopant_total_failure(f)
    return np.asarray(1.0 - (1.0 - p1) * (1.0 - p2) * (1.0 - p3), dtype=float)


def _exact_optimum(space: DesignSpace) -> Optimum:
    """The exact optimum of lab b over `space` (fixed values held, grids narrowed; module docstring)."""
    lab = VirtualLab(space=space)  # only its grid helpers are used: they read `space`, never the lab's surface

    def levels(name: str) -> list[Any]:
        return lab._levels(space, name)

    best: Optimum | None = None
    for ni in levels("ni"):
        comp = lab._best_group(space, COMPOSITION, {"ni": ni}, lambda g: (_composition(g), np.zeros(len(g))))
        if comp is None:
            continue
        calc = _best_calcination(space, levels, ni)
        if calc is None:
            continue
        solo: dict[str, float] = {}
        for name in _SOLO_DOPANTS:
            lv = np.array(levels(name), dtype=float)
            grid = {d: np.zeros(len(lv)) for d in _SOLO_DOPANTS}
            grid[name] = lv
            solo[name] = float(lv[int(np.argmax(_solo_dopants(grid)))])
        coat = _best_coating(space, levels)
        if coat is None:
            continue
        params: dict[str, Any] = {**comp[0], **calc, **solo, **coat}
        row = pd.DataFrame([params])
        value = float(_true_capacity(row)[0])
        p_fail = float(_failure_probability(row)[0])
        if p_fail > _ATTAINABLE_P_FAIL:
            raise DesignSpaceError(
                f"lab b: the group-wise optimum at ni={ni} fails with probability {p_fail:.2f}; the exact method does not apply"
            )
        if best is None or value > best.capacity_mah_g:
            best = Optimum(params={k: _py(params[k]) for k in space.names}, capacity_mah_g=value, failure_probability=p_fail)
    if best is None:
        raise DesignSpaceError("lab b found no attainable run under these fixed values")
    return best


def _best_calcination(space: DesignSpace, levels: Any, ni: float) -> dict[str, Any] | None:
    names = list(CALC)
    grid = pd.DataFrame(list(itertools.product(*[levels(n) for n in names])), columns=names)
    base = {n: grid[n].to_numpy() for n in names}
    base["ni"] = np.full(len(grid), ni)
    best_val, best_row = -np.inf, None
    for nb in levels("dopant_nb"):
        for w in levels("dopant_w"):
            f = {**base, "dopant_nb": np.full(len(grid), nb), "dopant_w": np.full(len(grid), w)}
            value, p_fail = _calcination(f)
            value = np.where(p_fail <= _ATTAINABLE_P_FAIL, value, -np.inf)
            i = int(np.argmax(value))
            if value[i] > best_val:
                best_val = float(value[i])
                best_row = {**{n: _py(grid[n].iat[i]) for n in names}, "dopant_nb": float(nb), "dopant_w": float(w)}
    return best_row


def _best_coating(space: DesignSpace, levels: Any) -> dict[str, Any] | None:
    combos = []
    for kind in levels("coating"):
        pinned = space.conditional_values({"coating": kind})
        axes = [levels(n) if n not in pinned else [pinned[n]] for n in COATING[1:]]
        for amount, temp, time in itertools.product(*axes):
            combos.append((kind, amount, temp, time))
    frame = pd.DataFrame(combos, columns=list(COATING))
    value, p_fail = _coating(frame)
    value = np.where(p_fail <= _ATTAINABLE_P_FAIL, value, -np.inf)
    i = int(np.argmax(value))
    if not np.isfinite(value[i]):
        return None
    return {n: _py(frame[n].iat[i]) for n in COATING}


__all__ = ["VirtualLabB", "best_calcination_temp", "best_coating_temp", "best_li_ratio"]
