"""Prompt templates as files, loaded with importlib.resources; variables are checked when loaded.

Templates use `string.Template` placeholders (`$name` or `${name}`). `load_prompt(name,
variables)` fails at load time when the file's placeholders differ from the variables the
caller will supply, so a renamed variable can never render a prompt with a hole in it.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from importlib import resources


class PromptError(Exception):
    """A prompt file is missing or its placeholders do not match the caller's variables."""


@dataclass(frozen=True)
class PromptTemplate:
    """A loaded template with its placeholder names."""

    name: str
    text: str
    variables: frozenset[str]

    def render(self, **values: object) -> str:
        """Fill every placeholder; extra or missing values are an error."""
        given = set(values)
        if given != self.variables:
            missing = sorted(self.variables - given)
            extra = sorted(given - self.variables)
            raise PromptError(f"prompt {self.name}: missing {missing}, unexpected {extra}")
        return string.Template(self.text).substitute({k: str(v) for k, v in values.items()})


def placeholders(text: str) -> frozenset[str]:
    """Placeholder names used in a template text."""
    names = set()
    for match in string.Template.pattern.finditer(text):
        name = match.group("named") or match.group("braced")
        if name:
            names.add(name)
        elif match.group("invalid") is not None:
            raise PromptError(f"invalid placeholder near: {text[match.start():match.start() + 20]!r}")
    return frozenset(names)


def load_prompt(name: str, variables: set[str] | frozenset[str] | None = None) -> PromptTemplate:
    """Load `prompts/<name>` and check its placeholders equal `variables` (when given)."""
    resource = resources.files(__name__) / name
    try:
        text = resource.read_text(encoding="utf-8")
    except (FileNotFoundError, OSError) as err:
        raise PromptError(f"prompt file {name} not found in the prompts package") from err
    found = placeholders(text)
    if variables is not None and found != frozenset(variables):
        raise PromptError(
            f"prompt {name}: placeholders {sorted(found)} differ from the expected {sorted(variables)}"
        )
    return PromptTemplate(name=name, text=text, variables=found)
