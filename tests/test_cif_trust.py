"""CIFs from hostile and messy sources: oxidation-state labels, broken symmetry, huge expansions, devices and pipes.

Each case asserts the clean outcome: the right finding with a plain message, never CHECK_FAILED,
never a hang. The property test decorates valid structures with oxidation states and asserts the
verdict does not change.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tools.structures.checks.charge import charge_balance
from tools.structures.models import CifValidationResult, ValidationLimits
from tools.structures.parsing import read_structure
from tools.structures.symops import closure_problem, parse_operation, parse_operations
from tools.structures.validation import validate_cif_text

# pymatgen's CifWriter (used here to write test structures) warns about repeated P1 labels.
pytestmark = pytest.mark.filterwarnings("ignore:Site labels are not unique:UserWarning")

DATA = Path(__file__).parent / "data" / "cif"
REPO = Path(__file__).resolve().parents[1]
LICOO2 = (DATA / "licoo2_r3m.cif").read_text()
SYMMETRIZED = (DATA / "licoo2_symmetrized.cif").read_text()


def problems(result: CifValidationResult) -> list[tuple[str, str, str]]:
    return [(c.severity, c.code, c.message) for c in result.checks if c.severity != "info"]


def messages(result: CifValidationResult, code: str) -> list[str]:
    return [c.message for c in result.checks if c.code == code]


def write_cif(structure: object, symprec: float | None = None) -> str:
    """pymatgen's CIF of a structure (its spglib calls warn about spglib's own error handling; not ours to fix)."""
    from pymatgen.io.cif import CifWriter

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return str(CifWriter(structure, symprec=symprec))


def decorated_licoo2(states: dict[str, float], symmetric: bool = True) -> str:
    structure = read_structure(LICOO2)
    structure.add_oxidation_state_by_element(states)
    return write_cif(structure, symprec=0.01 if symmetric else None)


def fd3m_cif(n_sites: int, seed: int = 1) -> str:
    """A small Fd-3m CIF (symbol only) with n general positions: 192 atoms each after expansion."""
    rng = random.Random(seed)
    rows = "\n".join(f"O{i} O {rng.random():.4f} {rng.random():.4f} {rng.random():.4f} 1" for i in range(n_sites))
    return ("data_big\n_symmetry_space_group_name_H-M 'F d -3 m'\n_symmetry_Int_Tables_number 227\n"
            "_cell_length_a 40\n_cell_length_b 40\n_cell_length_c 40\n_cell_angle_alpha 90\n_cell_angle_beta 90\n"
            "_cell_angle_gamma 90\nloop_\n_atom_site_label\n_atom_site_type_symbol\n_atom_site_fract_x\n"
            "_atom_site_fract_y\n_atom_site_fract_z\n_atom_site_occupancy\n" + rows + "\n")


# ----------------------------------------------------------------------------- oxidation-state labels


@pytest.mark.parametrize(
    ("name", "number", "family", "declared"),
    [
        ("garnet_grossular_ia3d_oxi.cif", 230, None, "Ca +2, Al +3, Si +4, O -2"),
        ("nasicon_na3zr2si2po12_r3c_oxi.cif", 167, "nasicon_nazr2p3o12", "Na +1, Zr +4, Si +4, P +5, O -2"),
        ("llzo_tetragonal_p1_oxi.cif", 142, "garnet_llzo", "Li +1, La +3, Zr +4, O -2"),
        ("li9co7o16_p1_oxi.cif", 12, "layered_limo2", "Li +1, Co +3/+4, O -2"),
    ],
)
def test_published_cifs_with_oxidation_states_are_valid(name: str, number: int, family: str | None, declared: str) -> None:
    """Species labelled Ca2+, Li+ ... with an _atom_type block: every check runs, the declared states are used and said so."""
    text = (DATA / name).read_text()
    assert "_atom_type_oxidation_number" in text
    result = validate_cif_text(text, source=name)
    assert result.valid, problems(result)
    assert "CHECK_FAILED" not in result.codes()
    assert result.spacegroup.detected_number == number
    assert result.rules == family
    assert messages(result, "CHARGE_BALANCED") == [f"the oxidation states declared in the CIF ({declared}) sum to zero; "
                                                   "the checks used them instead of inferring states"]
    assert "BONDS_OK" in result.codes()
    assert all(not any(ch in s.species for ch in "+-") for s in result.sites)  # sites are reported by element
    if family in ("nasicon_nazr2p3o12", "garnet_llzo"):
        assert "RULES_OK" in result.codes() and not result.codes("warning")


def test_li_excess_layered_oxide_keeps_its_family_warnings_only() -> None:
    result = validate_cif_text((DATA / "li9co7o16_p1_oxi.cif").read_text())
    assert result.codes("warning") == {"RULE_SPACEGROUP", "RULE_CONNECTIVITY"}  # a C2/m Li-excess order, not R-3m
    assert result.formula == "Li9Co7O16"


def test_partial_occupancies_with_oxidation_states() -> None:
    """Na2 (2/3) and Si/P (2/3, 1/3) on one 18e site: charge from the declared states times occupancies."""
    result = validate_cif_text((DATA / "nasicon_na3zr2si2po12_r3c_oxi.cif").read_text())
    sites = {s.label: s for s in result.sites}
    assert {s.species for s in sites.values()} >= {"Na0.667", "Si0.667P0.333"}
    assert "SPLIT_SITES" not in result.codes() and "ATOMS_OVERLAP" not in result.codes()


@pytest.mark.parametrize("symmetric", [True, False])
def test_mixed_site_with_mixed_declared_states(symmetric: bool) -> None:
    """NCM811 with Ni2+ 0.1, Ni3+ 0.7, Co3+ 0.1, Mn4+ 0.1 on one site (one label per site in pymatgen's P1 rows)."""
    from pymatgen.core import Species

    structure = read_structure((DATA / "ncm811_r3m.cif").read_text())
    mixed = {Species("Ni", 2): 0.1, Species("Ni", 3): 0.7, Species("Co", 3): 0.1, Species("Mn", 4): 0.1}
    for i, site in enumerate(structure):
        el = site.species.elements[0].symbol
        new = {"Li": {Species("Li", 1): 1}, "O": {Species("O", -2): 1}}.get(el, mixed)
        structure.replace(i, new, label=site.label)  # type: ignore[arg-type]
    result = validate_cif_text(write_cif(structure, symprec=0.01 if symmetric else None))
    assert result.valid and not result.codes("warning"), problems(result)
    assert "Ni +2/+3" in messages(result, "CHARGE_BALANCED")[0] and "RULES_OK" in result.codes()
    assert {s.species for s in result.sites} in ({"Li", "Ni0.8Co0.1Mn0.1", "O"}, {"Li", "Mn0.1Co0.1Ni0.8", "O"})


def test_chloride_for_oxide_is_flagged_by_the_charge_check() -> None:
    """LiCoO2 with O replaced by Cl balances only with Co +1: unusual for Co, and outside the layered family's M range."""
    text = LICOO2.replace("'Li Co O2'", "'Li Co Cl2'").replace("O1 O 6 c", "Cl1 Cl 6 c")
    result = validate_cif_text(text)
    assert messages(result, "CHARGE_UNUSUAL_STATE") == [
        "Li1Co1Cl2 balances only with an unusual oxidation state: Co +1 (usual: +2, +3, +4) (e.g. Li +1, Co +1, Cl -1)"]
    assert result.codes("warning") == {"CHARGE_UNUSUAL_STATE"}
    named = validate_cif_text(text, rules="layered_limo2")
    assert "role M (Co) has oxidation state +1 (from the charge balance)" in " ".join(messages(named, "RULE_OXIDATION_STATE"))
    assert not named.valid


def test_declared_unusual_states_are_flagged() -> None:
    """Li+ Co+ O- sums to zero but Co +1 and O -1 are unusual, and outside the layered family's ranges."""
    result = validate_cif_text(decorated_licoo2({"Li": 1, "Co": 1, "O": -1}))
    assert sorted(messages(result, "CHARGE_UNUSUAL_STATE")) == [
        "the CIF declares Co +1, an unusual oxidation state for Co (usual: +2, +3, +4)",
        "the CIF declares O -1, an unusual oxidation state for O (usual: -2)"]
    assert {c.severity for c in result.checks if c.code == "RULE_OXIDATION_STATE"} == {"error"}
    assert any("(declared in the CIF)" in m for m in messages(result, "RULE_OXIDATION_STATE"))
    assert not result.valid


def test_declared_states_that_do_not_sum_to_zero() -> None:
    result = validate_cif_text(decorated_licoo2({"Li": 1, "Co": 2, "O": -2}, symmetric=False))
    assert messages(result, "CHARGE_IMBALANCE") == [
        "the oxidation states declared in the CIF (Li +1, Co +2, O -2) sum to -3 per cell, not 0"]
    assert result.codes("error") == {"CHARGE_IMBALANCE"}


def test_states_declared_for_some_types_only_are_not_used() -> None:
    text = decorated_licoo2({"Li": 1, "Co": 3, "O": -2}).replace("  Co3+  3.0\n", "")
    result = validate_cif_text(text)
    assert messages(result, "OXIDATION_STATES_IGNORED") == [
        "the CIF declares oxidation states for some atom types but not for Co3+; states were inferred from the "
        "composition instead"]
    assert result.valid and "charge balanced with usual oxidation states" in messages(result, "CHARGE_BALANCED")[0]


# ----------------------------------------------------------------------------- clear errors for broken CIFs


def test_unknown_element_is_a_clear_error() -> None:
    result = validate_cif_text(LICOO2.replace("Co1 Co 3 b", "Co1 Xx 3 b").replace("'Li Co O2'", "'Li Xx O2'"))
    assert problems(result) == [("error", "UNKNOWN_ELEMENT", "the atom type 'Xx' (site Co1) is not a chemical element; "
                                                             "use an element symbol, optionally with its charge (Co, Co3+)")]


@pytest.mark.parametrize("number", ["999", "0", "abc", "166.5"])
def test_bad_space_group_number_is_a_clear_error(number: str) -> None:
    result = validate_cif_text(LICOO2.replace("_symmetry_Int_Tables_number 166", f"_symmetry_Int_Tables_number {number}"))
    assert messages(result, "SPACEGROUP_NUMBER_INVALID") == [
        f"the declared space-group number '{number}' is not a space group (a whole number from 1 to 230); give the "
        "right number or remove it"]
    assert result.codes("error") == {"SPACEGROUP_NUMBER_INVALID"}  # the symbol still gives the symmetry


def test_duplicate_labels_are_errors_where_they_must_be_unique() -> None:
    twice = validate_cif_text(LICOO2.replace("Co1 Co 3 b", "Li1 Co 3 b"))
    assert problems(twice) == [("error", "LABEL_DUPLICATE", "atom-site labels are used more than once: Li1 (2 positions); "
                                                            "each site of the asymmetric unit needs its own label (e.g. O1, O2)")]
    copied = validate_cif_text(LICOO2.replace("O1 O 6 c 0 0 0.2396 1", "O1 O 6 c 0 0 0.2396 1\nO1 O 6 c 0 0 0.2396 1"))
    assert "atom-site row(s) O1 are repeated with the same position" in messages(copied, "LABEL_DUPLICATE")[0]
    assert not copied.valid


def test_repeated_labels_of_a_pymatgen_p1_listing_are_information() -> None:
    result = validate_cif_text((DATA / "licoo2_p1.cif").read_text())
    assert result.valid and not result.codes("warning")
    assert [c.severity for c in result.checks if c.code == "LABEL_DUPLICATE"] == ["info"]


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ("'-x, -y, -z'", "'-x, -q, -z'", "operation 2 ('-x, -q, -z') cannot be used: the component '-q' cannot be read"),
        ("'-y, x-y, z'", "'-y, x-y'", "operation 3 ('-y, x-y') cannot be used: it has 2 component(s), not three"),
        ("'-y, x-y, z'", "'hello'", "operation 3 ('hello') cannot be used: it has 1 component(s), not three"),
        ("'-y, x-y, z'", "'-y, -y, z'", "operation 3 ('-y, -y, z') cannot be used: it is not a symmetry operation"),
        ("'-y, x-y, z'", "'-y, x-y, z+1/5'", "symmetry operations listed are not a group: the product of operations"),
    ],
)
def test_unparseable_symmetry_operations_are_clear_errors(old: str, new: str, reason: str) -> None:
    assert old in SYMMETRIZED
    result = validate_cif_text(SYMMETRIZED.replace(old, new, 1))
    assert result.codes("error") == {"SYMMETRY_OPERATION_INVALID"}
    assert reason in messages(result, "SYMMETRY_OPERATION_INVALID")[0]


