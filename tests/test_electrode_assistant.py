"""The assistant and electrodes: `predict_electrode` through the offline router, the LLM path and `matassist ask`,
and electrode searches answered from the shipped snapshot when no Materials Project key is set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assistant.service import Assistant
from assistant.settings import Settings
from cli.app import app
from tests.fake_llm import scripted, tool_call

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:langgraph.*")


@pytest.fixture()
def assistant(fast_electrodes, isolated_data_dir) -> Assistant:
    return Assistant(Settings(data_dir=isolated_data_dir))


@pytest.fixture()
def no_mp_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from pymatgen.core import SETTINGS

    monkeypatch.delitem(SETTINGS, "PMG_MAPI_KEY", raising=False)


def test_voltage_question_vs_li(assistant):
    reply = assistant.ask("what average voltage would LiNi0.5Mn1.5O4 give vs Li?")
    assert [(c.name, c.ok) for c in reply.tool_calls] == [("predict_electrode", True)]
    assert reply.tool_calls[0].args["candidates"] == [
        {"working_ion": "Li", "charged_formula": "Ni0.5Mn1.5O4", "discharged_formula": "LiNi0.5Mn1.5O4"}]
    assert "charged end member to be the host without the ion: LiNi0.5Mn1.5O4 -> Ni0.5Mn1.5O4" in reply.answer
    assert "Ni0.5Mn1.5O4 -> LiNi0.5Mn1.5O4 (Li)" in reply.answer and "146.7" in reply.answer  # exact capacity
    (prediction,) = reply.outputs[0].data["predictions"]
    assert prediction["gravimetric_capacity_mah_g"] == pytest.approx(146.70, abs=0.01)
    assert reply.files and Path(reply.files[0]).read_bytes()[:4] == b"\x89PNG"
    assert any("CC BY 4.0" in s for s in reply.sources)


def test_prototype_question_is_read_and_said(assistant):
    reply = assistant.ask("what voltage would Li in NaMnO2-type MnO2 give?")
    assert reply.tool_calls[0].args["candidates"] == [{"working_ion": "Li", "charged_formula": "MnO2", "discharged_formula": "LiMnO2"}]
    assert "read 'NaMnO2-type MnO2' as charged MnO2, discharged LiMnO2" in reply.answer
    assert "not the NaMnO2 structure type" in reply.answer


def test_ten_compositions_ranked_by_energy_per_gram(assistant):
    formulas = "LiCoO2, LiFePO4, LiMn2O4, LiNiO2, LiNi0.8Co0.15Al0.05O2, Li2FeSiO4, LiVPO4F, LiMnPO4, LiCoPO4, Li2MnO3"
    reply = assistant.ask(f"which of these ten compositions would store the most energy per gram? {formulas}")
    assert reply.tool_calls[0].args["rank_by"] == "gravimetric_energy_wh_kg"
    energies = [p["gravimetric_energy_wh_kg"] for p in reply.outputs[0].data["predictions"]]
    assert len(energies) == 10 and energies == sorted(energies, reverse=True)
    assert "ranked by specific energy (Wh/kg)" in reply.answer


def test_rank_these_for_na(assistant):
    reply = assistant.ask("rank these for Na: NaFePO4, Na2FeP2O7, NaCoO2, Na3V2(PO4)3")
    data = reply.outputs[0].data
    assert {p["working_ion"] for p in data["predictions"]} == {"Na"} and len(data["predictions"]) == 4
    assert "V2(PO4)3 -> Na3V2(PO4)3 (Na)" in reply.answer


@pytest.mark.parametrize(
    ("message", "words"),
    [
        ("what voltage would Li give in MnO2?", "how much Li does MnO2 take up when discharged"),
        ("rank these for Na: FePO4, CoO2", "how much Na does FePO4, CoO2 take up"),
        ("which of these ten compositions would store the most energy per gram?", "which electrodes?"),
    ],
)
def test_the_router_asks_when_the_pair_cannot_be_derived(assistant, message, words):
    reply = assistant.ask(message)
    assert reply.tool_calls == [] and words in reply.answer


def test_the_tool_takes_one_candidate_or_a_list_and_names_a_bad_one(assistant):
    one = assistant.call("predict_electrode", {"candidates": {"working_ion": "Mg", "charged_formula": "Mo6S8", "discharged_formula": "Mg2Mo6S8"}})
    assert one.ok and one.data["predictions"][0]["gravimetric_capacity_mah_g"] == pytest.approx(121.72, abs=0.01)
    bad = assistant.call("predict_electrode", {"candidates": [
        {"working_ion": "Li", "charged_formula": "CoO2", "discharged_formula": "LiCoO2"},
        {"working_ion": "Li", "charged_formula": "Mn2O4", "discharged_formula": "LiXx2O4"}]})
    assert not bad.ok and bad.summary.startswith("error: candidate 2, discharged_formula: discharged formula 'LiXx2O4'")
    extra = assistant.call("predict_electrode", {"candidates": [{"working_ion": "Li", "charged_formula": "CoO2",
                                                                "discharged_formula": "LiCoO2", "voltage": 4}]})
    assert not extra.ok and "invalid arguments for predict_electrode" in extra.summary


def test_the_llm_path_reaches_the_tool(fast_electrodes, isolated_data_dir):
    model = scripted(
        tool_call("predict_electrode", {"candidates": [{"working_ion": "Na", "charged_formula": "FePO4", "discharged_formula": "NaFePO4"}]}),
        "NaFePO4 stores 154.2 mAh/g.",
    )
    reply = Assistant(Settings(data_dir=isolated_data_dir), chat_model=model).ask("what would NaFePO4 give vs Na?")
    assert [(c.name, c.ok) for c in reply.tool_calls] == [("predict_electrode", True)]
    assert reply.unverified_numbers == []  # 154.2 is in the tool's result


def test_matassist_ask_answers_an_electrode_question(fast_electrodes):
    done = CliRunner().invoke(app, ["ask", "--json", "what average voltage would LiNi0.5Mn1.5O4 give vs Li?"])
    assert done.exit_code == 0, done.output
    reply = json.loads(done.stdout)
    assert [c["name"] for c in reply["tool_calls"]] == ["predict_electrode"] and "LiNi0.5Mn1.5O4" in reply["answer"]


# -- the snapshot, without a Materials Project key --------------------------------------------------
def test_electrode_search_without_a_key_comes_from_the_snapshot(isolated_data_dir, no_mp_key):
    reply = Assistant(Settings(data_dir=isolated_data_dir)).ask("find Li insertion electrodes above 4 V")
    assert [(c.name, c.ok) for c in reply.tool_calls] == [("query_materials_project", True)]
    assert "snapshot of the Materials Project Battery Explorer, copied 2026-11-30, no API key set" in reply.answer
    data = reply.outputs[0].data
    assert data["total_matches"] > len(data["electrodes"]) == 10
    assert all(e["working_ion"] == "Li" and e["average_voltage"] >= 4.0 for e in data["electrodes"])
    assert any("electrodes.csv" in s and "CC BY 4.0" in s for s in reply.sources)


def test_other_materials_project_questions_still_need_the_key(isolated_data_dir, no_mp_key):
    reply = Assistant(Settings(data_dir=isolated_data_dir)).ask("what does the Materials Project say about LiNiO2?")
    assert [(c.name, c.ok) for c in reply.tool_calls] == [("query_materials_project", False)]
    assert "MP_API_KEY" in reply.answer and "snapshot" not in reply.answer


def test_chat_numbers_never_use_exponent_form():
    from assistant.rendering.numbers import sig

    assert [sig(x, 2) for x in (140.2, 13.4, 1.43, 0.412)] == ["140", "13", "1.4", "0.41"]
    assert [sig(x) for x in (623.4, 95.49, 1156.2, 4.4)] == ["623", "95.5", "1156", "4.4"]
