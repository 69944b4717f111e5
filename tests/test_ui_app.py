"""The Streamlit app driven offline with AppTest: proposals, plan download, a malformed CSV upload."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "ui" / "app.py")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture()
def app(shared_data_dir, monkeypatch):
    monkeypatch.setenv("MATASSIST_DATA_DIR", str(shared_data_dir))
    at = AppTest.from_file(APP, default_timeout=600)
    at.run()
    assert not at.exception, at.exception
    return at


def _texts(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_a_whole_offline_conversation(app):
    assert "offline" in _texts(app)
    app.chat_input[0].set_value("propose next 94% Ni conditions").run()
    assert not app.exception, app.exception
    assert len(app.dataframe) == 1
    table = app.dataframe[0].value
    assert len(table) == 10 and set(table["ni"]) == {0.94}
    assert any(b.label == "Download proposals (CSV)" for b in app.get("download_button"))

    app.chat_input[0].set_value("draft an experiment plan for these").run()
    assert not app.exception, app.exception
    labels = [b.label for b in app.get("download_button")]
    assert "Download plan.md" in labels and "Download results_template.csv" in labels
    assert "CR2032" in _texts(app)


def test_malformed_csv_is_refused_and_nothing_changes(app):
    uploader = next(u for u in app.get("file_uploader") if u.label == "Upload a record (CSV)")
    uploader.set_value(("bad.csv", b"ni,co,mn,calcination_temp\n0.92,0.04,0.04,762\n", "text/csv")).run()
    assert not app.exception, app.exception
    errors = [e.value for e in app.error]
    assert any("bad.csv was not loaded" in e and "calcination_temp" in e for e in errors), errors
    assert "built-in demo record (simulated)" in _texts(app)


def test_two_sessions_do_not_share_state(shared_data_dir, monkeypatch):
    monkeypatch.setenv("MATASSIST_DATA_DIR", str(shared_data_dir))
    first = AppTest.from_file(APP, default_timeout=600)
    second = AppTest.from_file(APP, default_timeout=600)
    first.run()
    second.run()
    first.chat_input[0].set_value("hello").run()
    assert len(first.session_state.messages) == 2
    assert len(second.session_state.messages) == 0
    assert first.session_state.session_dir != second.session_state.session_dir


def test_ui_command_keeps_the_users_folder_for_dotenv(tmp_path, monkeypatch):
    """`matassist ui` must not change directory: a .env where the user started is read like everywhere else."""
    from typer.testing import CliRunner

    from cli.app import app

    seen = {}

    def fake_execve(path, argv, env):
        import os

        seen.update(cwd=os.getcwd(), argv=list(argv), env=dict(env))
        raise SystemExit(0)

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("os.execve", fake_execve)
    result = CliRunner().invoke(app, ["ui", "--server.port", "8599"])
    assert result.exit_code == 0, result.output
    assert seen["cwd"] == str(tmp_path)
    assert seen["argv"][1:4] == ["-P", "-m", "ui.launch"] and "8599" in seen["argv"]
    assert seen["env"]["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] == "false"


def test_an_electrode_answer_shows_the_voltage_capacity_picture(shared_data_dir, fast_electrode_models, monkeypatch):
    import shutil

    from tests.conftest import FAST_ELECTRODE_CONFIG
    from tools.electrodes import cache
    from tools.electrodes.model import ModelConfig

    monkeypatch.setattr(cache, "default_config", lambda: ModelConfig(**FAST_ELECTRODE_CONFIG))
    shutil.copytree(fast_electrode_models, shared_data_dir / "models" / "electrodes", dirs_exist_ok=True)
    monkeypatch.setenv("MATASSIST_DATA_DIR", str(shared_data_dir))
    at = AppTest.from_file(APP, default_timeout=600)
    at.run()
    at.chat_input[0].set_value("rank LiCoO2, LiFePO4 and LiMn2O4 by energy per gram").run()
    assert not at.exception, at.exception
    assert "ranked by specific energy (Wh/kg)" in _texts(at)
    assert len(at.get("image")) == 1  # the voltage-capacity picture with its iso-energy lines