def test_operation_reader_accepts_the_usual_spellings() -> None:
    for text in ["x,y,z", "-x+y, -x, z+1/3", "1/2+x, 1/2-y, z", "x-y+0.66667, x+1/3, -z+1/3", "+X, -Y, 0.25-Z"]:
        parse_operation(text)
    assert closure_problem(parse_operations(["x,y,z", "-x,-y,-z"])) is None
    assert "identity" in (closure_problem(parse_operations(["-x,-y,-z"])) or "")


# ----------------------------------------------------------------------------- cost limits


def test_a_small_file_that_expands_to_48000_atoms_is_refused_quickly() -> None:
    text = fd3m_cif(250)
    assert len(text) < 9000
    start = time.perf_counter()
    result = validate_cif_text(text, source="big.cif")
    seconds = time.perf_counter() - start
    assert seconds < 10, seconds  # pymatgen's expansion alone would take minutes
    assert problems(result) == [("error", "EXPANSION_TOO_LARGE", messages(result, "EXPANSION_TOO_LARGE")[0])]
    message = messages(result, "EXPANSION_TOO_LARGE")[0]
    assert message.startswith("the 250 atom sites would expand to 47,") and "under 192 symmetry operations" in message
    assert "more than the limit of 5,000 (expanded_atoms_limit, --max-atoms)" in message
    assert result.n_sites == 0 and result.formula is None


