"""The repair prompt: the CIF's problems, most important first, with the structure family's rules, for a generator.

The template text comes from the caller (the assistant and CLI load prompts/cif_repair.md with
`prompts.load_prompt("cif_repair.md", REPAIR_TEMPLATE_VARIABLES)`, which checks its placeholders);
this module only fills it in.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import TYPE_CHECKING

from tools.domain.errors import CifError
from tools.structures.models import CHECK_CODES, CifCheck, SpaceGroupReport
from tools.structures.spacegroups import sg_text

if TYPE_CHECKING:
    from tools.structures.rules import FamilyRules

REPAIR_TEMPLATE_VARIABLES = frozenset({"source", "formula", "declared_spacegroup", "detected_spacegroup", "violations", "family", "facts"})
"""The placeholders a repair template uses: exactly these are filled in."""

_NOT_FOR_REPAIR = frozenset({"LIBRARY_WARNING", "PHYSICAL_FAILED"})
"""Findings about the tools, not the CIF: left out of repair prompts."""


def render_repair_prompt(
    checks: Sequence[CifCheck],
    *,
    template: str,
    source: str | None,
    formula: str | None,
    spacegroup: SpaceGroupReport,
    family: FamilyRules | None,
) -> str | None:
    """A prompt listing every error and warning, most important first, with the family's rules; None when clean.

    `template` is the text of a `string.Template` with the placeholders REPAIR_TEMPLATE_VARIABLES;
    CifError when it uses others.
    """
    problems = [c for c in checks if c.severity in ("error", "warning") and c.code not in _NOT_FOR_REPAIR]
    if not problems:
        return None
    problems.sort(key=lambda c: (CHECK_CODES.get(c.code, (99, ""))[0], 0 if c.severity == "error" else 1))
    lines = [f"{n}. [{c.severity}] {c.message}" for n, c in enumerate(problems, 1)]
    if family is not None:
        family_text = f"{family.title} ({family.formula})"
        facts = "Rules of this family:\n" + "\n".join(f"- {f}" for f in family.facts)
    else:
        family_text = "not identified"
        facts = "No structure-family rules apply."
    try:
        text = string.Template(template).substitute(
            source=source or "pasted CIF",
            formula=formula or "no structure could be built",
            declared_spacegroup=sg_text(spacegroup.declared, spacegroup.declared_number) if spacegroup.declared else "none",
            detected_spacegroup=sg_text(spacegroup.detected, spacegroup.detected_number) if spacegroup.detected else "unknown",
            violations="\n".join(lines),
            family=family_text,
            facts=facts,
        )
    except (KeyError, ValueError) as err:
        raise CifError(f"the repair template must use only the placeholders {sorted(REPAIR_TEMPLATE_VARIABLES)} ({err!r})") from err
    return text.strip() + "\n"
