"""Electrode questions in plain words, turned into predict_electrode arguments without a model.

"what average voltage would LiNi0.5Mn1.5O4 give vs Li?", "what voltage would Li in NaMnO2-type
MnO2 give?", "rank these for Na: NaFePO4, NaCoO2", "which of these would store the most energy
per gram? LiCoO2, LiFePO4, ...". The electrode model needs each candidate's working ion and its
charged and discharged formulas; what can be derived is derived and said (a discharged formula
with the ion has the host without the ion as its charged formula), what cannot is asked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tools.electrodes.constants import ION_NAMES, ION_VALENCE
from tools.materials_project.queries import ELEMENTS

ION_PRIORITY = ("Li", "Na", "K", "Rb", "Cs", "Mg", "Ca", "Zn", "Y", "Al")
"""Which element of a formula is taken as its working ion when the question names none."""
_IONS = "|".join(ION_PRIORITY)
_ALONE = r"(?![A-Za-z0-9(])"
_ION_PATTERNS = (
    rf"\b(?:vs\.?|versus|against|for|with|of|using)\s+({_IONS}){_ALONE}",
    rf"\b({_IONS})(?:[- ]ion\b|\+|\s+(?:in|into|insertion|intercalation|cathodes?|anodes?|electrodes?|batter\w*)\b)",
)
_FORMULA = re.compile(r"(?<![\w.])(?:\(?(?:[A-Z][a-z]?(?:\d+(?:\.\d+)?)?)+\)?(?:\d+(?:\.\d+)?)?)+(?![\w])")
_TOKEN = re.compile(r"([A-Z][a-z]?)(\d+(?:\.\d+)?)?|(\()|(\))(\d+(?:\.\d+)?)?")
_PROTOTYPE = re.compile(r"(\S+?)[- ]type\s+(\S+)")
_PAIR = re.compile(r"(\S+)\s*(?:->|→|=>|\bto\b|/)\s*(\S+)")

_PREDICT_WORDS = r"\bwould\b|\bpredict|\bestimat|\brank\b|\brank\s+(?:these|them)|which\s+of\s+these|\bexpected\b|\bhow\s+(?:much|high)\b|what\s+(?:average\s+)?voltage|\bcompare\s+these"
_PROPERTY_WORDS = (r"\bvoltage\b|\bvs\.?\s+(?:" + _IONS + r")\b|\bversus\b|energy\s+(?:per|a)\s+(?:gram|kg|kilogram)|specific\s+energy|wh\s*/\s*kg|"
                   r"energy\s+density|(?<!formation )\benergy\b|\bstore\b|\bcapacity\s+per\s+(?:gram|volume)")
_RANK_KEYS = (
    (r"energy|wh\s*/\s*kg", "gravimetric_energy_wh_kg"),
    (r"volumetric|per\s+(?:volume|cm3|cm³|cc)|mah\s*/\s*cm", "volumetric_capacity_mah_cm3"),
    (r"highest\s+voltage|most\s+voltage|by\s+voltage|voltage", "average_voltage_v"),
    (r"capacity", "gravimetric_capacity_mah_g"),
)


@dataclass
class ElectrodeRequest:
    """What an electrode question asks: candidates (arguments of predict_electrode), or questions back."""

    candidates: list[dict[str, str]] = field(default_factory=list)
    rank_by: str | None = None
    notes: list[str] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)

    def arguments(self) -> dict[str, Any]:
        """The predict_electrode arguments."""
        args: dict[str, Any] = {"candidates": self.candidates}
        if self.rank_by is not None:
            args["rank_by"] = self.rank_by
        return args


def formula_amounts(text: str) -> dict[str, float] | None:
    """{element: amount} of a plain formula with parentheses (Na3V2(PO4)3), or None when it is not one."""
    stack: list[dict[str, float]] = [{}]
    pos = 0
    for m in _TOKEN.finditer(text):
        if m.start() != pos:
            return None
        pos = m.end()
        if m.group(1):
            if m.group(1) not in ELEMENTS:
                return None
            stack[-1][m.group(1)] = stack[-1].get(m.group(1), 0.0) + float(m.group(2) or 1)
        elif m.group(3):
            stack.append({})
        else:
            if len(stack) == 1:
                return None
            inner = stack.pop()
            for el, amount in inner.items():
                stack[-1][el] = stack[-1].get(el, 0.0) + amount * float(m.group(5) or 1)
    if pos != len(text) or len(stack) != 1 or not stack[0]:
        return None
    return stack[0]


def _formulas(message: str) -> list[str]:
    """Formula-like words of at least two elements (LiCoO2, MnO2, Na3V2(PO4)3), in order."""
    found = []
    for m in _FORMULA.finditer(message):
        token = m.group(0).strip("()") if m.group(0).count("(") != m.group(0).count(")") else m.group(0)
        amounts = formula_amounts(token)
        if amounts and len(amounts) >= 2 and token not in found:
            found.append(token)
    return found


def _number(x: float) -> str:
    return "" if abs(x - 1.0) < 1e-9 else f"{x:g}"


def without_ion(formula: str, ion: str) -> str:
    """The host: the formula with the ion removed (its text kept when the ion appears once, outside parentheses)."""
    pattern = re.compile(rf"(?<![A-Za-z]){ion}(?![a-z])(\d+(?:\.\d+)?)?")
    hits = list(pattern.finditer(formula))
    depth_ok = hits and all(formula[: h.start()].count("(") == formula[: h.start()].count(")") for h in hits)
    if len(hits) == 1 and depth_ok:
        return formula[: hits[0].start()] + formula[hits[0].end():]
    amounts = formula_amounts(formula) or {}
    return "".join(f"{el}{_number(a)}" for el, a in amounts.items() if el != ion)


def named_ion(message: str) -> str | None:
    """The working ion the message names ("vs Li", "for Na", "Mg-ion", "sodium"), if any."""
    for pattern in _ION_PATTERNS:
        m = re.search(pattern, message)
        if m:
            return m.group(1)
    low = message.lower()
    for name, symbol in ION_NAMES.items():
        if re.search(rf"\b{name}\b", low):
            return symbol
    # a lone symbol ("would Li give in MnO2"); not K or Y, which are also kelvin and a letter
    lone = re.search(r"(?<![\w/])(Li|Na|Rb|Cs|Mg|Ca|Zn|Al)(?![A-Za-z0-9(/+])", message)
    return lone.group(1) if lone else None


def is_electrode_question(message: str) -> bool:
    """True for a question about the voltage, capacity or energy an electrode composition would give."""
    low = message.lower()
    if re.search(r"materials\s*project|\bmp-\d+", low):
        return False
    asks = re.search(_PREDICT_WORDS, low) is not None
    about = re.search(_PROPERTY_WORDS, low) is not None
    formulas = _formulas(message)
    if asks and about and (formulas or re.search(r"\bthese\b|\bcompositions?\b", low)):
        return True
    return bool(re.search(r"\brank\b", low) and len(formulas) >= 2)


def _rank_key(message: str, n: int) -> tuple[str | None, str | None]:
    """The property to rank by and a note when it was not named."""
    low = message.lower()
    ranking = n > 1 or re.search(r"\brank|\bmost\b|\bhighest\b|\bbest\b|which\s+of", low)
    if not ranking:
        return None, None
    for pattern, key in _RANK_KEYS:
        if re.search(pattern, low):
            return key, None
    return "gravimetric_energy_wh_kg", "ranked by specific energy (Wh/kg), as no property was named"


def _prototype_candidate(message: str, ion: str) -> tuple[dict[str, str], str] | None:
    """'Li in NaMnO2-type MnO2' -> charged MnO2, discharged LiMnO2 (the prototype's ion swapped, charge kept)."""
    m = _PROTOTYPE.search(message)
    if m is None:
        return None
    proto, host = m.group(1).strip(",.;:?"), m.group(2).strip(",.;:?")
    p_amounts, h_amounts = formula_amounts(proto), formula_amounts(host)
    if not p_amounts or not h_amounts or ion in h_amounts:
        return None
    proto_ions = [el for el in p_amounts if el in ION_VALENCE]
    for proto_ion in proto_ions:
        rest = {el: a for el, a in p_amounts.items() if el != proto_ion}
        if set(rest) != set(h_amounts):
            continue
        scale = sum(h_amounts.values()) / sum(rest.values())
        if any(abs(rest[el] * scale - a) > 1e-6 * max(a, 1.0) for el, a in h_amounts.items()):
            continue
        amount = p_amounts[proto_ion] * scale * ION_VALENCE[proto_ion] / ION_VALENCE[ion]
        discharged = f"{ion}{_number(amount)}{host}"
        note = (f"read '{proto}-type {host}' as charged {host}, discharged {discharged} ({ion} takes the place of {proto_ion}, "
                f"same charge per host); the model sees compositions only, not the {proto} structure type")
        return {"working_ion": ion, "charged_formula": host, "discharged_formula": discharged}, note
    return None


def electrode_request(message: str) -> ElectrodeRequest:
    """The candidates a question names, with what was assumed in `notes` and what is missing in `questions`."""
    request = ElectrodeRequest()
    ion = named_ion(message)
    if ion is not None:
        prototype = _prototype_candidate(message, ion)
        if prototype is not None:
            request.candidates.append(prototype[0])
            request.notes.append(prototype[1])
            return request
    formulas = _formulas(message)
    used: set[str] = set()
    for m in _PAIR.finditer(message):
        a, b = (m.group(i).strip(",.;:?") for i in (1, 2))
        pair = _pair(a, b, ion)
        if pair is not None:
            request.candidates.append(pair)
            used |= {a, b}
    derived, missing = [], []
    for formula in formulas:
        if formula in used:
            continue
        amounts = formula_amounts(formula) or {}
        own = ion if ion is not None else next((i for i in ION_PRIORITY if i in amounts), None)
        if own is None or own not in amounts or len(amounts) < 2:
            missing.append(formula)
            continue
        charged = without_ion(formula, own)
        request.candidates.append({"working_ion": own, "charged_formula": charged, "discharged_formula": formula})
        derived.append(f"{formula} -> {charged}" + ("" if ion else f" ({own})"))
    for formula in list(missing):  # "charged Mn2O4, discharged LiMn2O4": the ion-free one is a charged end member given
        for candidate in request.candidates:
            if _same_host(formula, candidate["charged_formula"]):
                candidate["charged_formula"] = formula
                missing.remove(formula)
                derived = [d for d in derived if not d.startswith(f"{candidate['discharged_formula']} -> ")]
                break
    if derived:
        how = "the host without the ion" + ("" if ion else "; working ion: the first of Li, Na, K, Rb, Cs, Mg, Ca, Zn, Y, Al in each formula")
        request.notes.append(f"took each discharged formula's charged end member to be {how}: {', '.join(derived)}")
    if missing:
        which = ion or f"which working ion ({', '.join(ION_PRIORITY)})"
        request.questions.append(
            f"how much {which} does {', '.join(missing)} take up when discharged? Give the pair, e.g. \"{missing[0]} to "
            f"{ion or 'Li'}{missing[0]}\", or the discharged formula with the ion")
    if not request.candidates and not request.questions:
        request.questions.append(
            "which electrodes? Name the working ion and the discharged formula (e.g. \"LiCoO2 vs Li\"), or both end members "
            "(\"FePO4 to LiFePO4\"); for a list, write the formulas after the question")
    if request.questions:
        request.candidates = []
        return request
    rank_by, note = _rank_key(message, len(request.candidates))
    request.rank_by = rank_by
    if note:
        request.notes.append(note)
    return request


def _same_host(a: str, b: str) -> bool:
    """True when two formulas have the same elements in the same ratios (Mn2O4 and MnO2)."""
    fa, fb = formula_amounts(a), formula_amounts(b)
    if not fa or not fb or set(fa) != set(fb):
        return False
    scale = sum(fb.values()) / sum(fa.values())
    return all(abs(fa[el] * scale - fb[el]) <= 1e-6 * max(fb[el], 1.0) for el in fa)


def _pair(a: str, b: str, ion: str | None) -> dict[str, str] | None:
    """'FePO4 to LiFePO4' (either order): the end member with more of the ion is the discharged one."""
    fa, fb = formula_amounts(a), formula_amounts(b)
    if not fa or not fb:
        return None
    ions = [ion] if ion else [i for i in ION_PRIORITY if i in fa or i in fb]
    for candidate_ion in ions:
        na, nb = fa.get(candidate_ion, 0.0), fb.get(candidate_ion, 0.0)
        host_a = {el for el in fa if el != candidate_ion}
        host_b = {el for el in fb if el != candidate_ion}
        if host_a == host_b and host_a and na != nb:
            charged, discharged = (a, b) if na < nb else (b, a)
            return {"working_ion": candidate_ion, "charged_formula": charged, "discharged_formula": discharged}
    return None
