"""Pull tool arguments out of a chat message, deterministically: no LLM.

Understands compositions ("94% Ni", "Ni 0.94", "Ni=0.94", "니켈 94%"), counts ("10 runs",
"top 5", "8개"), atmospheres ("in air", "under O2", "공기"), dopants by oxide or element
("Nb2O5 at 0.002", "0.2 wt% Nb"), temperatures with units ("760 °C", "1033 K"), Li source,
coating, Li/TM ratio, times, seeds, CIF text, mp-ids and formulas. Everything it could not
use is reported, so the router can ask instead of guessing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from assistant.constraint_language import read_constraints
from tools.domain.constraints import ParameterConstraint
from tools.domain.design_space import CategoryParameter, DesignSpace, NumberParameter, format_value

_NUM = r"(\d+(?:\.\d+)?|\.\d+)"

ELEMENT_ALIASES = {
    "ni": ("ni", "nickel", "니켈"),
    "co": ("co", "cobalt", "코발트"),
    "mn": ("mn", "manganese", "망간"),
}
DOPANT_ALIASES = {
    "dopant_zr": ("zro2", "zr", "zirconium", "지르코늄"),
    "dopant_al": ("al2o3", "al", "alumina", "aluminium", "aluminum", "알루미늄"),
    "dopant_ti": ("tio2", "ti", "titanium", "티타늄"),
    "dopant_nb": ("nb2o5", "nb", "niobium", "니오븀"),
    "dopant_mg": ("mgo", "mg", "magnesium", "마그네슘"),
    "dopant_w": ("wo3", "w", "tungsten", "텅스텐"),
}
COATING_ALIASES = {
    "B": ("b", "boron", "boric", "h3bo3", "b2o3", "붕소"),
    "W": ("w", "tungsten", "wo3", "텅스텐"),
    "Co": ("co", "cobalt", "코발트"),
    "Al": ("al", "aluminium", "aluminum", "al2o3", "알루미늄"),
}
# "94% Ni" after a dopant name is the composition, not the dopant's amount ("Nb2O5 at 94% Ni")
_COMPOSITION_VALUE = r"\d+(?:\.\d+)?\s*(?:%|percent)?\s*(?:of\s+)?(?:ni|nickel|co|cobalt|mn|manganese|니켈|코발트|망간)(?![a-z0-9])"
COUNT_WORDS = r"(?:runs?|rows?|experiments?|conditions?|proposals?|recipes?|samples?|candidates?|batches?|points?|trials?|suggestions?|개|건|회)"
_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
                 "ten": 10, "twelve": 12, "fifteen": 15, "twenty": 20, "a dozen": 12, "dozen": 12}

_KOREAN_COUNTS = {"하나": 1, "한": 1, "두": 2, "둘": 2, "세": 3, "셋": 3, "네": 4, "넷": 4, "다섯": 5, "여섯": 6, "일곱": 7,
                  "여덟": 8, "아홉": 9, "열": 10, "스무": 20}

# "now 5 more", "another 5", "5개 더", "더 5개": the next batch of a conversation. One pattern for the
# count (`_counts`) and for the router's follow-up test (router.FOLLOW_UP), so the two cannot drift apart.
MORE_COUNT = r"(?<![\d.])(\d{1,3})\s+more\b|\banother\s+(\d{1,3})\b|(?<![\d.])(\d{1,3})\s*개?\s*더(?![가-힣])|(?<![가-힣])더\s*(\d{1,3})\s*개"
CIF_PATTERN = re.compile(r"(?ms)^\s*data_\S*.*?_cell_length_a.*")
MPID_PATTERN = re.compile(r"\b(mp-\d+|mvc-\d+)\b", re.I)
FORMULA_PATTERN = re.compile(r"\b((?:[A-Z][a-z]?(?:\d+(?:\.\d+)?)?){2,}(?:\((?:[A-Z][a-z]?\d*(?:\.\d+)?)+\)\d*)?)\b")
CHEMSYS_PATTERN = re.compile(r"\b([A-Z][a-z]?(?:-[A-Z][a-z]?)+)\b")


@dataclass
class Extraction:
    """Everything found in one message."""

    fixed: dict[str, float | str] = field(default_factory=dict)
    count: int | None = None
    seed: int | None = None
    cif_text: str | None = None
    material_ids: list[str] = field(default_factory=list)
    formulas: list[str] = field(default_factory=list)
    chemsys: list[str] = field(default_factory=list)
    constraints: list[ParameterConstraint] = field(default_factory=list)
    """Limits, ranges and choices stated in the message (fixed values are in `fixed`)."""
    removals: list[str] = field(default_factory=list)
    """Parameters whose constraint the message drops ("drop the temperature limit", "any atmosphere")."""
    clear: bool = False
    """True when the message drops every constraint ("start over")."""
    vague_removal: str | None = None
    """'limit' ("remove the limit") or 'any' ("drop it"): a removal naming no parameter."""
    also_allowed: list[tuple[str, str]] = field(default_factory=list)
    """(parameter, category) the message lets in ("oxygen is fine too")."""
    restricted: list[str] = field(default_factory=list)
    """Parameters held by a restriction ("only LiOH", "exclude Ti"): fixed values stated as constraints."""
    local_scan: bool = False
    """True when the user asks for a local scan (neighbours one grid step apart are then allowed)."""
    notes: list[str] = field(default_factory=list)
    """Conversions the user should know about (e.g. kelvin to degC)."""
    problems: list[str] = field(default_factory=list)
    """Values recognised but not allowed (off-step, out of range): the router asks about them."""
    limit_problems: list[str] = field(default_factory=list)
    """Limits whose parameter could not be told: the router asks when the message is about conditions."""


# Words the intent patterns key on; a close misspelling ("propse", "conditons") is read as the word.
VOCABULARY = (
    "propose", "suggest", "recommend", "next", "conditions", "experiments", "experiment", "runs", "recipes",
    "plan", "predict", "capacity", "train", "retrain", "model", "profile", "distribution", "biased", "record",
    "results", "literature", "papers", "augment", "optimize", "candidates", "accurate", "nickel",
)
# Real words close to one of the vocabulary that mean something else
_NOT_TYPOS = frozenset({"accuracy", "records", "modal", "recipe", "contradictions", "prose", "rests", "retrying", "receives"})


def correct_typos(text: str) -> str:
    """Replace near-misses of the intent vocabulary with the word itself ("propse" -> "propose").

    A typo keeps the first two letters and breaks the word before its last letters: so
    inflections ("predicted", "proposal", "run"), other words ("purpose", "strain", "agent")
    and a few real words close to the vocabulary ("accuracy") are left alone.
    """
    import difflib
    import os

    def fix(match: re.Match[str]) -> str:
        word = match.group(0)
        low = word.lower()
        if low in VOCABULARY or len(low) < 3 or low in _NOT_TYPOS:
            return word
        close = difflib.get_close_matches(low, VOCABULARY, n=1, cutoff=0.8)
        if not close or close[0][:2] != low[:2]:
            return word
        if len(os.path.commonprefix([low, close[0]])) >= min(len(low), len(close[0])) - 1:
            return word  # an inflection or a neighbour word, not a misspelling
        return close[0]

    text = re.sub(r"[A-Za-z]+", fix, text)
    # lab shorthand: "w/o Zr" is "without Zr", "w/ LiOH" is "with LiOH"
    text = re.sub(r"(?<![a-z0-9])w/o(?![a-z0-9])", "without", text, flags=re.IGNORECASE)
    text = re.sub(r"(?<![a-z0-9])w/(?=\s)", "with", text, flags=re.IGNORECASE)
    # "no more then 760 C": a comparison written with "then" is the comparison
    return re.sub(r"\b(more|less|higher|lower|greater|hotter|cooler|fewer|smaller|bigger|longer|shorter|warmer|other)\s+then\b",
                  r"\1 than", text, flags=re.IGNORECASE)


def _fraction(value: str, percent: bool) -> float:
    number = float(value)
    return number / 100.0 if percent or number > 1.0 else number


def _put(ex: Extraction, space: DesignSpace, name: str, value: Any, said: str) -> None:
    if name not in space.names:
        return
    param = space.parameter(name)
    if isinstance(param, NumberParameter):
        value = round(float(value), 10)
    problem = space.value_problem(name, value)
    if problem:
        ex.problems.append(f"{said!r} -> {name}: {problem}")
        return
    if name in ex.fixed and ex.fixed[name] != value:
        ex.problems.append(f"{said!r}: {name} was also given as {format_value(ex.fixed[name])}; which one?")
        return
    ex.fixed[name] = value


def extract(message: str, space: DesignSpace) -> Extraction:
    """Extract everything the router can use from `message` for a design space."""
    ex = Extraction()
    cif = CIF_PATTERN.search(message)
    if cif:
        ex.cif_text = cif.group(0).strip()
        message = message[: cif.start()]
    text = correct_typos(message).replace("℃", " °C").replace("°", " °")
    low = text.lower()

    hint = Extraction()
    _compositions(hint, space, low)
    reading = read_constraints(low, space, {k: float(v) for k, v in hint.fixed.items()})
    for c in reading.constraints:
        if c.equals is not None:
            ex.fixed[c.parameter] = c.equals
            ex.restricted.append(c.parameter)
        else:
            ex.constraints.append(c)
    ex.removals, ex.clear, ex.local_scan = reading.removals, reading.clear, reading.local_scan
    ex.vague_removal, ex.also_allowed = reading.vague_removal, reading.also_allowed
    ex.notes += reading.notes
    ex.limit_problems += reading.problems
    low = reading.remaining  # "below 760 °C" must not also be read as "at 760 °C"

    _compositions(ex, space, low)
    _counts(ex, low)
    seed = re.search(r"\bseed\s*(?:=|:)?\s*(\d+)", low)
    if seed:
        ex.seed = int(seed.group(1))
    _atmosphere(ex, space, low)
    _li_source(ex, space, low)
    _li_ratio(ex, space, low)
    _dopants(ex, space, low)
    _coating(ex, space, low)
    _temperatures_and_times(ex, space, low)
    _generic_assignments(ex, space, low)

    ex.material_ids = sorted({m.lower() for m in MPID_PATTERN.findall(text)})
    ex.chemsys = sorted({c for c in CHEMSYS_PATTERN.findall(text) if all(len(p) <= 2 for p in c.split("-"))})
    for formula in FORMULA_PATTERN.findall(text):
        if formula.isupper() and len(formula) <= 3:  # "NCM", "CIF", "MP": acronyms, not formulas
            continue
        if re.fullmatch(r"NC[MA]\d*", formula) or formula.upper() in {"LFP", "CIF", "DOI"}:
            continue
        if formula not in ex.formulas:
            ex.formulas.append(formula)
    return ex


def _compositions(ex: Extraction, space: DesignSpace, low: str) -> None:
    formula = re.search(r"ni\s*(0?\.\d+)\s*co\s*(0?\.\d+)\s*mn\s*(0?\.\d+)", low)  # LiNi0.94Co0.03Mn0.03O2
    if formula:
        for name, value in zip(("ni", "co", "mn"), formula.groups(), strict=True):
            _put(ex, space, name, float(value), formula.group(0))
        return
    for name, aliases in ELEMENT_ALIASES.items():
        alias = "|".join(re.escape(a) for a in aliases)
        patterns = [
            (rf"{_NUM}\s*(%|percent|퍼센트)\s*(?:of\s+)?(?:{alias})(?![a-z0-9])", True),  # 94% Ni
            (rf"(?<![a-z0-9])(?:{alias})\s*(?:=|:|at|of|content|fraction|비율|함량)?\s*(?:is\s+)?{_NUM}\s*(%|percent)?", False),  # Ni 0.94, Ni=94%
            (rf"(?<![a-z0-9])(?:{alias})[- ]rich\s+{_NUM}\s*(%)?", False),
            (r"(?<![\d.])(0?\.\d+)()\s*" + rf"(?:{alias})(?![a-z0-9])", False),  # 0.94 Ni
        ]
        for pattern, pct_first in patterns:
            m = re.search(pattern, low)
            if not m:
                continue
            values = {_fraction(x.group(1), bool(x.group(2)) if x.lastindex and x.lastindex >= 2 else False)
                      for x in re.finditer(pattern, low)}
            if len(values) > 1:  # "at 94% Ni and 93% Ni": ask which, never pick one
                listed = " and ".join(format_value(v) for v in sorted(values))
                ex.problems.append(f"{name} is given as {listed}; which one? (ask for each separately, or give a range)")
                break
            value, pct = (m.group(1), m.group(2)) if pct_first else (m.group(1), m.group(2) if m.lastindex and m.lastindex >= 2 else None)
            frac = _fraction(value, bool(pct))
            _put(ex, space, name, frac, m.group(0).strip())
            break
    # NCM shorthand: NCM955 / NCM 9½½ is ambiguous; "NCM811"-style triplets of single digits are common
    m = re.search(r"\bncm\s*([1-9])([0-9])([0-9])\b", low)
    if m and "ni" not in ex.fixed:
        ni, co, mn = (int(d) / 10 for d in m.groups())
        if abs(ni + co + mn - 1.0) < 1e-9:
            for name, v in (("ni", ni), ("co", co), ("mn", mn)):
                _put(ex, space, name, v, m.group(0))
        elif "ni" in space.names:
            ex.problems.append(f"{m.group(0)!r}: Ni {ni:g}, Co {co:g}, Mn {mn:g} do not add up to 1; give the fractions, e.g. 'Ni 0.9, Co 0.05'")


def _counts(ex: Extraction, low: str) -> None:
    m = re.search(rf"(?<![\d.])(\d{{1,4}})\s*(?:new\s+|more\s+|next\s+|different\s+|distinct\s+|synthetic\s+|fake\s+)?{COUNT_WORDS}", low)
    m = m or re.search(r"\b(?:top|best|next|only|just|propose|suggest|recommend|give\s+me|want|need)\s+(\d{1,3})\b(?!\s*(?:%|percent|\.\d|°|c\b|k\b|h\b|wt|ppm|mol))", low)
    m = m or re.search(r"\bn\s*=\s*(\d{1,3})\b", low)
    m = m or re.search(MORE_COUNT, low)  # the next batch of a conversation
    m = m or re.search(r"\b(\d{1,3})\s+of\s+them\b|\b(?:batch|set|round)\s+of\s+(\d{1,3})\b|\b(\d{1,3})\s+instead\b", low)
    if m:
        ex.count = int(next(g for g in m.groups() if g))
        return
    for word, n in sorted(_NUMBER_WORDS.items(), key=lambda kv: -len(kv[0])):
        if re.search(rf"\b{word}\s+(?:new\s+|more\s+|next\s+)?{COUNT_WORDS}", low):
            ex.count = n
            return
    for word, n in _KOREAN_COUNTS.items():  # "다섯 개", "열 개"
        if re.search(rf"(?<![가-힣]){word}\s*(?:개|건|회|가지)", low):
            ex.count = n
            return


def _atmosphere(ex: Extraction, space: DesignSpace, low: str) -> None:
    if "atmosphere" not in space.names:
        return
    if re.search(r"\b(?:in|under|with|using|atmosphere(?:\s+(?:of|in|=|:))?)\s+(?:flowing\s+|ambient\s+)?air\b|\bair\s+atmosphere\b|\bair[- ]calcin|공기|"
                 r"(?:^|[,;(]\s*)air\s*(?=[,;)]|$)", low):  # "LiOH, air, 750 °C": air as an item of a list
        _put(ex, space, "atmosphere", "air", "air")
    elif re.search(r"\b(?:in|under|with|using|atmosphere(?:\s+(?:of|in|=|:))?)\s+(?:flowing\s+|pure\s+)?(?:o2|oxygen)\b|\b(?:o2|oxygen)\s+atmosphere\b|"
                   r"(?<![a-z0-9])o2(?![a-z0-9])|(?<![a-z])oxygen(?!\s+(?:vacanc|partial|stoich|content|loss|release|evolution))|산소", low):
        # a bare "O2" or "oxygen" can only be the atmosphere here
        _put(ex, space, "atmosphere", "O2", "O2")


def _li_source(ex: Extraction, space: DesignSpace, low: str) -> None:
    if "li_source" not in space.names:
        return
    has_oh = re.search(r"\blioh(?![a-z0-9])|lithium hydroxide", low)
    has_co3 = re.search(r"\bli2co3(?![a-z0-9])|lithium carbonate", low)
    if has_oh and not has_co3:
        _put(ex, space, "li_source", "LiOH", "LiOH")
    elif has_co3 and not has_oh:
        _put(ex, space, "li_source", "Li2CO3", "Li2CO3")


def _li_ratio(ex: Extraction, space: DesignSpace, low: str) -> None:
    m = re.search(rf"(?:li\s*/\s*(?:tm|me|m)|li[_ ]ratio|lithium ratio|li excess ratio)\s*(?:ratio\s*)?(?:=|:|of|at)?\s*{_NUM}", low)
    if m:
        _put(ex, space, "li_ratio", float(m.group(1)), m.group(0))


def _dopants(ex: Extraction, space: DesignSpace, low: str) -> None:
    if re.search(r"\b(?:no|without)\s+(?:any\s+)?(?:dopants?|doping)\b|\bundoped\b|\bdopant[- ]free\b|\b(?:all\s+)?dopants?\s+(?:off|out)\b|도핑\s*없이", low):
        for name in DOPANT_ALIASES:
            _put(ex, space, name, 0.0, "no dopants")
        return
    for name, aliases in DOPANT_ALIASES.items():
        alias = "|".join(re.escape(a) for a in aliases)
        # "Nb2O5 at 0.002", "Nb 0.002", "Nb2O5 0.2 wt%", "0.2 wt% Nb2O5", "dopant_nb=0.002"
        patterns = [
            rf"(?<![a-z0-9])(?:{alias})(?![a-z0-9])(?:\s+dopant|\s+doping)?\s*(?:=|:|at|of)?\s*(?!{_COMPOSITION_VALUE}){_NUM}\s*(wt\s*%|wt%|%|ppm)?",
            rf"{_NUM}\s*(wt\s*%|wt%|%|ppm)\s*(?:of\s+)?(?:{alias})(?![a-z0-9])",
        ]
        for pattern in patterns:
            m = re.search(pattern, low)
            if not m:
                continue
            value = float(m.group(1))
            unit = (m.group(2) or "").replace(" ", "")
            if unit in {"wt%", "%"}:
                value /= 100.0
            elif unit == "ppm":
                value /= 1e6
            if name == "dopant_w" and not unit and value > 0.01:
                continue  # "W 500" is a coating temperature, not a dopant amount
            _put(ex, space, name, value, m.group(0).strip())
            break
        if name not in ex.fixed and re.search(rf"\b(?:no|without)\s+(?:{alias})(?:\s+dop\w*)?\b", low) and "coat" not in low:
            _put(ex, space, name, 0.0, f"no {aliases[0]}")


def _coating(ex: Extraction, space: DesignSpace, low: str) -> None:
    if "coating" not in space.names:
        return
    if re.search(r"\b(?:no|without)\s+(?:any\s+|a\s+)?coating\b|\buncoated\b|\b(?:skip|omit|leave\s+out)\s+(?:the\s+)?coatings?\b|코팅\s*없이", low):
        _put(ex, space, "coating", "none", "no coating")
        return
    for value, aliases in COATING_ALIASES.items():
        alias = "|".join(re.escape(a) for a in aliases)
        if re.search(rf"(?<![a-z0-9])(?:{alias})[- ]?(?:coating|coated)\b|\bcoated\s+with\s+(?:{alias})\b|\bcoating\s*(?:=|:|of|with)?\s*(?:{alias})\b|(?:{alias})\s*코팅", low):
            _put(ex, space, "coating", value, f"{value} coating")
            return


def _temperatures_and_times(ex: Extraction, space: DesignSpace, low: str) -> None:
    # "at 760 or 780 °C" offers two values: ask which, never pick one
    for m in re.finditer(rf"{_NUM}\s*(?:°\s*c|degc|c\b|k\b|도|h\b|hours?)?\s*(?:or|vs\.?|versus|또는|아니면|랑|이랑|하고|와|과)\s*{_NUM}\s*(?:°\s*c|degc|c\b|k\b|kelvin|도|h\b|hours?)", low):
        ex.problems.append(f"{m.group(0).strip()!r}: two values; which one? (for a range write e.g. 'between 760 and 780 °C')")
        low = low[: m.start()] + " " * (m.end() - m.start()) + low[m.end():]
    temps = list(re.finditer(rf"{_NUM}\s*(°\s*c|degc|deg\s*c|c\b|k\b|kelvin|도)", low))
    for m in temps:
        value = float(m.group(1))
        unit = m.group(2).replace(" ", "")
        name = _temperature_kind(low, m.start(), m.end())
        if unit in {"k", "kelvin"}:
            converted = value - 273.15
            param = space.parameter(name) if name in space.names else None
            if isinstance(param, NumberParameter) and abs(param.snap(converted) - converted) <= 0.5:
                converted = param.snap(converted)  # 1033 K is 759.85 degC: the user meant 760
            ex.notes.append(f"read {m.group(0).strip()} as {converted:g} degC")
            value = converted
        _put(ex, space, name, round(value, 2), m.group(0).strip())
    for m in re.finditer(rf"{_NUM}\s*(h|hr|hrs|hours?|min|minutes?|시간)(?![a-z0-9])", low):  # "10시간이면": a particle may follow
        value = float(m.group(1))
        if m.group(2).startswith("min"):
            value /= 60.0
        before = low[max(0, m.start() - 40) : m.start()]
        name = "coating_time_h" if "coat" in before else "calcination_time_h"
        _put(ex, space, name, value, m.group(0).strip())


def _temperature_kind(low: str, start: int, end: int) -> str:
    """Coating or calcination temperature: the nearest preceding keyword decides, then the words right after."""
    before = low[max(0, start - 60) : start]
    coat = max(before.rfind("coat"), before.rfind("heat-treat"), before.rfind("코팅"))
    calc = max(before.rfind("calcin"), before.rfind("sinter"), before.rfind("fir"), before.rfind("소성"))
    if coat > calc:
        return "coating_temp_c"
    if calc > coat:
        return "calcination_temp_c"
    return "coating_temp_c" if re.match(r"\s*(?:for\s+the\s+)?coat", low[end : end + 20]) else "calcination_temp_c"


def _generic_assignments(ex: Extraction, space: DesignSpace, low: str) -> None:
    """`name=value` for any parameter of any space (works for inferred spaces too)."""
    flagged = {problem.split("-> ", 1)[-1].split(":", 1)[0] for problem in ex.problems}
    for p in space.parameters:
        if p.name in ex.fixed or p.name in flagged:
            continue
        # "coating at 400 °C" is the coating's temperature, not a category value: `at` assigns numbers only
        op = r"(?:=|:|\bis\b)" if isinstance(p, CategoryParameter) else r"(?:=|:|\bat\b|\bis\b)"
        m = re.search(rf"(?<![a-z0-9_]){re.escape(p.name.lower())}\s*{op}\s*([a-z0-9_.+-]+)", low)
        if not m:
            continue
        raw = m.group(1)
        if isinstance(p, CategoryParameter):
            match = next((v for v in p.values if v.lower() == raw), None)
            _put(ex, space, p.name, match if match is not None else raw, m.group(0))
        else:
            try:
                _put(ex, space, p.name, float(raw), m.group(0))
            except ValueError:
                ex.problems.append(f"{m.group(0)!r}: '{raw}' is not a number")
