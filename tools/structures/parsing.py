"""Reading a CIF: text sanity checks, pymatgen's parser with its warnings turned into checks, the declared space group.

Nothing here raises on a bad CIF: unreadable text, binary data, a block without atoms and the
problems pymatgen reports while reading all become findings (PARSE_*, PARSER_WARNING,
OCCUPANCY_ABOVE_ONE, CELL_INVALID, SPACEGROUP_*). `read_structure` is for reference structures
and raises CifError instead. pymatgen is imported lazily.
"""

from __future__ import annotations

import re
import warnings
from typing import TYPE_CHECKING, Any

from tools.domain.errors import CifError
from tools.structures.chemistry import formula_per_unit
from tools.structures.context import Findings, ParsedCif
from tools.structures.spacegroups import space_group_number

if TYPE_CHECKING:
    from pymatgen.core import Structure

_MAX_TEXT_CHARS = 20_000_000


def block_value(block: dict[str, Any], *keys: str) -> Any:
    """The first of the tags (lower case) the block gives a value for; None when none does (? and . are no value)."""
    lower = {k.lower(): v for k, v in block.items()}
    for key in keys:
        if key in lower:
            value = lower[key]
            if isinstance(value, list):
                value = value[0] if value else None
            if value not in (None, "?", "."):
                return value
    return None


def block_list(block: dict[str, Any], key: str) -> list[str] | None:
    """The values of a looped tag (lower case) as a list; None when the block lacks it."""
    lower = {k.lower(): v for k, v in block.items()}
    value = lower.get(key)
    if value is None:
        return None
    return value if isinstance(value, list) else [value]


_SPACE_GROUP_KEEPALIVE: dict[str, Any] = {}


def _keep_space_group_alive(symbol: str | None) -> None:
    """Hold pymatgen's SpaceGroup for a symbol so its weak cache keeps it between CIFs.

    pymatgen expands a symbol into operations through a weakly cached SpaceGroup whose set of
    operations costs about a second for cubic groups; without a strong reference that cost
    is paid again for every CIF that gives a symbol instead of operations.
    """
    if not symbol:
        return
    from pymatgen.symmetry.groups import SYMM_DATA, SpaceGroup

    key = re.sub(r"[\s_]", "", symbol.strip().strip("'\""))
    if key in _SPACE_GROUP_KEEPALIVE:
        return
    encoding = {re.sub(r"[\s_]", "", k): k for k in SYMM_DATA["space_group_encoding"]}
    name = encoding.get(key)
    if name is None:
        return  # pymatgen takes its slower fallbacks (or P1); parse_cif() reports what happens
    try:
        _SPACE_GROUP_KEEPALIVE[key] = SpaceGroup(name)
    except ValueError:
        _SPACE_GROUP_KEEPALIVE[key] = None  # pymatgen will fail the same way and say so while parsing


def parse_cif(text: str, findings: Findings) -> ParsedCif | None:
    """Read CIF text into its first structure, adding what went wrong to `findings`; None when no structure."""
    if len(text) > _MAX_TEXT_CHARS:
        findings.add("PARSE_ERROR", "error", f"the file is {len(text):,} characters long; CIFs above {_MAX_TEXT_CHARS:,} are not read")
        return None
    if not text.strip():
        findings.add("PARSE_ERROR", "error", "the file is empty")
        return None
    sample = text[:20000]
    odd = sum(1 for ch in sample if (ord(ch) < 32 and ch not in "\t\n\r\f\v") or ch == "\ufffd" or 127 <= ord(ch) < 160)
    if "\x00" in sample or odd > 0.05 * len(sample):
        findings.add("PARSE_ERROR", "error", "the file is not text (binary data); a CIF is a plain-text file")
        return None
    if "data_" not in text.lower():
        findings.add("PARSE_ERROR", "error", "no 'data_' block: this is not a CIF")
        return None
    from pymatgen.io.cif import CifParser

    messages: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            parser = CifParser.from_str(text, occupancy_tolerance=1.001, check_cif=False)
        except Exception as exc:  # pymatgen's tokenizer raises bare ValueError/IndexError/KeyError on bad text
            findings.add("PARSE_ERROR", "error", f"the CIF syntax could not be read: {type(exc).__name__}: {exc}")
            return None
        blocks = parser.as_dict()
        block = next(iter(blocks.values())) if blocks else {}
        findings.declared_formula = block_value(block, "_chemical_formula_sum", "_chemical_formula_structural")
        _space_group_declared(block, findings)
        structures: list[Structure] = []
        failure: str | None = None
        try:
            _keep_space_group_alive(block_value(block, "_symmetry_space_group_name_h-m", "_space_group_name_h-m_alt"))
            structures = parser.parse_structures(primitive=False, on_error="ignore", check_occu=True)
        except Exception as exc:  # "Invalid CIF file with no structures!" and lower-level errors
            failure = f"{type(exc).__name__}: {exc}"
        messages.extend(getattr(parser, "warnings", []))
    messages.extend(str(w.message) for w in caught if not issubclass(w.category, DeprecationWarning | FutureWarning))
    _parser_messages(messages, findings, bool(structures))
    if not structures:
        if not findings.error_codes():
            reason = failure or "no structure"
            if not blocks:
                reason = "no data block with cell and atom sites"
            findings.add("PARSE_NO_STRUCTURE", "error", f"no crystal structure could be built from the CIF ({reason}); "
                         "it needs cell lengths and angles and an _atom_site_ loop with fractional coordinates")
        return None
    if len(blocks) > 1:
        findings.add("MULTIPLE_BLOCKS", "warning", f"the file has {len(blocks)} data blocks; only the first structure was checked")
    structure = structures[0]
    if len(structure) == 0:
        findings.add("PARSE_NO_STRUCTURE", "error", "the CIF defines no atoms")
        return None
    return ParsedCif(structure=structure, block=block, formula=formula_per_unit(structure.composition))


