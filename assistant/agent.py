"""The LLM agent (LangChain 1.x `create_agent` on LangGraph) and the check that its numbers are grounded.

Tools are the registry's, wrapped as StructuredTools; a tool's user-caused error comes back
to the model as the tool message ("error: ..."), an unexpected failure as a short message
naming the exception type. Memory is a LangGraph checkpointer keyed by the conversation's
thread id; a model-call limit bounds the steps of one turn. After the model answers, every
number in the answer is looked up in the tool results and the user's messages of the
conversation; a number found nowhere is marked "[unverified]".
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from assistant.tools.base import ToolContext, ToolOutput, ToolSpec, run_tool
from prompts import load_prompt

MAX_MODEL_CALLS = 8
_TOOL_CONTENT_LIMIT = 8000
UNVERIFIED = "[unverified]"

_NUMBER = re.compile(r"(?<![\w.\-/])(\d+(?:\.\d+)?)(?![\w.]|\.\d)")


@dataclass
class TurnRecord:
    """What happened in one agent turn."""

    answer: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[ToolOutput] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)


def _tool_content(output: ToolOutput) -> str:
    data = json.dumps(output.data, default=str)
    if len(data) > _TOOL_CONTENT_LIMIT:
        data = data[:_TOOL_CONTENT_LIMIT] + "... (truncated)"
    return f"{output.summary}\n\nDATA (JSON): {data}"


def make_langchain_tools(ctx: ToolContext, registry: dict[str, ToolSpec], sink: list[tuple[str, dict[str, Any], ToolOutput]]) -> list[Any]:
    """Wrap each registry tool as a LangChain StructuredTool bound to the conversation's context."""
    from langchain_core.tools import StructuredTool

    tools = []
    for spec in registry.values():

        def call(_spec: ToolSpec = spec, **kwargs: Any) -> str:
            output = run_tool(ctx, _spec, kwargs)
            sink.append((_spec.name, kwargs, output))
            return _tool_content(output)

        tools.append(
            StructuredTool.from_function(
                func=call,
                name=spec.name,
                description=spec.description,
                args_schema=spec.input_model,
                infer_schema=False,
            )
        )
    return tools


def _numbers(text: str) -> set[float]:
    return {float(m) for m in _NUMBER.findall(text)}


def grounded_numbers(texts: list[str]) -> set[float]:
    """Every number in the given texts, as floats."""
    found: set[float] = set()
    for text in texts:
        found |= _numbers(text)
    return found


def _supported(value: float, text_value: str, known: set[float]) -> bool:
    if value <= 10 and float(value).is_integer():
        return True  # counting words and list numbers ("3 runs", "1.")
    decimals = len(text_value.split(".", 1)[1]) if "." in text_value else 0
    tolerance = 0.5 * 10 ** (-decimals) + 1e-9
    return any(abs(value - k) <= tolerance for k in known)


def mark_unverified(answer: str, known: set[float]) -> tuple[str, list[str]]:
    """Append [unverified] to every number in `answer` that no tool result or user message contains."""
    flagged: list[str] = []

    def repl(match: re.Match[str]) -> str:
        text_value = match.group(1)
        if _supported(float(text_value), text_value, known):
            return match.group(0)
        flagged.append(text_value)
        return f"{match.group(0)} {UNVERIFIED}"

    marked = _NUMBER.sub(repl, answer)
    if flagged:
        marked += f"\n\n_Numbers marked {UNVERIFIED} did not come from a tool result; treat them with care._"
    return marked, flagged


class LLMAgent:
    """A tool-calling agent with memory for one conversation."""

    def __init__(self, chat_model: Any, ctx: ToolContext, registry: dict[str, ToolSpec], thread_id: str = "main"):
        from langchain.agents import create_agent
        from langchain.agents.middleware import (
            ModelCallLimitMiddleware,
            ModelRetryMiddleware,
            ToolErrorMiddleware,
        )
        from langgraph.checkpoint.memory import InMemorySaver

        self.ctx = ctx
        self.thread_id = thread_id
        self._sink: list[tuple[str, dict[str, Any], ToolOutput]] = []
        self._grounding: list[str] = []
        tools = make_langchain_tools(ctx, registry, self._sink)
        system = load_prompt("system.md", {"tool_names"}).render(tool_names=", ".join(registry))
        self._grounding.append(system)

        def on_error(exc: Exception, request: Any) -> str:
            name = request.tool_call.get("name", "tool") if hasattr(request, "tool_call") else "tool"
            return f"error: {name} failed unexpectedly ({type(exc).__name__}); do not retry it with the same arguments"

        middleware: list[Any] = [
            ToolErrorMiddleware(on_error=on_error),
            ModelCallLimitMiddleware(run_limit=MAX_MODEL_CALLS, exit_behavior="end"),
            # the client does not retry (a retried timeout doubles the silence); a rate limit or a
            # server error is worth two more tries, anything else goes straight to the user
            ModelRetryMiddleware(max_retries=2, retry_on=_worth_retrying, on_failure="error", initial_delay=1.0, max_delay=8.0),
        ]
        self.graph: Any = create_agent(
            chat_model,
            tools=tools,
            system_prompt=system,
            middleware=middleware,
            checkpointer=InMemorySaver(),
        )

    def _config(self) -> dict[str, Any]:
        return {"configurable": {"thread_id": self.thread_id}, "recursion_limit": 4 * MAX_MODEL_CALLS + 4}

    def ask(self, message: str) -> TurnRecord:
        """One user turn: run the agent to its final answer and check the answer's numbers."""
        start = len(self._sink)
        self._grounding.append(message)
        state = self.graph.invoke({"messages": [{"role": "user", "content": message}]}, self._config())
        final = state["messages"][-1]
        answer = final.content if isinstance(final.content, str) else _text_of(final.content)
        return self._finish(answer, start)

    def stream(self, message: str) -> Iterator[str]:
        """Yield the answer's text as the model produces it; the last item is the checked answer."""
        start = len(self._sink)
        self._grounding.append(message)
        parts: list[str] = []
        for chunk, meta in self.graph.stream(
            {"messages": [{"role": "user", "content": message}]}, self._config(), stream_mode="messages"
        ):
            if meta.get("langgraph_node") == "model" and getattr(chunk, "content", None) and not getattr(chunk, "tool_call_chunks", None):
                text = chunk.content if isinstance(chunk.content, str) else _text_of(chunk.content)
                parts.append(text)
                yield text
        state = self.graph.get_state(self._config()).values
        final = state["messages"][-1]
        answer = final.content if isinstance(final.content, str) else _text_of(final.content)
        self.last_turn = self._finish(answer or "".join(parts), start)

    def _finish(self, answer: str, start: int) -> TurnRecord:
        turn = self._sink[start:]
        for _name, _args, output in turn:
            self._grounding.append(_tool_content(output))
        checked, flagged = mark_unverified(answer, grounded_numbers(self._grounding))
        return TurnRecord(
            answer=checked,
            tool_calls=[{"name": n, "args": a} for n, a, _ in turn],
            outputs=[o for _, _, o in turn],
            unverified=flagged,
        )


def _worth_retrying(exc: Exception) -> bool:
    """A rate limit (429) or a server error (5xx): the same request may succeed in a moment."""
    import openai

    return isinstance(exc, openai.RateLimitError | openai.InternalServerError)


def _text_of(content: Any) -> str:
    if isinstance(content, list):
        return "".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in content)
    return str(content)
