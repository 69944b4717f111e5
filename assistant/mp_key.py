"""Find the Materials Project API key, in the same order as mp-api itself.

1. an explicit argument (e.g. typed into the UI),
2. the environment: MP_API_KEY (or MATASSIST_MP_API_KEY, or either in `.env`), via Settings,
3. pymatgen's configuration: PMG_MAPI_KEY in ~/.config/.pmgrc.yaml (or a PMG_MAPI_KEY variable).

Tools never look keys up themselves; the assistant layer calls this and passes the key in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from assistant.settings import Settings, get_settings

KeySource = Literal["argument", "environment", "pymatgen config"]


@dataclass(frozen=True)
class MPKey:
    """A Materials Project API key and where it was found (the value never shows in repr)."""

    value: str = field(repr=False)
    source: KeySource


def _pymatgen_key() -> str | None:
    """PMG_MAPI_KEY from pymatgen's settings (its config file, or a PMG_MAPI_KEY variable)."""
    from pymatgen.core import SETTINGS  # heavy: only imported when the cheaper places are empty

    value = SETTINGS.get("PMG_MAPI_KEY")
    return str(value).strip() if value else None


def resolve_mp_api_key(explicit: str | None = None, settings: Settings | None = None) -> MPKey | None:
    """The first key found: argument, then MP_API_KEY (settings), then pymatgen's config; None if none."""
    if explicit and explicit.strip():
        return MPKey(explicit.strip(), "argument")
    current = settings if settings is not None else get_settings()
    if current.mp_api_key is not None and current.mp_api_key.get_secret_value().strip():
        return MPKey(current.mp_api_key.get_secret_value().strip(), "environment")
    from_pymatgen = _pymatgen_key()
    if from_pymatgen:
        return MPKey(from_pymatgen, "pymatgen config")
    return None
