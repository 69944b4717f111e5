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
