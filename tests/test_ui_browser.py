"""Load the running app in headless Chromium, send a message, save a screenshot; fail on any exception shown."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.browser import CHAT_INPUT, HAS_EXCEPTION, Browser, chromium_path, streamlit_server

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"

pytestmark = pytest.mark.browser
# the app has finished its script run: no "running" widget and no open status spinner
IDLE = "document.querySelector('[data-testid=\"stStatusWidget\"]') === null && !document.body.innerText.includes('working ...')"


@pytest.fixture()
def browser():
    if chromium_path() is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI: scripts/test.sh installs it (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    b = Browser()
    yield b
    b.close()


def test_chat_in_a_real_browser(browser, shared_data_dir, tmp_path):
    with streamlit_server(shared_data_dir, tmp_path / "streamlit.log") as url:
        browser.goto(url)
        browser.wait_for(f"document.querySelector('{CHAT_INPUT}') !== null", timeout=60)
        assert not browser.evaluate(HAS_EXCEPTION)
        browser.type_and_enter(CHAT_INPUT, "propose 5 runs at 94% Ni")
        browser.wait_for("document.querySelector('[data-testid=\"stDataFrame\"]') !== null", timeout=300)
        browser.wait_for(IDLE, timeout=120)
        browser.wait_for("document.querySelectorAll('[data-testid=\"stImage\"] img').length >= 2", timeout=60)
        browser.evaluate("window.scrollTo(0, 0)")
        shot = browser.screenshot(ARTIFACTS / "ui-proposals.png")
        assert shot.stat().st_size > 10_000
        assert not browser.evaluate(HAS_EXCEPTION), "the page shows an exception"
        text = browser.evaluate("document.body.innerText")
        assert "5 proposals with ni = 0.94" in text
        assert "Deploy" not in text, "lab users get no developer toolbar"
