"""CIF validation: published structures pass, corrupted ones fail with the right codes, nothing crashes."""

from __future__ import annotations

import json
import string
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from typer.testing import CliRunner

from assistant.cif_repair import repair_template
from tools.domain.errors import CifError
from tools.structures.checks.charge import charge_balance
from tools.structures.models import CHECK_CODES, CifValidationResult, ValidateCifInput
from tools.structures.parsing import read_structure
from tools.structures.prototype import prototype_structure
from tools.structures.repair import REPAIR_TEMPLATE_VARIABLES
from tools.structures.rules import list_families, load_all_families, load_family, select_family
from tools.structures.spacegroups import space_group_number
from tools.structures.validation import decode_cif_bytes, validate_cif_text

# pymatgen's CifWriter (used here to write test structures) warns about repeated P1 labels.
pytestmark = pytest.mark.filterwarnings("ignore:Site labels are not unique:UserWarning")

DATA = Path(__file__).parent / "data" / "cif"
REPO = Path(__file__).resolve().parents[1]
REPAIR_TEMPLATE = repair_template()


def check(name: str, **kwargs: object) -> CifValidationResult:
    return validate_cif_text(decode_cif_bytes((DATA / name).read_bytes()), source=name, repair_template=REPAIR_TEMPLATE,
                             **kwargs)  # type: ignore[arg-type]


def sites_by_element(result: CifValidationResult) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for site in result.sites:
        found.setdefault(site.species, set()).add(site.wyckoff or "?")
    return found


# ----------------------------------------------------------------------------- published structures


@pytest.mark.parametrize(
    ("name", "number", "family"),
    [
        ("licoo2_r3m.cif", 166, "layered_limo2"),
        ("licoo2_symmetrized.cif", 166, "layered_limo2"),
        ("licoo2_p1.cif", 166, "layered_limo2"),
        ("licoo2_rhombohedral_primitive.cif", 166, "layered_limo2"),
        ("ncm811_r3m.cif", 166, "layered_limo2"),
        ("lifepo4_pnma.cif", 62, "olivine_lifepo4"),
        ("limn2o4_fd3m.cif", 227, "spinel_limn2o4"),
        ("nazr2p3o12_r3c.cif", 167, "nasicon_nazr2p3o12"),
        ("llzo_cubic_ia3d.cif", 230, "garnet_llzo"),
        ("llto_cubic_pm3m.cif", 221, "perovskite_llto"),
    ],
)
def test_published_structures_are_valid(name: str, number: int, family: str) -> None:
    result = check(name)
    assert result.valid, [c for c in result.checks if c.severity != "info"]
    assert result.spacegroup.detected_number == number
    assert result.rules == family and result.rules_selected_by == "auto"
    assert "RULES_OK" in result.codes()
    assert "CHARGE_BALANCED" in result.codes()
    assert not result.codes("warning"), [c.message for c in result.checks if c.severity == "warning"]
    assert result.repair_prompt is None


def test_licoo2_sites_and_polyhedra() -> None:
    result = check("licoo2_r3m.cif")
    assert result.formula == "LiCoO2"
    assert result.codes() >= {"SPACEGROUP_OK", "FORMULA_OK", "BONDS_OK"}
    by = {s.species: s for s in result.sites}
    assert {by["Li"].wyckoff, by["Co"].wyckoff} == {"3a", "3b"}
    assert by["O"].wyckoff == "6c"
    assert by["Co"].coordination_number == 6 and by["Co"].polyhedron == "octahedron"
    assert by["Co"].mean_bond_length == pytest.approx(1.92, abs=0.01)
    assert by["Li"].mean_bond_length == pytest.approx(2.09, abs=0.01)


@pytest.mark.parametrize("name", ["licoo2_rhombohedral_primitive.cif", "licoo2_p1.cif"])
def test_other_settings_read_in_the_standard_setting(name: str) -> None:
    result = check(name)
    assert result.valid
    assert "SPACEGROUP_P1" in result.codes("info")  # written in P1: information, not an error
    found = sites_by_element(result)
    assert found["Li"] <= {"3a", "3b"} and found["Co"] <= {"3a", "3b"} and found["Li"] != found["Co"]
    assert found["O"] == {"6c"}


