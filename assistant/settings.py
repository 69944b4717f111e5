"""One settings tree for the whole app, read from MATASSIST_* environment variables and `.env`.

Keys are looked up in this order: explicit argument, then environment variable, then `.env`.
The OpenAI and Materials Project keys are also read under their usual names
(OPENAI_API_KEY, MP_API_KEY). Each key goes only to the host it belongs to: the OpenAI key to
api.openai.com, a custom LLM server's key (MATASSIST_LLM_API_KEY) to that server. The base URL
is also read from OPENAI_BASE_URL and OPENAI_API_BASE, which the OpenAI client libraries would
otherwise follow on their own, silently sending the OpenAI key there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tools.structures.models import (
    DEFAULT_EXPANDED_ATOMS_LIMIT,
    DEFAULT_TIME_LIMIT_S,
    ValidationLimits,
)

Backend = Literal["auto", "offline", "openai", "openai-compatible"]


class Settings(BaseSettings):
    """Application settings; every field can be set as MATASSIST_<NAME>."""

    model_config = SettingsConfigDict(
        env_prefix="MATASSIST_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    data_dir: Path = Field(
        default=Path("~/.matassist"),
        description="folder for everything the app writes: store, models, caches, plots",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the experiment store; default sqlite:///<data_dir>/matassist.db",
    )
    design_space: str = Field(default="ncm", description="built-in design space name or a YAML path")
    backend: Backend = Field(default="auto", description="auto picks openai when a key is set, else offline")
    openai_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("MATASSIST_OPENAI_API_KEY", "OPENAI_API_KEY"),
        description="key for the openai backend",
    )
    llm_base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MATASSIST_LLM_BASE_URL", "OPENAI_BASE_URL", "OPENAI_API_BASE"),
        description="base URL of an OpenAI-compatible server (https, or http on this machine only)",
    )
    llm_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("MATASSIST_LLM_API_KEY"),
        description="key for the server at llm_base_url (empty for a local server without keys); the OpenAI key is never sent there",
    )
    llm_model: str = Field(default="gpt-4o-mini", description="chat model name")
    llm_timeout_s: float = Field(
        default=15.0, gt=0, description="seconds an LLM server may stay silent before the call is given up (and no retry)"
    )
    chroma_url: str | None = Field(
        default=None, description="URL of a chromadb HTTP server for the literature store; default: a folder in the data dir"
    )
    mp_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("MATASSIST_MP_API_KEY", "MP_API_KEY"),
        description="Materials Project API key",
    )
    mp_timeout_s: float = Field(
        default=15.0, gt=0, description="seconds the Materials Project may stay silent before a question is given up"
    )

    cif_expanded_atoms_limit: int = Field(
        default=DEFAULT_EXPANDED_ATOMS_LIMIT, ge=1, le=1_000_000,
        description="most atoms a CIF may expand to under its symmetry operations; larger CIFs are refused unchecked",
    )
    cif_time_limit_s: float = Field(
        default=DEFAULT_TIME_LIMIT_S, gt=0, le=86_400, description="per-file time limit of the CIF checks, seconds"
    )

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @property
    def store_url(self) -> str:
        """The experiment store URL, defaulting to SQLite in the data directory."""
        return self.database_url or f"sqlite:///{self.data_dir / 'matassist.db'}"

    @property
    def cif_limits(self) -> ValidationLimits:
        """The CIF validator's limits (atoms after expansion, seconds per file) from these settings."""
        return ValidationLimits(expanded_atoms_limit=self.cif_expanded_atoms_limit, time_limit_s=self.cif_time_limit_s)

    def ensure_data_dir(self) -> Path:
        """Create the data directory when needed and return it."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return self.data_dir


def get_settings() -> Settings:
    """Fresh settings from the current environment."""
    return Settings()
