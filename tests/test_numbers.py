"""Numbers in chat tables: significant digits, never '1.01e+03' (assistant.rendering.numbers)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from assistant.rendering.numbers import cell, sig


@pytest.mark.parametrize(
    ("value", "digits", "text"),
    [
        (1012.3, 3, "1012"),
        (12345.6, 3, "12346"),
        (3.456, 3, "3.46"),
        (0.00042, 3, "0.00042"),
        (0.5, 3, "0.5"),
        (99.96, 3, "100"),
        (-2.375, 3, "-2.38"),
        (0.0, 3, "0"),
        (1e-7, 3, "0.0000001"),
        (140.2, 2, "140"),
        (0.412, 2, "0.41"),
    ],
)
def test_sig(value: float, digits: int, text: str) -> None:
    assert sig(value, digits) == text


def test_cells() -> None:
    assert [cell(None), cell(True), cell(3), cell("Fm-3m"), cell(1156.2)] == ["-", "True", "3", "Fm-3m", "1156"]


def test_materials_project_electrode_table_reads_plain_numbers() -> None:
    from assistant.tools.materials_project import _electrode_lines

    e = SimpleNamespace(battery_formula="Li0-1NiO2", battery_id="mp-1_Li", average_voltage=3.912, capacity_grav=274.6,
                        energy_grav=1074.4, stability_charge=0.0514, stability_discharge=None)
    row = _electrode_lines([e])[-1]
    assert row == "| Li0-1NiO2 (mp-1_Li) | 3.91 | 275 | 1074 | 0.0514 | - |"
    assert "e+" not in row and "e-0" not in row
