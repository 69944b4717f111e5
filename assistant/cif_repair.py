"""The CIF validator's repair prompt template, loaded here so that `tools` never reads `prompts`.

The validator (tools.structures.validation) fills the template in; the callers that want a
repair prompt (the validate_cif tool, `matassist validate-cif`, `cif generate`) pass it this text.
"""

from __future__ import annotations

from functools import lru_cache

from prompts import load_prompt
from tools.structures.repair import REPAIR_TEMPLATE_VARIABLES


@lru_cache(maxsize=1)
def repair_template() -> str:
    """The text of prompts/cif_repair.md, its placeholders checked against REPAIR_TEMPLATE_VARIABLES when loaded."""
    return load_prompt("cif_repair.md", REPAIR_TEMPLATE_VARIABLES).text
