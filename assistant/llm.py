"""The LLM backends: OpenAI, or any OpenAI-compatible server (Ollama, vLLM, llama.cpp), or none.

Keys go only to the host they belong to: the OpenAI key (OPENAI_API_KEY) only to the OpenAI
API at its own address; any other server gets its own key (MATASSIST_LLM_API_KEY, may be
empty). The base URL is always passed explicitly, so the client libraries never pick one up
from the environment. Plain http is allowed only to this machine (loopback). A silent server
is given up after `llm_timeout_s` seconds without a retry, so the user hears about it in time.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from assistant.settings import Settings
from tools.domain.errors import MatassistError

OPENAI_API_URL = "https://api.openai.com/v1"
OPENAI_HOST = "api.openai.com"
CONNECT_TIMEOUT_S = 5.0


class BackendError(MatassistError):
    """The chosen LLM backend is not configured or cannot be reached."""


def resolve_backend(settings: Settings) -> str:
    """The backend in use: 'auto' picks openai with a key, a compatible server with a base URL, else offline."""
    if settings.backend != "auto":
        return settings.backend
    if settings.llm_base_url:
        return "openai-compatible"
    if settings.openai_api_key is not None and settings.openai_api_key.get_secret_value():
        return "openai"
    return "offline"


def is_openai_api(url: str) -> bool:
    """True when `url` is the OpenAI API itself (https://api.openai.com/...)."""
    parts = urlsplit(url)
    return parts.scheme == "https" and (parts.hostname or "").lower() == OPENAI_HOST


def is_loopback(host: str) -> bool:
    """True for this machine: localhost, 127.0.0.0/8, ::1."""
    if host.lower() in {"localhost", "localhost."} or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def llm_base_url(settings: Settings) -> str:
    """The base URL the configured backend talks to (the OpenAI API for the openai backend)."""
    if resolve_backend(settings) == "openai":
        return OPENAI_API_URL
    return settings.llm_base_url or ""


def check_base_url(url: str) -> None:
    """BackendError unless `url` is https, or http to this machine (a key or a prompt must not cross a network in clear)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in {"http", "https"} or not host:
        raise BackendError(f"MATASSIST_LLM_BASE_URL '{url}' is not an http(s) URL, e.g. http://localhost:11434/v1")
    if parts.scheme == "http" and not is_loopback(host):
        raise BackendError(
            f"refusing plain http to {host} ({url}): prompts and keys would cross the network unencrypted; "
            "use https, or http only to this machine (localhost, 127.0.0.1, ::1), e.g. through an SSH tunnel"
        )


def backend_label(settings: Settings) -> str:
    """A short human description of the backend, e.g. 'openai (gpt-4o-mini)'."""
    backend = resolve_backend(settings)
    if backend == "offline":
        return "offline (no LLM: deterministic router over the tools)"
    if backend == "openai-compatible":
        return f"openai-compatible ({settings.llm_model} at {settings.llm_base_url})"
    return f"openai ({settings.llm_model})"


def _secret(value: Any) -> str:
    return value.get_secret_value() if value is not None else ""


def client_options(settings: Settings) -> dict[str, Any]:
    """The base URL, key, timeout and retries the chat model gets; BackendError naming the missing or unsafe setting."""
    import httpx

    backend = resolve_backend(settings)
    if backend == "offline":
        raise BackendError("the offline backend has no chat model")
    timeout = httpx.Timeout(settings.llm_timeout_s, connect=min(CONNECT_TIMEOUT_S, settings.llm_timeout_s))
    # no client retries: a retried timeout doubles the silence; rate limits are retried by the agent
    common = {"timeout": timeout, "max_retries": 0}
    if backend == "openai":
        if settings.llm_base_url and not is_openai_api(settings.llm_base_url):
            raise BackendError(
                f"the openai backend talks only to {OPENAI_API_URL}, but a base URL is set ({settings.llm_base_url}, from "
                "MATASSIST_LLM_BASE_URL or OPENAI_BASE_URL); use MATASSIST_BACKEND=openai-compatible with "
                "MATASSIST_LLM_API_KEY for that server, or unset the base URL"
            )
        key = _secret(settings.openai_api_key)
        if not key:
            raise BackendError("the openai backend needs an API key: set OPENAI_API_KEY (or MATASSIST_OPENAI_API_KEY)")
        return {"base_url": OPENAI_API_URL, "api_key": SecretStr(key), **common}
    url = settings.llm_base_url
    if not url:
        raise BackendError("the openai-compatible backend needs a server: set MATASSIST_LLM_BASE_URL (e.g. http://localhost:11434/v1) and MATASSIST_LLM_MODEL")
    check_base_url(url)
    # the OpenAI key belongs to the OpenAI API; any other server gets its own key (or none)
    key = _secret(settings.llm_api_key) or (_secret(settings.openai_api_key) if is_openai_api(url) else "")
    return {"base_url": url, "api_key": SecretStr(key or "not-needed"), **common}


def make_chat_model(settings: Settings) -> Any:
    """A LangChain chat model for the configured backend; BackendError naming the missing setting."""
    options = client_options(settings)
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(model=settings.llm_model, temperature=0, **options)


def llm_failure(err: Exception, settings: Settings) -> BackendError:
    """A plain message for an LLM client failure (unreachable or silent server, bad key, rate limit), naming the URL used."""
    import openai

    where = llm_base_url(settings) or "(no base URL)"
    own_key = "OPENAI_API_KEY" if resolve_backend(settings) == "openai" else "MATASSIST_LLM_API_KEY (the OpenAI key goes only to api.openai.com)"
    if isinstance(err, openai.AuthenticationError):
        return BackendError(f"the LLM server at {where} refused the API key (check {own_key})")
    if isinstance(err, openai.APITimeoutError):
        return BackendError(f"the LLM server at {where} did not answer within {settings.llm_timeout_s:g} s (MATASSIST_LLM_TIMEOUT_S)")
    if isinstance(err, openai.APIConnectionError):
        return BackendError(f"cannot reach the LLM server at {where}; check MATASSIST_LLM_BASE_URL or use MATASSIST_BACKEND=offline")
    if isinstance(err, openai.APIStatusError):
        return BackendError(f"the LLM server at {where} answered HTTP {err.status_code}: {err.message}")
    if isinstance(err, MatassistError):
        return BackendError(str(err))
    return BackendError(f"the LLM backend at {where} failed: {type(err).__name__}: {err}")
