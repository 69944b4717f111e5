"""The LLM backends: OpenAI, or any OpenAI-compatible server (Ollama, vLLM, llama.cpp), or none."""

from __future__ import annotations

from typing import Any

from assistant.settings import Settings
from tools.domain.errors import MatassistError


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


def backend_label(settings: Settings) -> str:
    """A short human description of the backend, e.g. 'openai (gpt-4o-mini)'."""
    backend = resolve_backend(settings)
    if backend == "offline":
        return "offline (no LLM: deterministic router over the tools)"
    if backend == "openai-compatible":
        return f"openai-compatible ({settings.llm_model} at {settings.llm_base_url})"
    return f"openai ({settings.llm_model})"


def make_chat_model(settings: Settings) -> Any:
    """A LangChain chat model for the configured backend; BackendError naming the missing setting."""
    backend = resolve_backend(settings)
    if backend == "offline":
        raise BackendError("the offline backend has no chat model")
    from langchain_openai import ChatOpenAI

    if backend == "openai":
        if settings.openai_api_key is None or not settings.openai_api_key.get_secret_value():
            raise BackendError("the openai backend needs an API key: set OPENAI_API_KEY (or MATASSIST_OPENAI_API_KEY)")
        return ChatOpenAI(
            model=settings.llm_model,
            api_key=settings.openai_api_key,
            timeout=settings.llm_timeout_s,
            max_retries=2,
            temperature=0,
        )
    if not settings.llm_base_url:
        raise BackendError("the openai-compatible backend needs a server: set MATASSIST_LLM_BASE_URL (e.g. http://localhost:11434/v1) and MATASSIST_LLM_MODEL")
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key is not None else "not-needed"
    return ChatOpenAI(
        model=settings.llm_model,
        base_url=settings.llm_base_url,
        api_key=key,  # type: ignore[arg-type]
        timeout=settings.llm_timeout_s,
        max_retries=1,
        temperature=0,
    )