def _space_group_declared(block: dict[str, Any], findings: Findings) -> None:
    symbol = block_value(block, "_space_group_name_h-m_alt", "_symmetry_space_group_name_h-m",
                         "_space_group_name_h-m", "_symmetry_space_group_name_h-m_alt")
    number_text = block_value(block, "_space_group_it_number", "_symmetry_int_tables_number")
    number: int | None = None
    if number_text is not None:
        try:
            number = int(float(str(number_text)))
        except ValueError:
            number = None
        if number is not None and not 1 <= number <= 230:
            number = None
    from_symbol = space_group_number(str(symbol)) if symbol else None
    if symbol and from_symbol is None:
        findings.add("SPACEGROUP_UNKNOWN", "warning", f"the declared space group '{symbol}' is not a Hermann-Mauguin symbol we recognise")
    if from_symbol is not None and number is not None and from_symbol != number:
        findings.add("SPACEGROUP_INCONSISTENT", "warning",
                     f"the declared symbol '{symbol}' is group {from_symbol} but the declared number is {number}")
    findings.spacegroup.declared = str(symbol).strip() if symbol else (str(number) if number is not None else None)
    findings.spacegroup.declared_number = from_symbol if from_symbol is not None else number


def _parser_messages(messages: list[str], findings: Findings, built: bool) -> None:
    seen: set[str] = set()
    for raw in messages:
        msg = raw.strip()
        if not msg or msg in seen:
            continue
        seen.add(msg)
        low = msg.lower()
        if "spacegroup from" in low and "used" in low:
            continue  # the normal path when a CIF gives a symbol instead of operations
        if "skipping relative stoichiometry" in low or low.startswith("issues encountered while parsing"):
            continue  # our own formula check covers this; the aggregate repeats the others
        reason = msg.split("\n", 1)[1].strip() if "\n" in msg else msg
        if ("occupancy" in low and "exceeded" in low) or ("occupancies" in low and "sum to > 1" in low):
            if not findings.has("OCCUPANCY_ABOVE_ONE"):
                findings.add("OCCUPANCY_ABOVE_ONE", "error" if not built else "warning",
                             f"a site's total occupancy is above 1 ({reason})")
        elif "rounded to ideal values" in low:
            findings.add("PARSER_WARNING", "info", msg)
        elif "below threshold" in low:
            findings.add("CELL_INVALID", "error", f"the cell has (near) zero thickness or volume ({reason})")
        elif "defaulting to p1" in low:
            if findings.spacegroup.declared is not None:
                findings.add("SPACEGROUP_UNREADABLE", "error",
                             f"the CIF gives no symmetry operations and pymatgen cannot expand the declared space group "
                             f"'{findings.spacegroup.declared}', so only the listed atoms were placed (as P1): add the "
                             "_space_group_symop_operation_xyz loop or use the standard symbol")
            else:
                findings.add("SPACEGROUP_NOT_DECLARED", "info", "no space group or symmetry operations: the atoms were read as P1")
        elif low.startswith("no structure parsed"):
            findings.add("PARSE_NO_STRUCTURE", "error", f"no structure could be built: {reason}")
        elif built and "possible issue in cif" in low:
            findings.add("PARSER_WARNING", "warning", msg)
        else:
            findings.add("PARSER_WARNING", "warning" if built else "error", msg)


def read_structure(cif: str, name: str = "structure") -> Structure:
    """Parse a CIF into a pymatgen Structure or raise CifError with the reason (used for reference structures)."""
    from pymatgen.io.cif import CifParser

    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        try:
            parser = CifParser.from_str(cif, occupancy_tolerance=1.001, check_cif=False)
            structures = parser.parse_structures(primitive=False, on_error="ignore")
        except Exception as exc:  # pymatgen raises assorted ValueError/KeyError on broken text
            raise CifError(f"{name}: not a readable CIF ({type(exc).__name__}: {exc})") from exc
    if not structures or len(structures[0]) == 0:
        raise CifError(f"{name}: the CIF holds no structure")
    return structures[0]