def test_olivine_spinel_nasicon_sites() -> None:
    lfp = sites_by_element(check("lifepo4_pnma.cif"))
    assert lfp == {"Li": {"4a"}, "Fe": {"4c"}, "P": {"4c"}, "O": {"4c", "8d"}}
    lmo = sites_by_element(check("limn2o4_fd3m.cif"))
    assert lmo == {"Li": {"8a"}, "Mn": {"16d"}, "O": {"32e"}}
    nzp = check("nazr2p3o12_r3c.cif")
    assert sites_by_element(nzp) == {"Na": {"6b"}, "Zr": {"12c"}, "P": {"18e"}, "O": {"36f"}}
    shapes = {s.species: s.polyhedron for s in nzp.sites}
    assert shapes["Zr"] == "octahedron" and shapes["P"] == "tetrahedron"


def test_garnet_framework_sites() -> None:
    found = sites_by_element(check("llzo_cubic_ia3d.cif"))
    assert found["La"] == {"24c"} and found["Zr"] == {"16a"} and found["O"] == {"96h"}
    assert found["Li0.56"] == {"24d"} and found["Li0.44"] == {"96h"}


def test_split_sites_are_not_overlaps() -> None:
    # Li2 (96h, occupancy 0.44) pairs are 0.82 A apart: alternatives, not a short contact.
    result = check("llzo_cubic_ia3d.cif")
    assert not result.codes() & {"ATOMS_OVERLAP", "BOND_TOO_SHORT"}
    from pymatgen.io.cif import CifWriter

    lco = read_structure((DATA / "licoo2_p1.cif").read_text())
    lco.replace(0, {"Li": 0.5}, coords=lco[0].coords + [0, 0, 0.15], coords_are_cartesian=True)
    lco.append({"Li": 0.5}, lco[0].coords - [0, 0, 0.3], coords_are_cartesian=True)
    closer = validate_cif_text(str(CifWriter(lco)))
    assert "SPLIT_SITES" in closer.codes("info") and "ATOMS_OVERLAP" not in closer.codes()


# ----------------------------------------------------------------------------- corruptions


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("corrupt_overlap.cif", "ATOMS_OVERLAP"),
        ("corrupt_wrong_spacegroup.cif", "SPACEGROUP_MISMATCH"),
        ("corrupt_charge_limgo2.cif", "CHARGE_IMBALANCE"),
        ("corrupt_forbidden_site.cif", "RULE_WYCKOFF"),
        ("corrupt_truncated.cif", "PARSE_ERROR"),
        ("corrupt_binary.cif", "PARSE_ERROR"),
        ("corrupt_occupancy.cif", "OCCUPANCY_ABOVE_ONE"),
        ("corrupt_formula.cif", "FORMULA_MISMATCH"),
        ("corrupt_zero_volume.cif", "CELL_INVALID"),
    ],
)
def test_corruptions_are_errors(name: str, code: str) -> None:
    result = check(name)
    assert not result.valid
    assert code in result.codes("error"), result.checks
    assert result.repair_prompt is not None
    first = result.repair_prompt.split("Problems to fix:\n", 1)[1].splitlines()[0]
    assert first.startswith("1. [error]")


def test_forbidden_site_message_names_the_site() -> None:
    messages = [c.message for c in check("corrupt_forbidden_site.cif").checks if c.code == "RULE_WYCKOFF"]
    assert any("Fe" in m and "4a" in m and "4c" in m for m in messages)
    assert any("Li" in m and "4c" in m for m in messages)


def test_binary_garbage_and_empty_text() -> None:
    for text in ["", "   \n", "\x00\x01\x02 data_x", "just some words, no cif"]:
        result = validate_cif_text(text)
        assert not result.valid and result.codes("error") == {"PARSE_ERROR"}


def test_unreadable_space_group_symbol_is_an_error() -> None:
    text = (DATA / "limn2o4_fd3m.cif").read_text().replace("'F d -3 m'", "'F d -3 m:2'")
    result = validate_cif_text(text)
    assert "SPACEGROUP_UNREADABLE" in result.codes("error")


def test_declared_higher_symmetry_in_lower_group_is_a_warning() -> None:
    text = (DATA / "licoo2_p1.cif").read_text().replace("_symmetry_space_group_name_H-M   'P 1'",
                                                       "_symmetry_space_group_name_H-M   'P -1'")
    text = text.replace("_symmetry_Int_Tables_number   1", "_symmetry_Int_Tables_number   2")
    result = validate_cif_text(text)
    assert result.spacegroup.declared_number == 2
    assert "SPACEGROUP_HIGHER" in result.codes("warning")
    assert result.valid


