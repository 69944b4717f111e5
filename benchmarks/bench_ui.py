"""First page render of the Streamlit app: seconds from navigation until the chat input is on screen.

The server is started once and waited for (/_stcore/health); each of the runs opens a fresh
headless Chromium profile and navigates to the app. Prints JSON with every run and the median.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.browser import CHAT_INPUT, Browser, streamlit_server  # noqa: E402


def main(runs: int = 5) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="bench-ui-"))
    times: list[float] = []
    with streamlit_server(data_dir, data_dir / "streamlit.log") as url:
        for _ in range(runs):
            browser = Browser()
            try:
                start = time.monotonic()
                browser.goto(url)
                browser.wait_for(f"document.querySelector('{CHAT_INPUT}') !== null", timeout=60)
                times.append(round(time.monotonic() - start, 3))
            finally:
                browser.close()
    print(json.dumps({"benchmark": "ui_first_render", "unit": "s", "runs": times, "median": statistics.median(times),
                      "target": 3.0, "what": "navigation to chat input visible, fresh browser profile, server already up"}))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
