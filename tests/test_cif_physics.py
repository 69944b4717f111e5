"""Physical check with CHGNet: loads offline, sound structures pass, broken ones are flagged, --fast skips it."""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from assistant.cif_repair import repair_template
from tools.domain.errors import ModelError
from tools.structures import physics as cif_physics
from tools.structures.hull import energy_above_hull
from tools.structures.models import (
    CHECK_CODES,
    CifValidationResult,
    ReferenceEntry,
    ValidateCifInput,
)
from tools.structures.parsing import read_structure
from tools.structures.validation import validate_cif_text, validate_cifs

# pymatgen's CifWriter (used here to write test structures) warns about repeated P1 labels.
pytestmark = pytest.mark.filterwarnings("ignore:Site labels are not unique:UserWarning")

DATA = Path(__file__).parent / "data" / "cif"
REPO = Path(__file__).resolve().parents[1]


def _no_network(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("the physical check tried to open a network connection")


@pytest.fixture(scope="module")
def potential() -> Any:
    """CHGNet, loaded with every outgoing connection refused (the weights ship in the wheel)."""
    if cif_physics.potential_loaded():
        return cif_physics.load_potential()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", _no_network)
        mp.setattr(socket, "create_connection", _no_network)
        return cif_physics.load_potential()


def licoo2_text() -> str:
    return (DATA / "licoo2_r3m.cif").read_text()


def scaled_licoo2(factor: float) -> str:
    from pymatgen.io.cif import CifWriter

    s = read_structure(licoo2_text())
    s.scale_lattice(s.volume * factor**3)
    return str(CifWriter(s))


def physical_codes(result: CifValidationResult, severity: str | None = None) -> set[str]:
    return {c for c in result.codes(severity) if c.startswith("PHYSICAL_")}  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- loading


def test_module_import_is_lazy() -> None:
    code = "import sys, tools.structures.physics, tools.structures.validation; print('torch' in sys.modules, 'chgnet' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_weights_ship_in_the_package_and_load_offline(potential: Any) -> None:
    import chgnet

    weights = Path(chgnet.__file__).parent / "pretrained" / cif_physics.MODEL_NAME
    assert any(weights.glob("*.pth.tar"))
    assert potential.version == cif_physics.MODEL_NAME
    assert cif_physics.load_potential() is potential  # cached: loaded once per process
    assert "CHGNet 0.3.0" in cif_physics.method_label()


# ----------------------------------------------------------------------------- sound structures


def test_licoo2_numbers_are_finite_and_sound(potential: Any) -> None:
    result = validate_cif_text(licoo2_text(), source="licoo2_r3m.cif", fast=False, repair_template=repair_template())
    phys = result.physical
    assert result.valid and phys.status == "ok", result.checks
    assert phys.n_atoms_evaluated == 4  # the 12-atom hexagonal cell is evaluated as its 4-atom primitive cell
    for value in (phys.energy_per_atom, phys.max_force, phys.pressure_gpa, phys.max_displacement):
        assert value is not None and math.isfinite(value)
    assert phys.energy_per_atom == pytest.approx(-6.36, abs=0.05)  # eV/atom, CHGNet 0.3.0
    assert phys.max_force is not None and phys.max_force < 1.0
    assert phys.max_displacement is not None and phys.max_displacement < 0.1
    assert phys.energy_change_per_atom is not None and phys.energy_change_per_atom <= 0
    assert "PHYSICAL_OK" in result.codes("info")
    assert not physical_codes(result, "warning") and not physical_codes(result, "error")
    assert phys.hull_note == "no reference entries: energy above hull not estimated"
    assert result.repair_prompt is None


def test_published_structures_are_not_flagged(potential: Any) -> None:
    names = ["lifepo4_pnma.cif", "limn2o4_fd3m.cif", "licoo2_p1.cif"]
    results = validate_cifs([ValidateCifInput(cif_text=(DATA / n).read_text(), file_name=n, physical=True) for n in names])
    for name, result in zip(names, results, strict=True):
        assert result.physical.status == "ok", (name, result.physical, result.checks)
        assert result.valid


# ----------------------------------------------------------------------------- broken structures


def test_compressed_cell_is_flagged_by_forces_and_pressure(potential: Any) -> None:
    result = validate_cif_text(scaled_licoo2(0.8), source="compressed", fast=False)
    assert result.physical.status == "flagged"
    assert "PHYSICAL_FORCES_HUGE" in result.codes("error") or "PHYSICAL_PRESSURE_HIGH" in result.codes("warning")
    assert result.physical.pressure_gpa is not None and result.physical.pressure_gpa > 100  # compressed: positive


def test_exploded_cell_is_an_error_although_geometry_passes(potential: Any) -> None:
    text = scaled_licoo2(2.0)
    geometric = validate_cif_text(text, source="exploded")
    assert geometric.valid  # every geometric rule passes (only warnings)
    result = validate_cif_text(text, source="exploded", fast=False, repair_template=repair_template())
    assert not result.valid
    assert "PHYSICAL_ENERGY_HIGH" in result.codes("error")
    assert result.physical.energy_above_baseline is not None and result.physical.energy_above_baseline > 3
    assert result.repair_prompt is not None and "composition baseline" in result.repair_prompt


def test_atoms_flying_apart_are_isolated(potential: Any) -> None:
    result = validate_cif_text(scaled_licoo2(3.0), source="apart", fast=False)
    assert "PHYSICAL_ISOLATED_ATOMS" in result.codes("error")
    assert result.physical.status == "flagged" and result.physical.isolated_atoms > 0
    assert not result.valid


def test_misplaced_atom_moves_in_the_relaxation(potential: Any) -> None:
    from pymatgen.io.cif import CifWriter

    s = read_structure(licoo2_text())
    s.translate_sites([0], [0, 0, 0.08])  # Li pushed 1.1 A along c, towards the O layer
    result = validate_cif_text(str(CifWriter(s)), source="moved", fast=False)
    phys = result.physical
    assert phys.max_displacement is not None and phys.max_displacement > cif_physics.DISPLACEMENT_WARNING
    assert "PHYSICAL_ATOMS_MOVE" in result.codes("warning") | result.codes("error")
    assert phys.energy_change_per_atom is not None and phys.energy_change_per_atom < -0.05


def test_structures_the_potential_cannot_take_are_not_run(potential: Any) -> None:
    disordered = validate_cif_text((DATA / "ncm811_r3m.cif").read_text(), fast=False)
    assert disordered.physical.status == "not_run" and "partly occupied" in (disordered.physical.reason or "")
    assert "PHYSICAL_NOT_RUN" in disordered.codes("info") and disordered.valid
    overlap = validate_cif_text((DATA / "corrupt_overlap.cif").read_text(), fast=False)
    assert overlap.physical.status == "not_run" and "overlap" in (overlap.physical.reason or "")
    garbage = validate_cif_text("not a cif", fast=False)
    assert garbage.physical.status == "not_run"


def test_fast_skips_the_physical_check() -> None:
    result = validate_cif_text(licoo2_text(), fast=True)
    assert result.physical.status == "not_run" and "fast" in (result.physical.reason or "")
    assert "PHYSICAL_NOT_RUN" in result.codes("info")


def test_model_failure_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> None:
        raise ModelError("weights unreadable (test)")

    monkeypatch.setattr(cif_physics, "load_potential", broken)
    result = validate_cif_text(licoo2_text(), fast=False, repair_template=repair_template())
    assert result.valid  # a tool failure is not a finding about the CIF
    assert result.physical.status == "failed" and "weights unreadable" in (result.physical.reason or "")
    assert "PHYSICAL_FAILED" in result.codes("warning")
    assert result.repair_prompt is None  # and it is not sent to a model as something to fix


def test_every_physical_code_is_registered(potential: Any) -> None:
    texts = [licoo2_text(), scaled_licoo2(0.8), scaled_licoo2(2.0), scaled_licoo2(3.0)]
    results = validate_cifs([ValidateCifInput(cif_text=t, physical=True) for t in texts], relax_steps=3)
    for r in results:
        assert r.codes() <= set(CHECK_CODES)
        assert r.physical.relax_steps is None or r.physical.relax_steps <= 3


# ----------------------------------------------------------------------------- convex hull


def test_energy_above_hull_with_reference_entries() -> None:
    refs = [
        ReferenceEntry(formula="Li", energy_per_atom=-1.9, name="Li"),
        ReferenceEntry(formula="Co", energy_per_atom=-7.1, name="Co"),
        ReferenceEntry(formula="O2", energy_per_atom=-4.9, name="O2"),
        ReferenceEntry(formula="LiCoO2", energy_per_atom=-6.40, name="mp-22526"),
    ]
    e_hull, note = energy_above_hull("LiCoO2", -6.30, refs)
    assert e_hull == pytest.approx(0.10, abs=1e-6)
    assert "mp-22526" in note
    below, _ = energy_above_hull("LiCoO2", -6.50, refs)
    assert below == pytest.approx(-0.10, abs=1e-6)  # below the references' hull: negative
    missing, why = energy_above_hull("LiCoO2", -6.3, refs[1:])
    assert missing is None and "lack the element(s) Li" in why
    none, why = energy_above_hull("LiCoO2", -6.3, [])
    assert none is None and "no reference entries" in why


def test_reference_entry_from_pymatgen_entry() -> None:
    from pymatgen.entries.computed_entries import ComputedEntry

    entry = ComputedEntry("Li2O", -14.3, entry_id="mp-1960")
    ref = ReferenceEntry.from_entry(entry)
    assert ref.formula.replace(" ", "") == "Li2O1" and ref.energy_per_atom == pytest.approx(-14.3 / 3)
    assert ref.name == "mp-1960"


def test_hull_estimate_in_the_report(potential: Any) -> None:
    refs = [ReferenceEntry(formula=f, energy_per_atom=e, name=f) for f, e in
            [("Li", -1.9), ("Co", -7.1), ("O2", -4.9), ("Li2O", -4.75), ("CoO", -7.3)]]
    result = validate_cif_text(licoo2_text(), fast=False, reference_entries=refs)
    phys = result.physical
    assert phys.energy_above_hull is not None and math.isfinite(phys.energy_above_hull)
    assert phys.hull_note is not None and "reference entries" in phys.hull_note


# ----------------------------------------------------------------------------- CLI


def test_cli_runs_the_physical_check_unless_fast(potential: Any) -> None:
    from cli.app import app

    runner = CliRunner()
    full = runner.invoke(app, ["validate-cif", str(DATA / "licoo2_r3m.cif"), "--json", "--relax-steps", "5"])
    assert full.exit_code == 0, full.output
    payload = json.loads(full.stdout)
    assert payload["physical"]["status"] == "ok" and payload["physical"]["energy_per_atom"] < -6
    fast = runner.invoke(app, ["validate-cif", str(DATA / "licoo2_r3m.cif"), "--json", "--fast"])
    assert json.loads(fast.stdout)["physical"]["status"] == "not_run"
    human = runner.invoke(app, ["validate-cif", str(DATA / "licoo2_r3m.cif")])
    assert human.exit_code == 0 and "physical check (CHGNet" in human.stdout


def test_assistant_tool_runs_the_physical_check_unless_told_not_to(potential: Any, tmp_path: Path) -> None:
    """A CIF pasted in the chat gets the same physical check as `matassist validate-cif`; physical=false skips it."""
    from assistant.settings import Settings
    from assistant.tools import build_registry
    from assistant.tools.base import ToolContext, run_tool

    spec = build_registry()["validate_cif"]
    ctx = ToolContext(settings=Settings(data_dir=tmp_path))
    full = run_tool(ctx, spec, {"cif_text": licoo2_text(), "file_name": "licoo2.cif"})
    assert full.ok, full.summary
    assert "Physical check (CHGNet" in full.summary and "eV/atom as written" in full.summary
    assert full.data["physical"]["status"] == "ok"
    squeezed = run_tool(ctx, spec, {"cif_text": scaled_licoo2(0.8), "file_name": "compressed.cif"})
    assert "Physical check (CHGNet" in squeezed.summary and ": flagged;" in squeezed.summary
    geometric = run_tool(ctx, spec, {"cif_text": licoo2_text(), "physical": False})
    assert geometric.data["physical"]["status"] == "not_run"
    assert "Physical check: not_run" in geometric.summary
