"""Magpie-style composition features of an electrode: both end members, their difference, the host and the ion.

The usual Magpie statistics (fraction-weighted mean, min, max, range, mean absolute deviation,
mode) of 25 element properties for the charged and the discharged composition and their
difference, host element fractions, the working ion (one-hot and properties), ion contents, the
exact capacity and a charge-balance oxidation state of the redox-active elements: 585 columns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from tools.domain.errors import ElectrodeError
from tools.electrodes.constants import ION_VALENCE, MAX_Z, WORKING_IONS
from tools.electrodes.elements import ELEMENT_PROPERTIES, STATS, element_table, symbol_index

if TYPE_CHECKING:
    import numpy as np

    from tools.electrodes.parsing import ParsedElectrode

#: Elements whose oxidation state is treated as variable (redox-active) by the
#: charge-balance heuristic.
REDOX_ELEMENTS: frozenset[str] = frozenset(
    "Ti V Cr Mn Fe Co Ni Cu Nb Mo Ru Rh Pd Ag Hf Ta W Re Os Ir Pt Au Sn Sb Bi Pb Ce Pr Tb Eu Sm Yb U Np Pu Ge Tl In Te".split()
)
_ANIONS_ALWAYS: dict[str, int] = {"O": -2, "F": -1, "Cl": -1, "Br": -1, "I": -1}
_ANIONS_WITHOUT_O: dict[str, int] = {"S": -2, "Se": -2, "N": -3, "P": -3, "As": -3, "C": -4, "H": -1, "B": -3, "Si": -4}


def fraction_matrix(compositions: Sequence[Mapping[str, float]]) -> np.ndarray:
    """Atomic-fraction matrix of shape ``(n, 103)`` (rows sum to 1)."""
    import numpy as np

    idx = symbol_index()
    w = np.zeros((len(compositions), MAX_Z))
    for i, comp in enumerate(compositions):
        for el, amt in comp.items():
            j = idx.get(el)
            if j is None:
                raise ElectrodeError(f"element {el} (Z > {MAX_Z}) is not supported")
            w[i, j] += amt
    tot = w.sum(axis=1, keepdims=True)
    tot[tot == 0] = 1.0
    return w / tot


def magpie_stats(w: np.ndarray) -> np.ndarray:
    """Magpie statistics of every element property for fraction rows ``w``.

    Returns an array of shape ``(n, len(ELEMENT_PROPERTIES) * 6)`` ordered property-major,
    statistics in :data:`STATS` order.
    """
    import numpy as np

    _, props, _ = element_table()
    n = w.shape[0]
    present = w > 0
    mean = w @ props  # (n, P)
    big = np.where(present[:, :, None], props[None, :, :], np.inf)
    mn = big.min(axis=1)
    big = np.where(present[:, :, None], props[None, :, :], -np.inf)
    mx = big.max(axis=1)
    avgdev = np.einsum("ne,nep->np", w, np.abs(props[None, :, :] - mean[:, None, :]))
    # mode: property of the most abundant element (ties -> smallest property value)
    wmax = w.max(axis=1, keepdims=True)
    is_mode = np.isclose(w, wmax) & present
    big = np.where(is_mode[:, :, None], props[None, :, :], np.inf)
    mode = big.min(axis=1)
    out = np.stack([mean, mn, mx, mx - mn, avgdev, mode], axis=2)  # (n, P, 6)
    empty = ~present.any(axis=1)
    out[empty] = np.nan
    return out.reshape(n, -1)


def mean_redox_oxidation_state(comp: Mapping[str, float]) -> float:
    """Average oxidation state of redox-active elements by charge balance (heuristic).

    Non-redox elements take fixed oxidation states (anions O/F/Cl/Br/I always; S, Se, N,
    P, C, H, B, Si are anions only when no oxygen is present, otherwise their highest
    common positive state); the remaining charge is shared by redox-active elements.
    Returns NaN for anion-free (alloy) compositions or when no redox element is present.
    """
    import math

    has_o = comp.get("O", 0.0) > 0
    anion_present = any(comp.get(a, 0.0) > 0 for a in _ANIONS_ALWAYS) or (
        not has_o and any(comp.get(a, 0.0) > 0 for a in ("S", "Se", "N", "Te"))
    )
    n_redox = sum(a for el, a in comp.items() if el in REDOX_ELEMENTS and not (el == "Te" and not has_o))
    if not anion_present or n_redox <= 0:
        return math.nan
    _, props, _ = element_table()
    idx = symbol_index()
    j_max = ELEMENT_PROPERTIES.index("max_oxidation_state")
    charge = 0.0
    for el, a in comp.items():
        if el in REDOX_ELEMENTS and not (el == "Te" and not has_o):
            continue
        ox: float
        if el in _ANIONS_ALWAYS:
            ox = _ANIONS_ALWAYS[el]
        elif not has_o and el in _ANIONS_WITHOUT_O:
            ox = _ANIONS_WITHOUT_O[el]
        elif el in ION_VALENCE:
            ox = ION_VALENCE[el]
        else:
            ox = float(props[idx[el], j_max]) if el in idx else 0.0
        charge += ox * a
    return -charge / n_redox


def feature_names() -> list[str]:
    """Names of the columns returned by :func:`featurize`, in order."""
    symbols, _, _ = element_table()
    names: list[str] = []
    for part in ("charged", "discharged", "delta"):
        names += [f"{part}_{p}_{s}" for p in ELEMENT_PROPERTIES for s in STATS]
    names += [f"host_frac_{s}" for s in symbols]
    names += [f"ion_is_{i}" for i in WORKING_IONS]
    names += [f"ion_{p}" for p in ("valence", "X", "average_ionic_radius", "ionization_energy", "atomic_mass", "molar_volume", "melting_point")]
    names += [
        "ion_per_host_atom_charged",
        "ion_per_host_atom_discharged",
        "delta_ion_per_host_atom",
        "electrons_per_host_atom",
        "ion_fraction_charged",
        "ion_fraction_discharged",
        "delta_ion_fraction",
        "gravimetric_capacity_exact",
        "host_mass_per_atom",
        "n_host_elements",
        "redox_ox_state_charged",
        "redox_ox_state_discharged",
        "redox_ox_state_delta",
        "redox_atom_fraction_host",
        "electrons_per_redox_atom",
    ]
    return names


def featurize(electrodes: Sequence[ParsedElectrode]) -> np.ndarray:
    """Feature matrix for validated electrodes; columns are :func:`feature_names`.

    Contains Magpie statistics of the charged and discharged compositions and their
    difference, host element fractions, working-ion one-hot and properties, ion
    content/fraction descriptors, the exact gravimetric capacity and charge-balance
    oxidation-state descriptors of the redox-active elements.
    """
    import numpy as np

    n = len(electrodes)
    wc = fraction_matrix([e.charged for e in electrodes])
    wd = fraction_matrix([e.discharged for e in electrodes])
    sc = magpie_stats(wc)
    sd = magpie_stats(wd)
    hosts = [{el: a for el, a in e.discharged.items() if el != e.working_ion} for e in electrodes]
    wh = fraction_matrix(hosts)
    symbols, props, masses = element_table()
    idx = symbol_index()
    ion_cols = [ELEMENT_PROPERTIES.index(p) for p in ("X", "average_ionic_radius", "ionization_energy", "atomic_mass", "molar_volume", "melting_point")]
    onehot = np.zeros((n, len(WORKING_IONS)))
    ionp = np.zeros((n, 1 + len(ion_cols)))
    scal = np.zeros((n, 15))
    for i, e in enumerate(electrodes):
        ion = e.working_ion
        onehot[i, WORKING_IONS.index(ion)] = 1.0
        ionp[i, 0] = e.valence
        ionp[i, 1:] = props[idx[ion], ion_cols]
        host_atoms = sum(hosts[i].values())
        n_c = e.charged.get(ion, 0.0)
        n_d = e.discharged.get(ion, 0.0)
        host_mass = sum(masses[idx[el]] * a for el, a in hosts[i].items())
        ox_c = mean_redox_oxidation_state(e.charged)
        ox_d = mean_redox_oxidation_state(e.discharged)
        n_redox = sum(a for el, a in hosts[i].items() if el in REDOX_ELEMENTS)
        scal[i] = [
            n_c / host_atoms,
            n_d / host_atoms,
            e.delta_ion / host_atoms,
            e.valence * e.delta_ion / host_atoms,
            n_c / (n_c + host_atoms),
            n_d / (n_d + host_atoms),
            n_d / (n_d + host_atoms) - n_c / (n_c + host_atoms),
            e.gravimetric_capacity_mah_g,
            host_mass / host_atoms,
            float(len(hosts[i])),
            ox_c,
            ox_d,
            ox_d - ox_c,
            n_redox / host_atoms,
            e.valence * e.delta_ion / n_redox if n_redox > 0 else np.nan,
        ]
    return np.hstack([sc, sd, sd - sc, wh, onehot, ionp, scal])
