"""One pyproject.toml, two locks: ranges declare every imported package; the user lock is the dev lock's core."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = {"assistant", "cli", "tools", "ui", "prompts", "knowledge", "tests", "benchmarks"}
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def _pins(lock: str) -> dict[str, str]:
    pins = {}
    for line in (ROOT / lock).read_text().splitlines():
        if line and not line.startswith((" ", "#")):
            name, _, version = line.partition("==")
            pins[_name(name)] = version.strip()
    return pins


CORE = {_name(r) for r in PROJECT["dependencies"]}
EXTRAS = {extra: {_name(r) for r in reqs} for extra, reqs in PROJECT["optional-dependencies"].items()}


def test_dependencies_are_ranges_and_the_locks_pin_them():
    for requirement in [*PROJECT["dependencies"], *(r for reqs in PROJECT["optional-dependencies"].values() for r in reqs)]:
        assert "==" not in requirement, f"{requirement}: pyproject.toml states ranges; the locks pin"
    user, dev = _pins("requirements.lock"), _pins("requirements-dev.lock")
    assert CORE <= set(user), f"core dependencies missing from requirements.lock: {sorted(CORE - set(user))}"
    every_extra = set().union(*EXTRAS.values())
    assert CORE | every_extra <= set(dev), f"missing from requirements-dev.lock: {sorted(CORE | every_extra - set(dev))}"
    assert {"pytest", "ruff", "mypy", "pre-commit", "baybe", "botorch", "psycopg"}.isdisjoint(user), "the user lock holds development or optional packages"
    different = {name: (version, dev.get(name)) for name, version in user.items() if dev.get(name) != version}
    assert not different, f"the user lock and the dev lock disagree: {different}"
    assert user["torch"] == dev["torch"] == "2.13.0+cpu"
    for lock in ("requirements.lock", "requirements-dev.lock"):
        assert "#    bash scripts/lock.sh" in (ROOT / lock).read_text(), f"{lock} was not compiled by scripts/lock.sh"


def _third_party_imports(folder: str) -> set[str]:
    found: set[str] = set()
    for path in (ROOT / folder).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m not in OURS}


@pytest.mark.parametrize(
    ("folders", "allowed"),
    [
        (("assistant", "cli", "tools", "ui"), CORE | EXTRAS["baybe"] | EXTRAS["postgres"]),
        (("tests", "benchmarks"), CORE.union(*EXTRAS.values())),
    ],
    ids=["product", "tests"],
)
def test_every_imported_package_is_declared(folders, allowed):
    by_module = packages_distributions()
    undeclared = {}
    for module in sorted(set().union(*(_third_party_imports(f) for f in folders))):
        distributions = {_name(d) for d in by_module.get(module, [])}
        if not distributions & allowed:
            undeclared[module] = sorted(distributions) or "not installed"
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"
