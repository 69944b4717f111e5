"""Physical constants, working ions and the shipped table's provenance."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Final

FARADAY_C_PER_MOL: Final[float] = 96485.33212331001
"""Faraday constant in C/mol (CODATA 2018, the value scipy and pymatgen use; the rounded 96485.33212 is off by 1e-7 mAh/g)."""

AMU_PER_A3_TO_G_PER_CM3: Final[float] = 1.66053906660
"""1 amu per cubic angstrom in g/cm3."""

ION_VALENCE: Final[dict[str, int]] = {
    "Li": 1, "Na": 1, "K": 1, "Rb": 1, "Cs": 1,
    "Mg": 2, "Ca": 2, "Zn": 2,
    "Al": 3, "Y": 3,
}
"""Formal charge of each supported working ion; with these Faraday's law reproduces every capacity of the table."""

WORKING_IONS: Final[tuple[str, ...]] = tuple(ION_VALENCE)
"""Supported working ions in a fixed order (the one-hot features)."""

ION_NAMES: Final[dict[str, str]] = {
    "lithium": "Li", "sodium": "Na", "potassium": "K", "rubidium": "Rb", "caesium": "Cs", "cesium": "Cs",
    "magnesium": "Mg", "calcium": "Ca", "zinc": "Zn", "aluminium": "Al", "aluminum": "Al", "yttrium": "Y",
}
"""Element names of the working ions, as people write them."""

MAX_Z: Final[int] = 103
"""Heaviest element with element data for the features (lawrencium)."""

HOST_RTOL: Final[float] = 1e-6
"""Relative tolerance within which two hosts count as the same."""

SNAPSHOT_DATE: Final[str] = "2026-11-30"
"""When knowledge/electrodes/electrodes.csv was copied from the Materials Project Battery Explorer export."""

SNAPSHOT_LABEL: Final[str] = f"snapshot of the Materials Project Battery Explorer, copied {SNAPSHOT_DATE}"

LICENCE_NOTE: Final[str] = (
    "Materials Project Battery Explorer data, CC BY 4.0 (K. Persson et al., \"The Materials Project\"); "
    "DFT (GGA/GGA+U) values, not measurements"
)


def shipped_table() -> Path:
    """Path of the shipped Battery Explorer table (knowledge/electrodes/electrodes.csv), the embedded default."""
    return Path(str(resources.files("knowledge") / "electrodes" / "electrodes.csv"))
