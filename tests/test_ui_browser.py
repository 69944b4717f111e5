"""Load the running app in headless Chromium, hold a conversation, read the page, save screenshots; fail on any exception shown."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.browser import CHAT_INPUT, HAS_EXCEPTION, streamlit_server

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"

pytestmark = pytest.mark.browser
# the app has finished its script run: no "running" widget and no open status spinner
IDLE = "document.querySelector('[data-testid=\"stStatusWidget\"]') === null && !document.body.innerText.includes('working ...')"


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


# the last assistant message: its text and the Markdown table of proposals in it (header and cells as shown)
LAST_ANSWER = """(() => {
  const messages = [...document.querySelectorAll('[data-testid="stChatMessage"]')];
  const last = messages[messages.length - 1];
  const table = last.querySelector('[data-testid="stMarkdownContainer"] table');
  return JSON.stringify({
    text: last.innerText,
    headers: table ? [...table.querySelectorAll('thead th')].map(c => c.innerText.trim()) : [],
    rows: table ? [...table.querySelectorAll('tbody tr')].map(r => [...r.querySelectorAll('td')].map(c => c.innerText.trim())) : [],
  });
})()"""
# the proposals grid (st.dataframe) keeps an accessible table of its (visible) cells beside the canvas it draws
GRID = """(() => {
  const grids = document.querySelectorAll('[data-testid="stDataFrame"]');
  const grid = grids[grids.length - 1];
  const rows = [...grid.querySelectorAll('table tr')].map(r => [...r.querySelectorAll('th, td')].map(c => c.innerText.trim()));
  return JSON.stringify(rows);
})()"""


def proposal_rows(answer: dict) -> list[dict[str, str]]:
    """Each proposal of a Markdown answer as parameter -> shown value (its columns plus 'Same in every proposal')."""
    same = re.search(r"Same in every proposal: (.+?)\.(?:\n|$)", answer["text"])
    shared = dict(item.split(" = ", 1) for item in same.group(1).split(", ")) if same else {}
    return [{**shared, **dict(zip(answer["headers"], cells, strict=True))} for cells in answer["rows"]]


def test_a_constrained_follow_up_on_the_page(browser, shared_data_dir, tmp_path):
    """The issue's conversation (a): every row on the page has ni 0.94, Li2CO3 and calcination below 760 degC."""
    tables = "document.querySelectorAll('[data-testid=\"stDataFrame\"]').length"
    with streamlit_server(shared_data_dir, tmp_path / "streamlit.log") as url:
        browser.goto(url)
        browser.wait_for(f"document.querySelector('{CHAT_INPUT}') !== null", timeout=60)
        browser.type_and_enter(CHAT_INPUT, "propose next 94% Ni conditions")
        browser.wait_for(f"{tables} >= 1", timeout=600)
        browser.wait_for(IDLE, timeout=120)
        browser.type_and_enter(CHAT_INPUT, "now keep calcination below 760 C and use Li2CO3")
        browser.wait_for(f"{tables} >= 2", timeout=600)
        browser.wait_for(IDLE, timeout=120)
        browser.wait_for("document.querySelectorAll('[data-testid=\"stImage\"] img').length >= 4", timeout=60)
        # the run that drew the answer live ends with a rerun that draws it from the session: wait until the
        # last message on the page is the answer itself, not the live status box the rerun replaces
        browser.wait_for(f"JSON.parse({LAST_ANSWER}).rows.length > 0", timeout=120)
        assert not browser.evaluate(HAS_EXCEPTION), "the page shows an exception"

        answer = json.loads(browser.evaluate(LAST_ANSWER))
        rows = proposal_rows(answer)
        assert len(rows) == 10, answer
        for row in rows:
            assert float(row["ni"]) == 0.94 and row["li_source"] == "Li2CO3", row
            assert float(row["calcination_temp_c"]) < 760, row
        assert "Holding: ni = 0.94; li_source = Li2CO3; calcination_temp_c < 760 degC." in answer["text"]
        # the grid keeps accessible cells for its visible columns only: a wide window shows them all
        browser.send("Emulation.setDeviceMetricsOverride", width=3600, height=1000, deviceScaleFactor=1, mobile=False)
        browser.wait_for(f"JSON.parse({GRID})[0].includes('calcination_temp_c')", timeout=60)
        header, *cells = [r for r in json.loads(browser.evaluate(GRID)) if r]  # the grid's own cells
        assert len(cells) == 10 and {"ni", "li_source", "calcination_temp_c"} <= set(header), header
        for line in cells:
            shown = dict(zip(header, line, strict=False))
            assert float(shown["ni"]) == 0.94 and shown["li_source"] == "Li2CO3" and float(shown["calcination_temp_c"]) < 760, shown
        text = browser.evaluate("document.body.innerText")
        assert "Holding: ni = 0.94; li_source = Li2CO3; calcination_temp_c < 760 degC" in text  # above the chat input

        # a tall window, so the picture holds the answer's table, its figures and the holding line above the chat input
        browser.send("Emulation.setDeviceMetricsOverride", width=1400, height=1900, deviceScaleFactor=1, mobile=False)
        browser.evaluate("""(() => { const m = [...document.querySelectorAll('[data-testid="stChatMessage"]')];
                              m[m.length - 1].scrollIntoView({block: 'start'}); })()""")
        browser.wait_for(IDLE, timeout=60)
        shot = browser.screenshot(ARTIFACTS / "ui-constraints.png")
        assert shot.stat().st_size > 10_000
