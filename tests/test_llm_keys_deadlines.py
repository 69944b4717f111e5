"""Keys go only to the host they belong to; a silent server is reported in time, naming its URL (issue 17).

The OpenAI key is sent only to https://api.openai.com; a custom base URL (MATASSIST_LLM_BASE_URL,
or OPENAI_BASE_URL which the client libraries would follow on their own) gets MATASSIST_LLM_API_KEY;
plain http only to this machine. LLM and Materials Project calls are given up after the configured
silence (default 15 s) with a message naming the URL; the tests check the configured timeouts reach
the clients and run each silent-server case once with a 1 s limit.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from typer.testing import CliRunner

from assistant.llm import OPENAI_API_URL, BackendError, client_options, llm_failure, make_chat_model
from assistant.service import Assistant
from assistant.settings import Settings
from cli.app import app
from tests.mp_stub import API_KEY, StubMPServer
from tests.silent_server import SilentServer
from tools.domain.errors import MatassistError, MPUnavailableError
from tools.materials_project.queries import SummaryQuery

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:langgraph.*")

OPENAI_SECRET = "sk-openai-SECRET-0123456789"
runner = CliRunner()


class _Chat(BaseHTTPRequestHandler):
    """An OpenAI-compatible server answering "ok"; `statuses` are served first (e.g. one 429)."""

    seen: list[dict[str, Any]] = []
    statuses: list[int] = []

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append({"authorization": self.headers.get("Authorization"), "path": self.path})
        if type(self).statuses:
            status = type(self).statuses.pop(0)
            data = json.dumps({"error": {"message": "slow down", "type": "rate_limit"}}).encode()
        else:
            status = 200
            message = {"role": "assistant", "content": "ok"}
            data = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                               "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                               "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture()
def chat_server() -> Iterator[str]:
    _Chat.seen, _Chat.statuses = [], []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Chat)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


# -- keys ------------------------------------------------------------------------------------------
def test_the_openai_key_never_goes_to_a_custom_server(chat_server, tmp_path):
    cfg = Settings(data_dir=tmp_path, backend="openai-compatible", llm_base_url=chat_server, llm_model="m",
                   openai_api_key=OPENAI_SECRET)
    assert Assistant(cfg).ask("hello there, what can you do").answer.startswith("ok")
    own = Settings(data_dir=tmp_path, backend="openai-compatible", llm_base_url=chat_server, llm_model="m",
                   openai_api_key=OPENAI_SECRET, llm_api_key="local-key")
    Assistant(own).ask("hello there, what can you do")
    assert [s["authorization"] for s in _Chat.seen] == ["Bearer not-needed", "Bearer local-key"]


@pytest.mark.parametrize("variable", ["OPENAI_BASE_URL", "OPENAI_API_BASE"])
def test_an_openai_base_url_variable_cannot_redirect_the_openai_key(chat_server, tmp_path, monkeypatch, variable):
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_SECRET)
    monkeypatch.setenv(variable, chat_server)
    cfg = Settings(data_dir=tmp_path)
    assert cfg.llm_base_url == chat_server
    assistant = Assistant(cfg)
    assert assistant.backend == "openai-compatible"
    assistant.ask("hello there, what can you do")
    assert [s["authorization"] for s in _Chat.seen] == ["Bearer not-needed"]
    monkeypatch.setenv("MATASSIST_BACKEND", "openai")
    with pytest.raises(BackendError, match=r"the openai backend talks only to https://api.openai.com/v1, but a base URL is set"):
        make_chat_model(Settings(data_dir=tmp_path))


def test_the_openai_backend_talks_to_the_openai_api_only(tmp_path):
    options = client_options(Settings(data_dir=tmp_path, backend="openai", openai_api_key=OPENAI_SECRET))
    assert options["base_url"] == OPENAI_API_URL == "https://api.openai.com/v1"
    assert options["api_key"].get_secret_value() == OPENAI_SECRET
    model = make_chat_model(Settings(data_dir=tmp_path, backend="openai", openai_api_key=OPENAI_SECRET))
    assert model.openai_api_base == OPENAI_API_URL
    # the OpenAI API named as a custom base URL may use the OpenAI key: it is the same host
    same = client_options(Settings(data_dir=tmp_path, backend="openai-compatible", llm_base_url="https://api.openai.com/v1",
                                   openai_api_key=OPENAI_SECRET))
    assert same["api_key"].get_secret_value() == OPENAI_SECRET


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://localhost:11434/v1", True),
        ("http://127.0.0.1:8000/v1", True),
        ("http://[::1]:8000/v1", True),
        ("https://llm.example.org/v1", True),
        ("http://10.1.2.3:8000/v1", False),
        ("http://llm.example.org/v1", False),
        ("ftp://localhost/v1", False),
    ],
)
def test_plain_http_only_to_this_machine(tmp_path, url, allowed):
    cfg = Settings(data_dir=tmp_path, backend="openai-compatible", llm_base_url=url, openai_api_key=OPENAI_SECRET)
    if allowed:
        assert client_options(cfg)["base_url"] == url
        assert client_options(cfg)["api_key"].get_secret_value() == "not-needed"
    else:
        with pytest.raises(BackendError, match="refusing plain http|not an http"):
            client_options(cfg)


# -- deadlines -------------------------------------------------------------------------------------
def test_defaults_give_up_within_20_s(tmp_path):
    cfg = Settings(data_dir=tmp_path)
    assert cfg.llm_timeout_s <= 20 and cfg.mp_timeout_s <= 20


def test_the_configured_llm_timeout_reaches_the_client_without_retries(tmp_path):
    cfg = Settings(data_dir=tmp_path, backend="openai-compatible", llm_base_url="http://localhost:1/v1", llm_timeout_s=7)
    model = make_chat_model(cfg)
    assert model.max_retries == 0  # a retried timeout would double the silence
    assert model.request_timeout.read == 7 and model.request_timeout.connect == 5
    assert model.root_client.timeout.read == 7 and model.root_client.max_retries == 0


def test_a_silent_llm_server_is_reported_in_time_naming_its_url(tmp_path):
    with SilentServer() as silent:
        url = silent.url("/v1")
        cfg = Settings(data_dir=tmp_path, backend="openai-compatible", llm_base_url=url, llm_model="m", llm_timeout_s=1)
        started = time.monotonic()
        with pytest.raises(MatassistError, match=rf"the LLM server at {url} did not answer within 1 s \(MATASSIST_LLM_TIMEOUT_S\)"):
            Assistant(cfg).ask("hello there, what can you do")
        assert time.monotonic() - started < 15
        assert silent.accepted == 1  # not retried


def test_cif_generate_names_the_silent_server(tmp_path, monkeypatch):
    with SilentServer() as silent:
        url = silent.url("/v1")
        monkeypatch.setenv("MATASSIST_LLM_BASE_URL", url)
        monkeypatch.setenv("MATASSIST_LLM_TIMEOUT_S", "1")
        result = runner.invoke(app, ["cif", "generate", "LiCoO2", "--rounds", "1", "--fast", "--out", str(tmp_path / "gen")])
    assert result.exit_code == 2, result.output
    assert f"the LLM server at {url} did not answer within 1 s" in " ".join(result.output.split())


def test_llm_messages_name_the_url_actually_used(tmp_path):
    import httpx
    import openai

    timeout = openai.APITimeoutError(request=httpx.Request("POST", "https://api.openai.com/v1/chat/completions"))
    official = Settings(data_dir=tmp_path, backend="openai", openai_api_key=OPENAI_SECRET)
    assert str(llm_failure(timeout, official)).startswith("the LLM server at https://api.openai.com/v1 did not answer within 15 s")
    custom = Settings(data_dir=tmp_path, backend="openai-compatible", llm_base_url="https://llm.example.org/v1")
    assert "the LLM server at https://llm.example.org/v1" in str(llm_failure(timeout, custom))
    assert "the OpenAI API" not in str(llm_failure(timeout, custom))


def test_a_rate_limit_is_retried_by_the_agent(chat_server, tmp_path):
    _Chat.statuses = [429]
    cfg = Settings(data_dir=tmp_path, backend="openai-compatible", llm_base_url=chat_server, llm_model="m")
    assert Assistant(cfg).ask("hello there, what can you do").answer.startswith("ok")
    assert len(_Chat.seen) == 2


def test_the_configured_mp_timeout_reaches_the_client(tmp_path):
    from assistant.tools.materials_project import make_mp_client

    client = make_mp_client(Settings(data_dir=tmp_path, mp_timeout_s=7, mp_api_key=API_KEY))
    assert client.timeout_s == 7 and client.connect_timeout_s == 5
    assert make_mp_client(Settings(data_dir=tmp_path, mp_api_key=API_KEY), timeout_s=2).timeout_s == 2


def test_a_silent_materials_project_is_reported_in_time_naming_its_url(tmp_path):
    from assistant.tools.materials_project import make_mp_client

    with SilentServer() as silent:
        endpoint = silent.url("/")
        client = make_mp_client(Settings(data_dir=tmp_path, mp_timeout_s=1, mp_api_key=API_KEY), endpoint=endpoint)
        started = time.monotonic()
        with pytest.raises(MPUnavailableError, match=rf"the Materials Project \({endpoint}\) did not answer within 1 s"):
            client.summary(SummaryQuery(formula="LiNiO2"))
        assert time.monotonic() - started < 15
        client.close()


def test_mp_api_own_heartbeats_are_bounded_too(tmp_path):
    """mp-api's constructor asks /heartbeat without a timeout; a silent server there is given up in one silence period."""
    import mp_api.client  # noqa: F401  (a cold import takes seconds; it is not waiting on the server)

    from tools.materials_project.client import MaterialsProjectClient

    with StubMPServer() as server:
        server.queue("/heartbeat", body={"db_version": "2025.01.01"})  # our own status check answers
        for _ in range(3):
            server.queue("/heartbeat", delay_s=30.0, body={"db_version": "2025.01.01"})  # then the server goes silent
        client = MaterialsProjectClient(API_KEY, cache_dir=tmp_path, endpoint=server.endpoint, timeout_s=0.5,
                                        connect_timeout_s=0.5, max_retries=0)
        started = time.monotonic()
        with pytest.raises(MPUnavailableError, match=rf"the Materials Project at {server.endpoint} gave no complete answer "
                                                     r"to the status check within 1.5 s"):
            client.summary(SummaryQuery(formula="LiNiO2"))
        assert time.monotonic() - started < 10
        client.close()
