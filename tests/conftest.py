"""Shared fixtures: the NCM space, the simulated demo record, an isolated data directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tools.campaign.virtual_lab import VirtualLab
from tools.domain.design_space import DesignSpace, load_design_space
from tools.domain.record import ExperimentRecord, write_record

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def ncm_space() -> DesignSpace:
    return load_design_space("ncm")


@pytest.fixture(scope="session")
def demo_record() -> ExperimentRecord:
    """The 652-run simulated demo record (seed 7, as `matassist dataset demo` writes it)."""
    return VirtualLab(seed=7).demo_record()


@pytest.fixture()
def demo_csv(tmp_path: Path, demo_record: ExperimentRecord) -> Path:
    path = tmp_path / "demo.csv"
    write_record(demo_record, path)
    return path


@pytest.fixture(autouse=True)
def isolated_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test writes into its own data directory and sees no API keys."""
    data_dir = tmp_path_factory.mktemp("matassist-data")
    monkeypatch.setenv("MATASSIST_DATA_DIR", str(data_dir))
    for key in ("OPENAI_API_KEY", "MATASSIST_OPENAI_API_KEY", "MP_API_KEY", "MATASSIST_MP_API_KEY",
                "MATASSIST_BACKEND", "MATASSIST_LLM_BASE_URL", "MATASSIST_DATABASE_URL", "MATASSIST_LLM_API_KEY",
                "OPENAI_BASE_URL", "OPENAI_API_BASE", "MATASSIST_LLM_TIMEOUT_S", "MATASSIST_MP_TIMEOUT_S"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(data_dir)  # no stray .env from the repo
    return data_dir


@pytest.fixture(scope="session")
def shared_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory shared by the tests of a session, so a fitted model is reused (load_or_fit)."""
    return tmp_path_factory.mktemp("matassist-shared-data")


@pytest.fixture()
def standin_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Replace the (slow) model fit with the closed-form stand-in (tests/proposer_standin.py) for CLI and chat tests."""
    import tools.modelling.capacity_model as cm
    from tests.proposer_standin import ncm_standin

    def fake_load_or_fit(record, folder, seed=0, **_kw):
        return ncm_standin(record.space), False

    monkeypatch.setattr(cm, "load_or_fit", fake_load_or_fit)


@pytest.fixture()
def small_swarm(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 30-iteration, 20-particle swarm wherever no size is given (the assistant's tools, `matassist ask`)."""
    import tools.proposer.swarm as swarm

    full = swarm.propose

    def propose(*args, iterations=None, particles=None, **kwargs):
        return full(*args, iterations=iterations or 30, particles=particles or 20, **kwargs)

    monkeypatch.setattr(swarm, "propose", propose)


@pytest.fixture(scope="session")
def pg_cluster():
    """A throw-away PostgreSQL cluster for the session (the `postgres` tier); skipped, with the reason, where it cannot start."""
    from tests.pg_cluster import ClusterUnavailable, start_cluster

    try:
        cluster = start_cluster()
    except ClusterUnavailable as exc:
        pytest.skip(f"PostgreSQL tier skipped: {exc}")
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty experiment store: SQLite in the fast tier, a fresh PostgreSQL database in the postgres tier."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("pg_cluster").new_database()


# -- the electrode model: small and trained once per session, so the fast tier stays fast ---------
FAST_ELECTRODE_CONFIG = {"n_estimators": 15, "n_seeds": 2, "calibration_folds": 2}
"""A small electrode model (15 boosting rounds, 2 seeds): seconds to train; the full model trains in the slow tier."""
ELECTRODE_SUBSAMPLE_STEP = 8
"""Tests train on every 8th row of the shipped table (435 electrodes), plus a few well-known ones."""
KNOWN_ELECTRODES = {("Li", "CoO2", "LiCoO2"), ("Li", "FePO4", "LiFePO4"), ("Na", "FePO4", "NaFePO4")}


@pytest.fixture(scope="session")
def electrode_table():
    """The shipped Battery Explorer table, parsed (tools.electrodes.data.ElectrodeDataset)."""
    from tools.electrodes.data import load_dataset

    return load_dataset()


@pytest.fixture(scope="session")
def electrode_subsample(electrode_table):
    """Every 8th electrode of the shipped table plus LiCoO2, LiFePO4 and NaFePO4 (a dataset of its own)."""
    import numpy as np

    frame = electrode_table.frame
    known = [i for i, row in enumerate(zip(frame["Working Ion"], frame["Formula Charge"], frame["Formula Discharge"], strict=True))
             if row in KNOWN_ELECTRODES]
    idx = np.unique(np.r_[np.arange(0, len(electrode_table), ELECTRODE_SUBSAMPLE_STEP), known])
    return electrode_table.subset(idx)


@pytest.fixture(scope="session")
def fast_electrode_models(tmp_path_factory: pytest.TempPathFactory, electrode_table, electrode_subsample) -> Path:
    """A models folder holding a small model trained on the subsample, filed under the shipped table's hash.

    The product finds it where it would find the model of the shipped table, so the tool, the CLI
    and the UI answer in seconds; what it predicts is of course worse than the real model's.
    """
    import dataclasses

    from tools.electrodes.cache import load_or_train
    from tools.electrodes.model import ModelConfig

    folder = tmp_path_factory.mktemp("electrode-models")
    as_shipped = dataclasses.replace(electrode_subsample, sha256=electrode_table.sha256, source=electrode_table.source)
    load_or_train(folder, config=ModelConfig(**FAST_ELECTRODE_CONFIG), dataset=as_shipped)
    return folder


@pytest.fixture()
def fast_electrodes(fast_electrode_models: Path, isolated_data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The small electrode model in this test's data directory, and the small config as the product's default."""
    import shutil

    from tools.electrodes import cache
    from tools.electrodes.model import ModelConfig

    monkeypatch.setattr(cache, "default_config", lambda: ModelConfig(**FAST_ELECTRODE_CONFIG))
    target = isolated_data_dir / "models" / "electrodes"
    shutil.copytree(fast_electrode_models, target, dirs_exist_ok=True)
    return target


@pytest.fixture()
def browser():
    """A headless Chromium driven over the DevTools protocol (tests/browser.py); skipped without Chromium, except in CI."""
    from tests.browser import Browser, chromium_path

    if chromium_path() is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI: scripts/test.sh installs it (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    b = Browser()
    yield b
    b.close()