# ----------------------------------------------------------------------------- charge balance


@pytest.mark.parametrize(
    ("amounts", "balanced"),
    [
        ({"Li": 1, "Mn": 2, "O": 4}, True),
        ({"Fe": 3, "O": 4}, True),
        ({"Li": 1, "Ni": 0.8, "Co": 0.1, "Mn": 0.1, "O": 2}, True),
        ({"Li": 7, "La": 3, "Zr": 2, "O": 12}, True),
        ({"Li": 1, "Mg": 1, "O": 2}, False),
        ({"Li": 2, "O": 3}, False),
        ({"Cu": 3, "Au": 1}, True),  # no anions: not applicable, never an error
    ],
)
def test_charge_balance_accepts_mixed_valence(amounts: dict[str, float], balanced: bool) -> None:
    verdict = charge_balance(amounts)
    assert verdict.balanced is balanced, verdict.message


def test_charge_example_assignment() -> None:
    states = charge_balance({"Li": 1, "Mn": 2, "O": 4}).oxidation_states
    assert states["Mn"] == pytest.approx(3.5)
    assert charge_balance({"Fe": 3, "O": 4}).oxidation_states["Fe"] == pytest.approx(8 / 3)


# ----------------------------------------------------------------------------- rules


def test_every_family_loads_and_prototypes_agree_with_their_rules() -> None:
    families = load_all_families()
    assert {f.name for f in families} == set(list_families())
    assert len(families) == 6
    for family in families:
        if family.prototype is None:
            continue
        structure = prototype_structure(family)
        from pymatgen.io.cif import CifWriter

        result = validate_cif_text(str(CifWriter(structure)), source=family.name)
        assert result.valid and result.rules == family.name, result.checks
        assert "RULES_OK" in result.codes()
        number = family.prototype.number
        assert result.spacegroup.detected_number == number
        declared = {s.element: s.wyckoff for s in family.prototype.sites}
        for site in result.sites:
            el = site.species.rstrip("0123456789.")
            for role in (site.role or "").split("/"):
                allowed = family.wyckoff[number].get(role)
                assert allowed is None or site.wyckoff in allowed, (family.name, site)
            if el in declared and sum(1 for s in family.prototype.sites if s.element == el) == 1:
                assert site.wyckoff == declared[el] or family.name == "perovskite_llto"


def test_substituted_prototype_is_checked_against_its_family() -> None:
    family = load_family("layered_limo2")
    structure = prototype_structure(family, {"Co": "Ni"})
    assert structure.composition.reduced_formula == "LiNiO2"
    with pytest.raises(CifError):
        prototype_structure(family, {"Co": "O"})


def test_selection_by_composition_and_structure() -> None:
    picked = select_family({"Li": 1, "Co": 1, "O": 2}, 166)
    assert picked is not None and picked[0].name == "layered_limo2" and picked[1] is True
    picked = select_family({"Na": 1, "Zr": 2, "P": 3, "O": 12}, 1)
    assert picked is not None and picked[0].name == "nasicon_nazr2p3o12" and picked[1] is False
    assert select_family({"Cu": 1}, 225) is None


def test_explicit_rules_that_do_not_fit_are_errors() -> None:
    result = check("lifepo4_pnma.cif", rules="layered_limo2")
    assert result.rules_selected_by == "explicit"
    assert {"RULE_COMPOSITION", "RULE_SPACEGROUP"} <= result.codes("error")
    assert not result.valid
    assert check("lifepo4_pnma.cif", rules="none").rules is None


def test_unknown_rules_name_raises() -> None:
    with pytest.raises(CifError, match="did you mean 'layered_limo2'"):
        check("licoo2_r3m.cif", rules="layered_limo")


