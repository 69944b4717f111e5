"""Heavy libraries load lazily: importing the CLI and the tools must not import them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = ["torch", "sdv", "chromadb", "pymatgen", "mp_api", "sentence_transformers", "lightgbm", "langchain", "langgraph", "streamlit"]


def test_cli_import_is_light():
    code = (
        "import sys, json, importlib, pkgutil\n"
        "import cli.app, tools\n"
        "for m in pkgutil.iter_modules(tools.__path__):\n"
        "    importlib.import_module('tools.' + m.name)\n"
        f"print(json.dumps([h for h in {HEAVY!r} if h in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_cli_help_does_not_load_pandas_or_sqlalchemy():
    """`matassist --help` and every command's --help stay quick: pandas and SQLAlchemy load on use."""
    code = (
        "import sys, json\n"
        "import cli.app\n"
        "print(json.dumps([m for m in ('pandas', 'sqlalchemy', 'sklearn', 'scipy', 'matplotlib') if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