def test_the_atom_limit_is_a_setting() -> None:
    small = ValidationLimits(expanded_atoms_limit=100)
    p1 = validate_cif_text((DATA / "llzo_tetragonal_p1_oxi.cif").read_text(), limits=small)
    assert messages(p1, "EXPANSION_TOO_LARGE")[0].startswith("the CIF lists 192 atoms, more than the limit of 100")
    special = validate_cif_text((DATA / "limn2o4_fd3m.cif").read_text(), limits=ValidationLimits(expanded_atoms_limit=56))
    assert special.valid  # 3 sites x 192 operations, but on special positions: 56 atoms, counted exactly


def test_the_time_limit_stops_the_checks_and_says_which_did_not_run() -> None:
    result = validate_cif_text(LICOO2, limits=ValidationLimits(time_limit_s=1e-6))
    assert result.codes("error") == {"TIME_LIMIT"}
    message = messages(result, "TIME_LIMIT")[0]
    assert "over the per-file time limit of 1e-06 s (time_limit_s, --time-limit)" in message
    assert message.endswith("not run: the cell, formula, distance, symmetry, site, charge, structure-family, "
                            "reference check(s)")


def test_a_few_hundred_atoms_validate_in_about_a_second() -> None:
    text = (DATA / "llzo_tetragonal_p1_oxi.cif").read_text()
    validate_cif_text(text)  # warm-up: imports and symmetry tables
    start = time.perf_counter()
    result = validate_cif_text(text)
    assert result.valid and time.perf_counter() - start < 5  # about 0.3 s here; slack for shared CPUs