def test_nasicon_in_p1_with_wrong_geometry_gets_family_prompt() -> None:
    # A "generated" NaZr2(PO4)3: right composition, atoms in a made-up P1 cell.
    text = """data_gen
_chemical_formula_sum 'Na Zr2 P3 O12'
_symmetry_space_group_name_H-M 'P 1'
_cell_length_a 9.0
_cell_length_b 9.0
_cell_length_c 9.0
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_occupancy
""" + "\n".join(
        f"{el}{i} {el} {x:.3f} {y:.3f} {z:.3f} 1"
        for i, (el, x, y, z) in enumerate(
            [("Na", 0, 0, 0), ("Zr", 0.5, 0.5, 0.5), ("Zr", 0.5, 0, 0)]
            + [("P", 0.25, 0.25 * k, 0.75) for k in range(3)]
            + [("O", (k * 0.083 + 0.04) % 1, (k * 0.37 + 0.1) % 1, (k * 0.61 + 0.2) % 1) for k in range(12)]
        )
    )
    result = validate_cif_text(text, source="generated.cif", repair_template=REPAIR_TEMPLATE)
    # No atom closer than 0.5 A, so no error: the problems are warnings the repair prompt lists.
    assert {"BOND_TOO_SHORT", "RULE_SPACEGROUP"} <= result.codes("warning")
    assert result.rules == "nasicon_nazr2p3o12" and result.rules_selected_by == "auto"
    assert "RULE_SPACEGROUP" in result.codes("warning")
    prompt = result.repair_prompt
    assert prompt is not None and "R-3c" in prompt and "share corners" in prompt


# ----------------------------------------------------------------------------- reference, prompt, models


def test_reference_comparison() -> None:
    ref = (DATA / "licoo2_r3m.cif").read_text()
    same = check("licoo2_rhombohedral_primitive.cif", reference_cif=ref, reference_name="licoo2_r3m.cif")
    assert same.reference is not None and same.reference.match and "REFERENCE_MATCH" in same.codes()
    assert same.reference.rms_displacement == pytest.approx(0.0, abs=1e-3)
    other = check("lifepo4_pnma.cif", reference_cif=ref)
    assert other.reference is not None and not other.reference.match
    assert "REFERENCE_MISMATCH" in other.codes("error")
    with pytest.raises(CifError):
        check("lifepo4_pnma.cif", reference_cif="not a cif")


def test_repair_template_variables_are_checked() -> None:
    template = string.Template(repair_template())
    assert set(template.get_identifiers()) == REPAIR_TEMPLATE_VARIABLES


def test_repair_prompt_needs_the_callers_template() -> None:
    text = (DATA / "corrupt_overlap.cif").read_text()
    assert validate_cif_text(text).repair_prompt is None  # tools do not read prompts/: no template, no prompt
    assert validate_cif_text(text, repair_template=REPAIR_TEMPLATE).repair_prompt
    with pytest.raises(CifError, match="placeholders"):
        validate_cif_text(text, repair_template="fix $problems")


def test_models_are_strict_and_consistent() -> None:
    with pytest.raises(ValidationError):
        ValidateCifInput(cif_text="data_x", unknown=1)  # type: ignore[call-arg]
    result = check("corrupt_overlap.cif")
    payload = result.model_dump()
    payload["valid"] = True
    with pytest.raises(ValidationError):
        CifValidationResult.model_validate(payload)
    assert {c.code for c in result.checks} <= set(CHECK_CODES)
    assert result.physical.status == "not_run"


def test_space_group_symbol_spellings() -> None:
    assert space_group_number("R -3 m H") == 166
    assert space_group_number("P21/c") == 14
    assert space_group_number("P 1 21/c 1") == 14
    assert space_group_number("Fd-3m:2") == 227
    assert space_group_number("I 41/a c d") == 142
    assert space_group_number("P b n m") == 62
    assert space_group_number("Q42") is None


def test_tool_module_does_not_import_pymatgen() -> None:
    code = "import sys, tools.structures.validation, tools.structures.rules; print('pymatgen' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_structures_package_does_not_import_prompts() -> None:
    sources = [*(REPO / "tools" / "structures").rglob("*.py")]
    assert sources and not [p.name for p in sources if "from prompts" in p.read_text() or "import prompts" in p.read_text()]


# ----------------------------------------------------------------------------- fuzz: never crashes

_BASE = (DATA / "licoo2_r3m.cif").read_text()


def _assert_result(result: CifValidationResult) -> None:
    assert isinstance(result, CifValidationResult)
    assert result.valid == (not result.codes("error"))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_fuzz_random_text(text: str) -> None:
    _assert_result(validate_cif_text(text))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_fuzz_random_bytes(data: bytes) -> None:
    _assert_result(validate_cif_text(decode_cif_bytes(b"data_x\n" + data)))


