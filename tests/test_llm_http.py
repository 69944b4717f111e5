"""A real HTTP tool-calling round trip against a local OpenAI-compatible server (no network)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from assistant.service import Assistant
from assistant.settings import Settings
from tools.domain.errors import MatassistError

RUN = {
    "ni": 0.94, "co": 0.03, "mn": 0.03, "li_ratio": 1.03, "li_source": "LiOH", "calcination_temp_c": 760,
    "calcination_time_h": 10, "atmosphere": "O2", "dopant_zr": 0.002, "dopant_al": 0, "dopant_ti": 0,
    "dopant_nb": 0.002, "dopant_mg": 0, "dopant_w": 0, "coating": "B", "coating_amount": 0.003,
    "coating_temp_c": 300, "coating_time_h": 5,
}


class _Handler(BaseHTTPRequestHandler):
    requests: list[dict[str, Any]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"path": self.path, "body": body})
        has_tool_result = any(m.get("role") == "tool" for m in body["messages"])
        if not has_tool_result:
            message = {"role": "assistant", "content": None, "tool_calls": [{
                "id": "call_plan", "type": "function",
                "function": {"name": "draft_experiment_plan", "arguments": json.dumps({"runs": [{"params": RUN}], "replicates": 0})},
            }]}
            finish = "tool_calls"
        else:
            message = {"role": "assistant", "content": "I drafted a plan with 2 runs (one control)."}
            finish = "stop"
        payload = {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                   "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                   "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture()
def server():
    _Handler.requests = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


def test_openai_compatible_round_trip(server, shared_data_dir):
    cfg = Settings(data_dir=shared_data_dir, backend="openai-compatible", llm_base_url=server, llm_model="local-test", llm_timeout_s=10)
    reply = Assistant(cfg).ask("plan this run for me")
    assert reply.backend == "openai-compatible"
    assert [c.name for c in reply.tool_calls] == ["draft_experiment_plan"]
    assert reply.tool_calls[0].ok
    first, second = _Handler.requests
    assert first["path"] == "/v1/chat/completions"
    assert {t["function"]["name"] for t in first["body"]["tools"]} >= {"propose_conditions", "draft_experiment_plan"}
    tool_result = next(m for m in second["body"]["messages"] if m["role"] == "tool")
    assert "control" in tool_result["content"]
    assert reply.answer.startswith("I drafted a plan with 2 runs")


def test_unreachable_server_is_a_clear_error(shared_data_dir):
    cfg = Settings(data_dir=shared_data_dir, backend="openai-compatible", llm_base_url="http://127.0.0.1:9/v1",
                   llm_model="x", llm_timeout_s=2)
    with pytest.raises(MatassistError, match="cannot reach the LLM server at http://127.0.0.1:9/v1"):
        Assistant(cfg).ask("hello")
