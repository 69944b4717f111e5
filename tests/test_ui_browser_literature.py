"""In real Chromium: a retrieved passage is a quotation in the chat, its forged markup shown as text (issue 17)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.browser import CHAT_INPUT, HAS_EXCEPTION, streamlit_server
from tests.test_literature import FORGED, POISONED_NOTE
from tools.literature.store import LiteratureStore

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"

pytestmark = pytest.mark.browser

QUOTED_FORGERY = f"""
[...document.querySelectorAll('[data-testid="stChatMessage"] blockquote')]
  .some(b => b.innerText.includes({json.dumps(FORGED)}))
"""


def test_poisoned_passage_shows_as_quoted_text_in_the_chat(browser, tmp_path):
    data_dir = tmp_path / "data"
    store = LiteratureStore(data_dir / "literature")  # the app's store and its default embedder
    store.ingest_starter_corpus()
    note = tmp_path / "poisoned.md"
    note.write_text(POISONED_NOTE, encoding="utf-8")
    store.ingest([note])
    log = tmp_path / "streamlit.log"
    with streamlit_server(data_dir, log) as url:
        browser.goto(url)
        browser.wait_for(f"document.querySelector('{CHAT_INPUT}') !== null", timeout=60)
        browser.type_and_enter(CHAT_INPUT, "search the literature for Nb doping")
        browser.wait_for(QUOTED_FORGERY, timeout=120)
        # the forged tags are text, never elements; every line with the fake number is inside a quotation
        assert browser.evaluate("document.querySelector('passage, system') === null")
        outside = browser.evaluate(
            """[...document.querySelectorAll('[data-testid="stChatMessage"] [data-testid="stMarkdownContainer"] > *')]
                 .filter(e => e.tagName !== 'BLOCKQUOTE' && e.innerText.includes('400 mAh/g')).length"""
        )
        assert outside == 0
        assert not browser.evaluate(HAS_EXCEPTION)
        browser.screenshot(ARTIFACTS / "ui-literature-quoted.png")
    logged = log.read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in logged, logged[-3000:]
