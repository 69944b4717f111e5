"""Serve the Streamlit app on loopback and drive Debian's headless Chromium over the DevTools protocol.

Used by the browser test and benchmarks/bench_ui.py. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic",
    "--disable-dev-shm-usage", "--window-size=1400,1000",
]


def chromium_path() -> str | None:
    """Path of a Chromium binary, or None."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, timeout: float = 2.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback only
        return bytes(response.read())


@contextlib.contextmanager
def streamlit_server(data_dir: Path, log: Path) -> Iterator[str]:
    """Start `matassist ui` on a free loopback port; yields the base URL once /_stcore/health answers."""
    port = free_port()
    env = dict(os.environ, MATASSIST_DATA_DIR=str(data_dir), STREAMLIT_BROWSER_GATHER_USAGE_STATS="false")
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli.app", "ui", "--server.port", str(port), "--server.address", "127.0.0.1"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    raise RuntimeError(f"streamlit exited with {proc.returncode}: {log.read_text()[-2000:]}")
                with contextlib.suppress(OSError):
                    if _get(f"http://127.0.0.1:{port}/_stcore/health") == b"ok":
                        break
                time.sleep(0.25)
            else:
                raise RuntimeError("streamlit did not become healthy in 90 s")
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class Browser:
    """A headless Chromium with one page, driven over the DevTools protocol."""

    def __init__(self) -> None:
        from websockets.sync.client import connect

        binary = chromium_path()
        if binary is None:
            raise RuntimeError("chromium is not installed")
        self.profile = tempfile.mkdtemp(prefix="matassist-chromium-")
        port = free_port()
        self.proc = subprocess.Popen(
            [binary, *CHROMIUM_FLAGS, f"--remote-debugging-port={port}", "--remote-debugging-address=127.0.0.1",
             f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        targets: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError):
                targets = [t for t in json.loads(_get(f"http://127.0.0.1:{port}/json")) if t.get("type") == "page"]
                if targets:
                    break
            time.sleep(0.1)
        if not targets:
            self.close()
            raise RuntimeError("chromium did not open its DevTools port")
        self._stack = contextlib.ExitStack()
        self.ws = self._stack.enter_context(connect(targets[0]["webSocketDebuggerUrl"], max_size=64 * 2**20, open_timeout=10))
        self._id = 0

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=60))
            if message.get("id") == self._id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def goto(self, url: str) -> None:
        self.send("Page.enable")
        self.send("Page.navigate", url=url)

    def wait_for(self, expression: str, timeout: float) -> float:
        """Poll a JS expression until truthy; returns the seconds it took."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.evaluate(expression):
                return time.monotonic() - start
            time.sleep(0.05)
        raise TimeoutError(f"not true after {timeout} s: {expression}")

    def type_and_enter(self, selector: str, text: str) -> None:
        self.evaluate(f"document.querySelector({json.dumps(selector)}).focus()")
        self.send("Input.insertText", text=text)
        for kind in ("keyDown", "keyUp"):
            self.send("Input.dispatchKeyEvent", type=kind, key="Enter", code="Enter", windowsVirtualKeyCode=13,
                      nativeVirtualKeyCode=13, **({"text": "\r"} if kind == "keyDown" else {}))

    def screenshot(self, path: Path) -> Path:
        data = self.send("Page.captureScreenshot", format="png")["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        if hasattr(self, "_stack"):
            with contextlib.suppress(OSError, RuntimeError):
                self._stack.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.profile, ignore_errors=True)


CHAT_INPUT = '[data-testid="stChatInputTextArea"]'
HAS_EXCEPTION = 'document.querySelector(\'[data-testid="stException"]\') !== null'
