"""Reading a CIF: the file, text sanity checks, the block screened, pymatgen's parser with its warnings as checks.

Nothing here raises on a bad CIF: unreadable text, binary data, a block without atoms, broken
symmetry operations, a structure too large to expand, atom types that are not elements and the
problems pymatgen reports while reading all become findings (PARSE_*, PARSER_WARNING,
OCCUPANCY_ABOVE_ONE, CELL_INVALID, SPACEGROUP_*, SYMMETRY_OPERATION_INVALID, EXPANSION_TOO_LARGE,
UNKNOWN_ELEMENT). Declared oxidation states are taken off the structure and kept beside it
(tools/structures/oxidation.py). `read_structure` is for reference structures and raises CifError
instead; `read_cif_bytes` reads a CIF file and raises DataFileError for anything that is not a
regular file of a sane size. pymatgen is imported lazily.
"""

from __future__ import annotations

import stat
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tools.domain.errors import CifError
from tools.domain.fileio import read_user_bytes
from tools.structures.chemistry import formula_per_unit
from tools.structures.cifblock import (
    block_value,
    cif_number,
    pymatgen_space_group,
    space_group_symbol,
)
from tools.structures.context import Findings, ParsedCif
from tools.structures.models import ValidationLimits
from tools.structures.oxidation import take_declared_states
from tools.structures.screening import screen_block
from tools.structures.spacegroups import space_group_number

if TYPE_CHECKING:
    from pymatgen.core import Structure

MAX_CIF_BYTES = 20_000_000
"""Largest CIF read, in bytes (and characters of text); real CIFs are kilobytes, rarely a few megabytes."""

_FILE_KINDS = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
               (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"))


def read_cif_bytes(path: str | Path, max_bytes: int = MAX_CIF_BYTES) -> bytes:
    """The bytes of a CIF file; DataFileError unless it is a readable regular file of at most `max_bytes`.

    Devices (/dev/zero), named pipes and sockets are refused before they are opened, so reading
    never blocks or runs out of memory (tools.domain.fileio.read_user_bytes).
    """
    return read_user_bytes(path, max_bytes, what="a CIF file")


def _text_problem(text: str) -> str | None:
    """Why the text cannot be a CIF (too long, empty, binary, no data_ block), or None."""
    if len(text) > MAX_CIF_BYTES:
        return f"the file is {len(text):,} characters long; CIFs above {MAX_CIF_BYTES:,} are not read"
    if not text.strip():
        return "the file is empty"
    sample = text[:20000]
    odd = sum(1 for ch in sample if (ord(ch) < 32 and ch not in "\t\n\r\f\v") or ch == "\ufffd" or 127 <= ord(ch) < 160)
    if "\x00" in sample or odd > 0.05 * len(sample):
        return "the file is not text (binary data); a CIF is a plain-text file"
    if "data_" not in text.lower():
        return "no 'data_' block: this is not a CIF"
    return None


def parse_cif(text: str, findings: Findings, limits: ValidationLimits | None = None) -> ParsedCif | None:
    """Read CIF text into its first structure, adding what went wrong to `findings`; None when no structure."""
    problem = _text_problem(text)
    if problem is not None:
        findings.add("PARSE_ERROR", "error", problem)
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
        if not screen_block(block, findings, limits or ValidationLimits()):
            return None
        structures: list[Structure] = []
        failure: str | None = None
        try:
            pymatgen_space_group(space_group_symbol(block))  # held, so pymatgen's weak cache keeps it between CIFs
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
    if not _all_elements(structure, findings):
        return None
    oxidation, ignored = take_declared_states(structure, block)
    if ignored is not None:
        findings.add("OXIDATION_STATES_IGNORED", "info", ignored)
    return ParsedCif(structure=structure, block=block, formula=formula_per_unit(structure.composition), oxidation=oxidation)


def _all_elements(structure: Structure, findings: Findings) -> bool:
    """Whether every species is a chemical element (pymatgen reads unknown symbols such as Xx as dummy species)."""
    from pymatgen.core import Element

    unknown: dict[str, list[str]] = {}
    for site in structure:
        for sp in site.species:
            if not Element.is_valid_symbol(str(getattr(sp, "symbol", ""))):
                unknown.setdefault(str(sp.symbol), []).append(str(site.label))
    for symbol, labels in unknown.items():
        sites = ", ".join(sorted(set(labels))[:4])
        findings.add("UNKNOWN_ELEMENT", "error", f"the atom type '{symbol}' (site {sites}) is not a chemical element; "
                     "use an element symbol, optionally with its charge (Co, Co3+)")
    return not unknown


def _space_group_declared(block: dict[str, Any], findings: Findings) -> None:
    symbol = space_group_symbol(block)
    number = _space_group_number_declared(block, findings)
    from_symbol = space_group_number(str(symbol)) if symbol else None
    if symbol and from_symbol is None:
        findings.add("SPACEGROUP_UNKNOWN", "warning", f"the declared space group '{symbol}' is not a Hermann-Mauguin symbol we recognise")
    if from_symbol is not None and number is not None and from_symbol != number:
        findings.add("SPACEGROUP_INCONSISTENT", "warning",
                     f"the declared symbol '{symbol}' is group {from_symbol} but the declared number is {number}")
    findings.spacegroup.declared = str(symbol).strip() if symbol else (str(number) if number is not None else None)
    findings.spacegroup.declared_number = from_symbol if from_symbol is not None else number


def _space_group_number_declared(block: dict[str, Any], findings: Findings) -> int | None:
    """The declared ITA number; a SPACEGROUP_NUMBER_INVALID error when it is not a whole number from 1 to 230."""
    text = block_value(block, "_space_group_it_number", "_symmetry_int_tables_number")
    if text is None:
        return None
    value = cif_number(text)
    if value is not None and value.is_integer() and 1 <= value <= 230:
        return int(value)
    findings.add("SPACEGROUP_NUMBER_INVALID", "error", f"the declared space-group number '{text}' is not a space group "
                 "(a whole number from 1 to 230); give the right number or remove it")
    return None


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
            if findings.has("SPACEGROUP_NUMBER_INVALID"):
                continue  # the invalid number is the reason; reported once
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
    structure = structures[0]
    structure.remove_oxidation_states()  # compared by element, like the structures checked
    return structure
