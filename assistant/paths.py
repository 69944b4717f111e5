"""Where the app keeps what it writes, in one place."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from assistant.settings import Settings

if TYPE_CHECKING:
    from tools.domain.record import ExperimentRecord


def model_folder(settings: Settings, record: ExperimentRecord) -> Path:
    """The capacity model fitted on this record's content: <data dir>/models/<data hash prefix>."""
    return settings.ensure_data_dir() / "models" / record.data_hash()[:12]


def electrode_models_dir(settings: Settings) -> Path:
    """Where fitted electrode models are kept: <data dir>/models/electrodes (one folder per table hash below it)."""
    return settings.ensure_data_dir() / "models" / "electrodes"
