"""The LLM agent with a scripted model: tool calls, tool errors, memory, number checks, step limit."""

from __future__ import annotations

import pytest
from langchain_core.messages import ToolMessage

from assistant.agent import UNVERIFIED, mark_unverified
from assistant.service import Assistant
from assistant.settings import Settings
from tests.fake_llm import scripted, tool_call

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:langgraph.*")


@pytest.fixture()
def cfg(shared_data_dir):
    return Settings(data_dir=shared_data_dir)


def test_profile_call_then_grounded_answer(cfg):
    model = scripted(
        tool_call("profile_dataset", {}),
        "The record has 652 runs: 634 at 0.92 Ni and 18 at 0.94. It was simulated.",
    )
    reply = Assistant(cfg, chat_model=model).ask("how biased is my record?")
    assert [c.name for c in reply.tool_calls] == ["profile_dataset"]
    assert reply.unverified_numbers == []
    assert UNVERIFIED not in reply.answer
    tool_messages = [m for m in model.seen[-1] if isinstance(m, ToolMessage)]
    assert "652 runs" in tool_messages[0].content


def test_invented_numbers_are_marked(cfg):
    model = scripted(tool_call("profile_dataset", {}), "There are 652 runs and the best capacity is 231.7 mAh/g.")
    reply = Assistant(cfg, chat_model=model).ask("summarise my record")
    assert reply.unverified_numbers == ["231.7"]
    assert f"231.7 {UNVERIFIED}" in reply.answer
    assert f"652 {UNVERIFIED}" not in reply.answer


def test_tool_error_goes_back_to_the_model_which_corrects_itself(cfg):
    model = scripted(
        tool_call("propose_conditions", {"fixed": {"nickel": 0.94}, "n": 3}, "c1"),
        tool_call("propose_conditions", {"fixed": {"ni": 0.94}, "n": 3}, "c2"),
        "Done.",
    )
    reply = Assistant(cfg, chat_model=model).ask("3 runs at 94% Ni?")
    assert [(c.name, c.ok) for c in reply.tool_calls] == [("propose_conditions", False), ("propose_conditions", True)]
    error_message = [m for m in model.seen[1] if isinstance(m, ToolMessage)][-1]
    assert "unknown parameter 'nickel'; the parameters are: ni, co, mn" in error_message.content


def test_llm_proposes_under_limits_and_exclusions_then_drops_one(cfg, standin_fit, small_swarm):
    """The LLM path states bounds and exclusions as tool arguments; every proposal obeys them; a later turn drops one."""
    model = scripted(
        tool_call("propose_conditions", {"fixed": {"ni": 0.94}, "below": {"calcination_temp_c": 760}, "at_least": {"li_ratio": 1.02},
                                         "excluded": {"coating": ["W", "none"]}, "n": 4}, "c1"),
        "Here are the runs.",
        tool_call("update_constraints", {"remove": ["calcination_temp_c"]}, "c2"),
        tool_call("propose_conditions", {"n": 3}, "c3"),
        "Done.",
    )
    assistant = Assistant(cfg, chat_model=model)
    first = assistant.ask("4 runs at 94% Ni below 760 C with Li/TM at least 1.02, coated but never with W")
    assert [(c.name, c.ok) for c in first.tool_calls] == [("propose_conditions", True)]
    rows = [p["params"] for p in first.outputs[0].data["proposals"]]
    assert len(rows) == 4
    for row in rows:
        assert row["ni"] == 0.94 and row["calcination_temp_c"] < 760 and row["li_ratio"] >= 1.02
        assert row["coating"] not in {"W", "none"}
    assert assistant.holding_line() == ("Holding: ni = 0.94; li_ratio >= 1.02; calcination_temp_c < 760 degC; "
                                        "coating not in {W, none}.")

    second = assistant.ask("drop the temperature limit and give me 3 more")
    assert [(c.name, c.ok) for c in second.tool_calls] == [("update_constraints", True), ("propose_conditions", True)]
    assert assistant.holding_line() == "Holding: ni = 0.94; li_ratio >= 1.02; coating not in {W, none}."
    assert [c["parameter"] for c in second.constraints] == ["ni", "li_ratio", "coating"]
    rows = [p["params"] for p in second.outputs[1].data["proposals"]]
    assert len(rows) == 3
    for row in rows:
        assert row["ni"] == 0.94 and row["li_ratio"] >= 1.02 and row["coating"] not in {"W", "none"}


def test_follow_up_sees_the_previous_turn(cfg):
    model = scripted(
        tool_call("draft_experiment_plan", {}, "c1"),
        "There are no proposals to plan yet.",
        "You asked for a plan; there were no proposals yet.",
    )
    assistant = Assistant(cfg, chat_model=model)
    assistant.ask("plan my next experiments")
    reply = assistant.ask("and what did I just ask?")
    last_prompt = model.seen[-1]
    texts = [m.content for m in last_prompt]
    assert "plan my next experiments" in texts and "and what did I just ask?" in texts
    assert any(isinstance(m, ToolMessage) for m in last_prompt)
    assert reply.tool_calls == []


def test_step_limit_ends_a_looping_model(cfg):
    loop = [tool_call("draft_experiment_plan", {}, f"c{i}") for i in range(20)]
    reply = Assistant(cfg, chat_model=scripted(*loop)).ask("loop forever")
    assert len(reply.tool_calls) <= 8


@pytest.mark.parametrize(
    ("answer", "flagged"),
    [
        ("Predicted 215.3 mAh/g at 760 degC.", []),
        ("Predicted 215.30 mAh/g.", []),
        ("Predicted 215 mAh/g.", []),
        ("Predicted 219.9 mAh/g.", ["219.9"]),
        ("Use 3 runs and a CR2032 cell with Nb2O5.", []),
    ],
)
def test_number_check(answer, flagged):
    _, found = mark_unverified(answer, {215.3, 760.0})
    assert found == flagged


def test_missing_key_names_the_setting(isolated_data_dir, monkeypatch):
    from assistant.llm import BackendError, make_chat_model

    with pytest.raises(BackendError, match="OPENAI_API_KEY"):
        make_chat_model(Settings(data_dir=isolated_data_dir, backend="openai"))
    with pytest.raises(BackendError, match="MATASSIST_LLM_BASE_URL"):
        make_chat_model(Settings(data_dir=isolated_data_dir, backend="openai-compatible"))