# ----------------------------------------------------------------------------- files: devices, pipes, size


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "cli.app", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env=env)


@pytest.mark.skipif(not Path("/dev/zero").exists() or not hasattr(os, "mkfifo"), reason="needs /dev/zero and mkfifo")
def test_devices_and_pipes_are_refused_without_hanging(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.cif"
    os.mkfifo(fifo)  # nobody writes to it: opening it for reading would block forever
    done = run_cli("validate-cif", "/dev/zero", str(fifo), "--fast")
    assert done.returncode == 2, done.stderr
    assert "/dev/zero: not a regular file (a character device); give the path of a CIF file" in done.stderr
    piped = run_cli("validate-cif", str(fifo), "--fast")
    assert piped.returncode == 2 and "pipe.cif: not a regular file (a named pipe)" in piped.stderr
    assert "Traceback" not in done.stderr + piped.stderr


def test_oversized_files_and_folders_are_refused(tmp_path: Path) -> None:
    from cli.app import app

    huge = tmp_path / "huge.cif"
    with huge.open("wb") as fh:
        fh.truncate(25_000_000)  # sparse: nothing is written or read
    runner = CliRunner()
    too_big = runner.invoke(app, ["validate-cif", str(huge), "--fast"])
    assert too_big.exit_code == 2 and "25,000,000 bytes, more than the 20,000,000-byte limit for a CIF" in too_big.output
    folder = runner.invoke(app, ["validate-cif", str(tmp_path), "--fast"])
    assert folder.exit_code == 2 and "is a folder, not a CIF file" in folder.output


def test_cli_limit_options(tmp_path: Path) -> None:
    from cli.app import app

    runner = CliRunner()
    refused = runner.invoke(app, ["validate-cif", str(DATA / "licoo2_r3m.cif"), "--fast", "--max-atoms", "5", "--json"])
    assert refused.exit_code == 1
    assert [c["code"] for c in json.loads(refused.stdout)["checks"] if c["severity"] == "error"] == ["EXPANSION_TOO_LARGE"]
    ok = runner.invoke(app, ["validate-cif", str(DATA / "licoo2_r3m.cif"), "--fast", "--max-atoms", "12",
                             "--time-limit", "30", "--json"])
    assert ok.exit_code == 0, ok.output


def test_the_assistant_tool_uses_the_settings_limits(tmp_path: Path) -> None:
    from assistant.settings import Settings
    from assistant.tools import build_registry
    from assistant.tools.base import ToolContext, run_tool

    spec = build_registry()["validate_cif"]
    ctx = ToolContext(settings=Settings(data_dir=tmp_path, cif_expanded_atoms_limit=5000))
    refused = run_tool(ctx, spec, {"cif_text": fd3m_cif(250), "physical": False})
    assert "EXPANSION_TOO_LARGE" in refused.summary and refused.data["valid"] is False
    tight = ToolContext(settings=Settings(data_dir=tmp_path, cif_expanded_atoms_limit=5))
    small = run_tool(tight, spec, {"cif_text": LICOO2, "physical": False})
    assert [c["code"] for c in small.data["checks"] if c["severity"] == "error"] == ["EXPANSION_TOO_LARGE"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs mkfifo")
def test_an_attached_pipe_is_refused_in_one_line(tmp_path: Path) -> None:
    """An attached pipe is refused before anything opens it, in one line naming what was expected."""
    from assistant.service import Assistant
    from assistant.settings import Settings
    from tools.domain.errors import MatassistError

    fifo = tmp_path / "x.cif"
    os.mkfifo(fifo)
    with pytest.raises(MatassistError) as err:
        Assistant(Settings(data_dir=tmp_path / "data")).ask("check this structure file", [fifo])
    assert str(err.value) == f"attachment {fifo}: not a regular file (a named pipe); give the path of a CIF file"


# ----------------------------------------------------------------------------- property: labels never change the verdict

VALID_FIXTURES = [
    "licoo2_r3m.cif", "licoo2_p1.cif", "ncm811_r3m.cif", "lifepo4_pnma.cif", "limn2o4_fd3m.cif", "nazr2p3o12_r3c.cif",
    "llzo_cubic_ia3d.cif", "llto_cubic_pm3m.cif", "garnet_grossular_ia3d_oxi.cif", "nasicon_na3zr2si2po12_r3c_oxi.cif",
    "li9co7o16_p1_oxi.cif", "llzo_tetragonal_p1_oxi.cif",
]


def _balanced_states(structure: object) -> dict[str, float]:
    import math

    amounts: dict[str, float] = {}
    for sp, amt in structure.composition.items():  # type: ignore[attr-defined]
        amounts[sp.symbol] = amounts.get(sp.symbol, 0.0) + float(amt)
    whole = [round(a) for a in amounts.values() if abs(a - round(a)) < 1e-6 and round(a) > 0]
    units = math.gcd(*whole) if whole else 1
    verdict = charge_balance({el: a / units for el, a in amounts.items()})
    assert verdict.balanced and not verdict.unusual, verdict.message
    return verdict.oxidation_states


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(VALID_FIXTURES), st.booleans(), st.sampled_from([0.0, 0.03]), st.integers(0, 2**16))
def test_oxidation_state_labels_never_change_the_verdict(name: str, symmetric: bool, rattle: float, seed: int) -> None:
    """The same structure written plain and with balanced oxidation states (Li+, Mn3.5+ ...) gets the same verdict."""
    import numpy as np

    structure = read_structure((DATA / name).read_text())
    if rattle:
        shifts = np.random.default_rng(seed).normal(scale=rattle, size=(len(structure), 3))
        for i, shift in enumerate(shifts):
            structure.translate_sites([i], shift, frac_coords=False, to_unit_cell=True)
    symprec = 0.01 if symmetric else None
    plain = validate_cif_text(write_cif(structure, symprec))
    decorated = structure.copy()
    decorated.add_oxidation_state_by_element(_balanced_states(structure))
    text = write_cif(decorated, symprec)
    assert "_atom_type_oxidation_number" in text
    labelled = validate_cif_text(text)
    assert labelled.valid == plain.valid, (problems(plain), problems(labelled))
    assert labelled.codes("error") == plain.codes("error")
    assert labelled.codes("warning") == plain.codes("warning")
    assert "CHECK_FAILED" not in labelled.codes()
    if plain.valid:
        assert "the checks used them instead of inferring states" in messages(labelled, "CHARGE_BALANCED")[0]
