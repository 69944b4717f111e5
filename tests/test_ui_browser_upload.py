"""In real Chromium: uploading the demo CSV makes it the active record at once, flagged as simulated; a clean log."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.browser import CHAT_INPUT, HAS_EXCEPTION, streamlit_server

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
DEMO = ROOT / "knowledge" / "demo" / "ncm_demo.csv"

pytestmark = pytest.mark.browser

MARK_RECORD_INPUT = """
(() => {
  for (const box of document.querySelectorAll('[data-testid="stFileUploader"]')) {
    if (box.innerText.includes('Upload a record')) {
      const input = box.querySelector('input[type="file"]');
      if (input) { input.setAttribute('data-matassist', 'record'); return true; }
    }
  }
  return false;
})()
"""


def test_uploading_the_demo_csv_updates_label_and_simulated_flag(browser, shared_data_dir, tmp_path):
    upload = tmp_path / "my-demo-copy.csv"
    shutil.copyfile(DEMO, upload)
    log = tmp_path / "streamlit.log"
    with streamlit_server(shared_data_dir, log) as url:
        browser.goto(url)
        browser.wait_for(f"document.querySelector('{CHAT_INPUT}') !== null", timeout=60)
        browser.wait_for(MARK_RECORD_INPUT, timeout=30)
        root = browser.send("DOM.getDocument", depth=-1, pierce=True)["root"]["nodeId"]
        node = browser.send("DOM.querySelector", nodeId=root, selector='input[data-matassist="record"]')["nodeId"]
        browser.send("DOM.setFileInputFiles", files=[str(upload)], nodeId=node)
        # the label follows the upload in the same rerun, not one upload later
        browser.wait_for("document.body.innerText.includes('my-demo-copy.csv (652 runs)')", timeout=120)
        text = browser.evaluate("document.body.innerText")
        assert "built-in demo record (simulated)" not in text
        assert "every run in this record is simulated (source=synthetic)" in text
        assert not browser.evaluate(HAS_EXCEPTION)
        browser.screenshot(ARTIFACTS / "ui-upload.png")
    logged = log.read_text(encoding="utf-8", errors="replace")
    assert "deprecat" not in logged.lower(), logged[-3000:]
    assert "Traceback" not in logged, logged[-3000:]