_TOKENS = ["0", "1", "-1", "0.5", "1e9", "-0.0001", "nan", "inf", "?", ".", "'P 1'", "Xx", "O", "180", "1e-9",
           "loop_", "_atom_site_fract_x", "3.5(2)", ""]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(min_value=0, max_value=60), st.integers(min_value=0, max_value=7),
                          st.sampled_from(_TOKENS)), min_size=1, max_size=6),
       st.lists(st.integers(min_value=0, max_value=60), max_size=3))
def test_fuzz_mutated_cif(edits: list[tuple[int, int, str]], deletions: list[int]) -> None:
    lines = _BASE.splitlines()
    for line_no, field, token in edits:
        idx = line_no % len(lines)
        parts = lines[idx].split()
        if parts:
            parts[field % len(parts)] = token
            lines[idx] = " ".join(parts)
    for d in sorted(set(deletions), reverse=True):
        if lines:
            del lines[d % len(lines)]
    _assert_result(validate_cif_text("\n".join(lines)))


# ----------------------------------------------------------------------------- CLI


@pytest.fixture()
def runner() -> CliRunner:
    return CliRunner()


def test_cli_exit_codes_and_json(runner: CliRunner) -> None:
    from cli.app import app

    ok = runner.invoke(app, ["validate-cif", str(DATA / "lifepo4_pnma.cif"), "--json", "--fast"])
    assert ok.exit_code == 0, ok.output
    payload = json.loads(ok.stdout)
    assert payload["valid"] is True and payload["formula"] == "LiFePO4"
    assert payload["spacegroup"] == {"declared": "P n m a", "detected": "Pnma"}
    assert set(payload) >= {"file", "valid", "formula", "spacegroup", "checks", "repair_prompt"}

    both = runner.invoke(app, ["validate-cif", str(DATA / "lifepo4_pnma.cif"), str(DATA / "corrupt_overlap.cif"), "--json"])
    assert both.exit_code == 1
    listed = json.loads(both.stdout)
    assert [r["valid"] for r in listed] == [True, False]
    assert listed[1]["repair_prompt"]

    human = runner.invoke(app, ["validate-cif", str(DATA / "corrupt_binary.cif")])
    assert human.exit_code == 1 and "PARSE_ERROR" in human.stdout and "Traceback" not in human.output

    missing = runner.invoke(app, ["validate-cif", "nowhere.cif"])
    assert missing.exit_code == 2 and "not found" in missing.output
    bad_rules = runner.invoke(app, ["validate-cif", str(DATA / "lifepo4_pnma.cif"), "--rules", "nope"])
    assert bad_rules.exit_code == 2 and "unknown rule family" in bad_rules.output


def test_cli_rules_and_reference(runner: CliRunner) -> None:
    from cli.app import app

    res = runner.invoke(app, ["validate-cif", str(DATA / "licoo2_p1.cif"), "--reference", str(DATA / "licoo2_r3m.cif"),
                              "--rules", "layered_limo2", "--json"])
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout)
    assert payload["rules"] == "layered_limo2" and payload["reference"]["match"] is True
    listing = runner.invoke(app, ["cif-rules", "nasicon_nazr2p3o12"])
    assert listing.exit_code == 0 and "12c" in listing.stdout


def test_cif_commands_live_in_the_cif_group_and_old_spellings_still_work(runner: CliRunner) -> None:
    from cli.app import app as cli_app

    new = runner.invoke(cli_app, ["cif", "validate", str(DATA / "licoo2_r3m.cif"), "--fast", "--json"])
    old = runner.invoke(cli_app, ["validate-cif", str(DATA / "licoo2_r3m.cif"), "--fast", "--json"])
    assert new.exit_code == old.exit_code == 0, new.output + old.output
    assert json.loads(new.stdout)["valid"] and json.loads(new.stdout)["checks"] == json.loads(old.stdout)["checks"]
    rules = runner.invoke(cli_app, ["cif", "rules", "--json"])
    assert rules.exit_code == 0 and json.loads(rules.stdout) == json.loads(runner.invoke(cli_app, ["cif-rules", "--json"]).stdout)
    listed = runner.invoke(cli_app, ["--help"]).stdout
    assert "validate-cif" not in listed and "cif-rules" not in listed  # hidden: old scripts run, help shows one way
