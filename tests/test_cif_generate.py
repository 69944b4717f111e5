"""`cif generate`: the generate -> validate -> re-prompt loop with a scripted model, offline prototypes, messages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage
from typer.testing import CliRunner

from assistant.cif_generate import (
    GENERATE_VARIABLES,
    GenerationError,
    extract_cif,
    family_for,
    generate_cif,
    generation_prompt,
    parse_formula,
    prototype_cif,
)
from prompts import load_prompt
from tests.fake_llm import ScriptedChatModel, scripted
from tools.structures.validation import validate_cif_text

# pymatgen's CifWriter warns about repeated P1 labels when it writes substituted prototypes.
pytestmark = pytest.mark.filterwarnings("ignore:Site labels are not unique:UserWarning")

DATA = Path(__file__).parent / "data" / "cif"
GOOD = (DATA / "licoo2_r3m.cif").read_text()
BAD = (DATA / "corrupt_overlap.cif").read_text()


def fenced(cif: str, before: str = "Here is the structure:") -> str:
    return f"{before}\n\n```cif\n{cif.strip()}\n```\nThis CIF satisfies the requirements."


# ----------------------------------------------------------------------------- pieces


def test_generate_prompt_variables_are_checked() -> None:
    template = load_prompt("cif_generate.md", GENERATE_VARIABLES)
    assert template.variables == GENERATE_VARIABLES
    text = generation_prompt("LiCoO2", family_for("LiCoO2"))
    assert "LiCoO2" in text and "R-3m" in text and "$" not in text


def test_extract_cif_from_replies() -> None:
    assert extract_cif(fenced(GOOD)) == GOOD.strip() + "\n"  # the whole fenced block, comments included
    assert "This CIF satisfies" not in extract_cif(fenced(GOOD))
    bare = "Sure.\n" + GOOD[GOOD.index("data_"):] + "\nHope this helps."
    assert extract_cif(bare).startswith("data_") and "Hope" in extract_cif(bare)  # no fence: up to the end
    plain_fence = "```\n" + GOOD + "\n```\nDone."
    assert "data_" in extract_cif(plain_fence) and "Done." not in extract_cif(plain_fence)
    two = "```python\nprint(1)\n```\n" + fenced(GOOD, "")
    assert "print(1)" not in extract_cif(two) and "data_" in extract_cif(two)
    assert extract_cif("I cannot do that.") == ""


def test_formula_and_family() -> None:
    assert parse_formula("LiNi0.8Co0.1Mn0.1O2") == pytest.approx({"Li": 1, "Ni": 0.8, "Co": 0.1, "Mn": 0.1, "O": 2})
    with pytest.raises(GenerationError, match="not a chemical formula"):
        parse_formula("Xq2")
    family = family_for("LiNi0.8Co0.1Mn0.1O2")
    assert family is not None and family.name == "layered_limo2"
    assert family_for("LiCoO2", "none") is None


# ----------------------------------------------------------------------------- the loop


def test_loop_repairs_a_bad_cif_in_two_rounds(tmp_path: Path) -> None:
    model = scripted(fenced(BAD), fenced(GOOD))
    seen: list[int] = []
    outcome = generate_cif(model, "LiCoO2", out_dir=tmp_path / "gen", rounds=4, fast=True,
                           on_round=lambda r: seen.append(r.number))
    assert outcome.valid and len(outcome.rounds) == 2 and seen == [1, 2]
    first, second = outcome.rounds
    assert not first.result.valid and "ATOMS_OVERLAP" in first.result.codes("error")
    assert second.result.valid and second.result.formula == "LiCoO2"
    # Both rounds are kept: prompt, reply, CIF, JSON report.
    for rnd in outcome.rounds:
        for kind in ("prompt", "reply", "cif", "report"):
            assert Path(rnd.files[kind]).is_file(), (rnd.number, kind)
    report = json.loads(Path(first.files["report"]).read_text())
    assert report["validation"]["valid"] is False and report["round"] == 1
    assert Path(first.files["cif"]).read_text() == extract_cif(fenced(BAD))
    summary = json.loads((tmp_path / "gen" / "summary.json").read_text())
    assert summary["valid"] is True and summary["rounds_run"] == 2 and summary["stopped"] == "valid"
    # The second call carried the request, the bad answer and the validator's repair prompt with the CIF.
    assert isinstance(model, ScriptedChatModel) and len(model.seen) == 2
    request, answer, repair = model.seen[1]
    assert "LiCoO2" in str(request.content)
    assert isinstance(answer, AIMessage) and "corrupt" in str(answer.content).lower() or "data_" in str(answer.content)
    assert "Problems to fix:" in str(repair.content) and "closer than" in str(repair.content)
    assert "```cif" in str(repair.content)
    assert "Problems to fix" in Path(second.files["prompt"]).read_text()


def test_a_valid_cif_of_another_compound_is_not_accepted(tmp_path: Path) -> None:
    lfp = (DATA / "lifepo4_pnma.cif").read_text()
    model = scripted(fenced(lfp), fenced(GOOD))
    outcome = generate_cif(model, "LiCoO2", out_dir=tmp_path, rounds=3, fast=True, rules="none")
    first, second = outcome.rounds
    assert first.result.valid and not first.composition_ok and not first.accepted
    assert second.accepted and outcome.valid
    assert isinstance(model, ScriptedChatModel)
    assert "must have the composition LiCoO2" in str(model.seen[1][-1].content)


def test_loop_stops_at_the_round_limit(tmp_path: Path) -> None:
    model = scripted("I cannot write CIFs.", fenced(BAD), fenced(GOOD))
    outcome = generate_cif(model, "LiCoO2", out_dir=tmp_path, rounds=2, fast=True)
    assert not outcome.valid and len(outcome.rounds) == 2
    assert outcome.rounds[0].cif == "" and "PARSE_ERROR" in outcome.rounds[0].result.codes("error")
    assert outcome.summary()["stopped"] == "round limit"


def test_loop_reports_model_failures(tmp_path: Path) -> None:
    class Broken:
        def invoke(self, messages: Any) -> Any:
            raise ConnectionError("server unreachable")

    with pytest.raises(GenerationError, match="round 1.*server unreachable"):
        generate_cif(Broken(), "LiCoO2", out_dir=tmp_path, rounds=2, fast=True)
    assert (tmp_path / "summary.json").is_file()
    with pytest.raises(GenerationError, match="--rounds"):
        generate_cif(Broken(), "LiCoO2", out_dir=tmp_path, rounds=0, fast=True)


# ----------------------------------------------------------------------------- offline prototypes


def test_prototype_substitution_for_ncm() -> None:
    cif, family, note = prototype_cif("LiNi0.8Co0.1Mn0.1O2")
    assert family.name == "layered_limo2" and "Co -> " in note
    result = validate_cif_text(cif, rules=family.name)
    assert result.valid, result.checks
    assert result.formula is not None and "Ni" in result.formula and "Mn" in result.formula
    assert result.spacegroup.detected_number == 166


def test_prototype_refuses_what_does_not_fit() -> None:
    with pytest.raises(GenerationError, match="fits none"):
        prototype_cif("CuZn")
    with pytest.raises(GenerationError, match="does not fit"):
        prototype_cif("LiFePO4", "layered_limo2")


# ----------------------------------------------------------------------------- CLI


@pytest.fixture()
def runner() -> CliRunner:
    return CliRunner()


def test_cli_without_backend_names_the_settings(runner: CliRunner) -> None:
    from cli.app import app

    res = runner.invoke(app, ["cif", "generate", "LiCoO2"])
    assert res.exit_code == 2
    assert "OPENAI_API_KEY" in res.output and "MATASSIST_LLM_BASE_URL" in res.output
    assert "--offline-prototype" in res.output and "Traceback" not in res.output


def test_cli_with_a_scripted_model(runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import assistant.llm
    from cli.app import app

    model = scripted(fenced(BAD), fenced(GOOD))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-used")
    monkeypatch.setattr(assistant.llm, "make_chat_model", lambda settings: model)
    out = tmp_path / "run"
    res = runner.invoke(app, ["cif", "generate", "LiCoO2", "--rounds", "3", "--out", str(out), "--fast", "--json"])
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout)
    assert payload["valid"] is True and payload["rounds_run"] == 2
    assert [r["valid"] for r in payload["rounds"]] == [False, True]
    assert sorted(p.name for p in out.glob("round-*.cif")) == ["round-01.cif", "round-02.cif"]
    again = runner.invoke(app, ["cif", "generate", "LiCoO2", "--out", str(out), "--fast"])
    assert again.exit_code == 2 and "already holds a generation" in again.output


def test_cli_offline_prototype(runner: CliRunner, isolated_data_dir: Path) -> None:
    from cli.app import app

    res = runner.invoke(app, ["cif", "generate", "LiNi0.8Co0.1Mn0.1O2", "--offline-prototype", "--fast", "--json"])
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout)
    assert payload["valid"] is True and payload["method"] == "offline prototype substitution"
    assert Path(payload["final_cif"]).is_file()
    assert Path(payload["out_dir"]).is_relative_to(isolated_data_dir / "cif_generate")
    human = runner.invoke(app, ["cif", "generate", "LiFePO4", "--offline-prototype", "--fast"])
    assert human.exit_code == 0 and "valid" in human.stdout and "LiFePO4" in human.stdout
    bad = runner.invoke(app, ["cif", "generate", "LiCoO2", "--offline-prototype", "--rules", "nope"])
    assert bad.exit_code == 2 and "unknown rule family" in bad.output


@pytest.mark.slow
def test_cli_offline_prototype_with_the_physical_check(runner: CliRunner) -> None:
    from cli.app import app

    res = runner.invoke(app, ["cif", "generate", "LiFePO4", "--offline-prototype", "--json", "--relax-steps", "3"])
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout)
    assert payload["rounds"][0]["physical"] == "ok"


def test_prototype_note_says_when_the_amounts_differ() -> None:
    _cif, _family, note = prototype_cif("LiNi0.8Co0.1Mn0.1O2")
    assert "keeps the prototype's amounts" not in note
    _cif, _family, rich = prototype_cif("Li1.2Mn0.6Ni0.2O2", "layered_limo2")
    assert "keeps the prototype's amounts per role" in rich
