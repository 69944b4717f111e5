"""The fitted electrode model, kept under <models dir>/<data hash prefix>/ and reused while the data are unchanged.

The cache key is the SHA-256 of the training CSV's bytes (the folder) plus the hyper-parameters
and the model version (the file name): change any of them and the model is trained again.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tools.domain.errors import ModelError
from tools.electrodes.model import MODEL_VERSION, ModelConfig

if TYPE_CHECKING:
    from tools.electrodes.data import ElectrodeDataset
    from tools.electrodes.model import ElectrodeModel
    from tools.electrodes.schemas import ModelInfo

FOLDER_HASH_CHARS = 16


def default_config() -> ModelConfig:
    """The hyper-parameters the product trains with (tests replace this with a small model)."""
    return ModelConfig()


def config_key(config: ModelConfig) -> str:
    """Hash of the hyper-parameters and the model version."""
    payload = json.dumps({"config": config.model_dump(mode="json"), "version": MODEL_VERSION}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def model_folder(models_dir: Path, data_sha256: str) -> Path:
    """<models dir>/<first 16 hex digits of the data hash>."""
    return Path(models_dir) / data_sha256[:FOLDER_HASH_CHARS]


def model_file(models_dir: Path, data_sha256: str, config: ModelConfig) -> Path:
    """The JSON file holding the model trained on these data with this config."""
    return model_folder(models_dir, data_sha256) / f"model-{config_key(config)}.json"


def _load(path: Path) -> tuple[ElectrodeModel, dict[str, object]] | None:
    """The model saved at `path`, or None when it is missing or unreadable (then it is trained again)."""
    from tools.electrodes.model import ElectrodeModel

    if not path.exists():
        return None
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        if payload.get("model_version") != MODEL_VERSION:
            return None
        return ElectrodeModel.from_dict(payload["model"]), dict(payload["info"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def load_or_train(
    models_dir: Path,
    data_path: str | Path | None = None,
    config: ModelConfig | None = None,
    progress: Callable[[str], None] | None = None,
    dataset: ElectrodeDataset | None = None,
) -> tuple[ElectrodeModel, ModelInfo]:
    """The cached model for this table and config, or a newly trained one saved in the cache.

    `data_path` None means the shipped Battery Explorer snapshot; `dataset` (already loaded from
    `data_path`) saves reading it twice. Returns the model and where it came from.
    """
    from tools.domain.fileio import atomic_write_text
    from tools.electrodes.data import load_dataset, sha256_of, table_bytes
    from tools.electrodes.model import train_model
    from tools.electrodes.schemas import ModelInfo

    cfg = config or default_config()
    if dataset is None:
        raw, _, label = table_bytes(data_path)
        sha = sha256_of(raw)
    else:
        sha, label = dataset.sha256, dataset.source
    path = model_file(models_dir, sha, cfg)
    saved = _load(path)
    if saved is not None:
        model, stored = saved
        return model, ModelInfo.model_validate({**stored, "reused": True, "folder": str(path.parent)})
    ds = dataset if dataset is not None else load_dataset(data_path)
    sha, path = ds.sha256, model_file(models_dir, ds.sha256, cfg)  # the bytes just parsed, should the file have changed
    if progress is not None:
        progress(f"training the electrode model on {len(ds)} electrodes ({label}); done once per table")
    started = time.perf_counter()
    model = train_model(ds, cfg)
    info = ModelInfo(data_sha256=sha, data_source=label, n_train=len(ds), model_version=MODEL_VERSION, config_key=config_key(cfg),
                     train_seconds=time.perf_counter() - started, folder=str(path.parent), reused=False)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ModelError(f"{path.parent}: cannot create the electrode model folder ({err.strerror or err})") from err
    payload = {"model_version": MODEL_VERSION, "info": info.model_dump(mode="json", exclude={"reused", "folder"}), "model": model.to_dict()}
    atomic_write_text(path, json.dumps(payload) + "\n")
    return model, info
