"""Limits, ranges, exclusions and removals read from a scientist's message, in English and Korean.

"keep calcination below 760 °C", "Nb2O5 at most 0.3 wt%", "between 740 and 760 C", "760 ± 10 °C",
"소성 온도 760도 이하", "not in air", "no W coating", "only B or Al coatings", "exclude Ti",
"drop the temperature limit", "any atmosphere", "start over". Values are converted to the record's
units (K -> degC, min -> h, wt% / ppm / mol% -> weight fraction, % Ni -> mole fraction) and
limits are snapped inward to the parameter's grid; every conversion and snap is said in a note.
A limit whose parameter or value cannot be told is named in `problems`, so the router asks
instead of guessing. The spans it reads are blanked in `remaining`, so the reader of fixed
values (`assistant.extract`) never turns "below 760 °C" into "at 760 °C".
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from assistant.constraint_vocabulary import (
    ATOMIC,
    CATEGORY_VALUES,
    CLEAR,
    COATING_ELEMENTS,
    DOPANTS,
    EXCLUDED_AFTER,
    KR_NEGATION,
    LIMIT_WORD,
    LOCAL_SCAN,
    MENTIONS,
    NEGATION,
    NUM_BODY,
    OXIDE_PER_METAL,
    PARAMETER_BETWEEN,
    PM_PATTERN,
    POSTFIX_OPS,
    PREFIX_OPS,
    RANGE_PATTERNS,
    REMOVAL_TARGET,
    REMOVAL_TARGETS,
    REMOVE_VERB,
    UNIT_BODY,
    UNREAD_LIMIT,
)
from tools.domain.constraints import ParameterConstraint, choice, fixed_value, value_range
from tools.domain.design_space import CategoryParameter, DesignSpace, NumberParameter, format_value


@dataclass
class ConstraintReading:
    """What a message states about limits: new constraints, removals, notes and problems."""

    constraints: list[ParameterConstraint] = field(default_factory=list)
    removals: list[str] = field(default_factory=list)
    clear: bool = False
    vague_removal: str | None = None
    """'limit' for "remove the limit", 'any' for "drop it": a removal naming no parameter."""
    also_allowed: list[tuple[str, str]] = field(default_factory=list)
    """(parameter, category) the message lets in ("oxygen is fine too")."""
    local_scan: bool = False
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    remaining: str = ""
    """The message with every span read here blanked out (for the reader of fixed values)."""


def _blank(text: str, start: int, end: int) -> str:
    return text[:start] + " " * (end - start) + text[end:]


def _mention(name: str) -> str:
    """How a message names a parameter: its aliases, or its own name ("coating_temp_c < 400")."""
    own = rf"(?<![a-z0-9_]){re.escape(name)}(?![a-z0-9_])"
    alias = MENTIONS.get(name)
    return own if alias is None else f"{own}|{alias}"


def _nearest_mention(text: str, start: int, end: int, candidates: tuple[str, ...], before: int = 60, after: int = 30,
                     loose_coating: bool = False) -> str | None:
    """The candidate parameter named inside the quantity ("3000 ppm Nb or less"), else closest before it, else just after.

    With `loose_coating`, "coating" right before the quantity names the coating's temperature or
    time ("coating under 450 °C"); further away it does not ("no W coating, below 760 °C").
    """
    mentions = {name: _mention(name) for name in candidates}
    inside = sorted((m.start(), name) for name in candidates for m in re.finditer(mentions[name], text[start:end]))
    if inside:
        return inside[0][1]
    best: tuple[int, str] | None = None
    window = text[max(0, start - before): start]
    for name in candidates:
        pattern = mentions[name]
        if loose_coating and name in {"coating_temp_c", "coating_time_h"}:
            pattern += r"|coat\w*(?=\s*$)|코팅(?=\s*$)"
        for m in re.finditer(pattern, window):
            distance = len(window) - m.end()
            if best is None or distance < best[0]:
                best = (distance, name)
    if best is not None:
        return best[1]
    window = text[end: end + after]
    after_hits = sorted((m.start(), name) for name in candidates for m in re.finditer(mentions[name], window))
    return after_hits[0][1] if after_hits else None


def _unit_family(unit: str) -> str:
    u = unit.replace(" ", "").replace(".", "")
    if u == "mah/g":
        return "capacity"
    if u in {"°c", "℃", "degc", "deg", "c", "도"}:
        return "celsius"
    if u in {"k", "kelvin"}:
        return "kelvin"
    if u in {"h", "hr", "hrs", "hour", "hours", "시간"}:
        return "hours"
    if u in {"min", "mins", "minute", "minutes", "분"}:
        return "minutes"
    if u in {"wt%"}:
        return "wt%"
    if u in {"mol%", "at%"}:
        return "mol%"
    if u == "ppm":
        return "ppm"
    if u in {"%", "percent", "퍼센트"}:
        return "%"
    return ""


@dataclass
class _Quantity:
    start: int
    end: int
    low: float
    high: float | None  # a range when set
    unit: str
    op: str | None  # le, lt, ge, gt; None for a range or a bare value
    said: str


def _quantities(text: str) -> list[_Quantity]:
    """Ranges, +/- windows and single values with an operator, in text order, not overlapping."""
    found: list[_Quantity] = []
    taken: list[tuple[int, int]] = []

    def free(a: int, b: int) -> bool:
        return all(b <= s or a >= e for s, e in taken)

    for pattern in RANGE_PATTERNS:
        for m in re.finditer(pattern, text):
            if not free(m.start(), m.end()):
                continue
            a, ua, b, ub = m.group(1), m.group(2), m.group(3), m.group(4) if m.lastindex and m.lastindex >= 4 else None
            unit = ub or ua or ""
            lo, hi = sorted((float(a), float(b)))
            found.append(_Quantity(m.start(), m.end(), lo, hi, unit, None, m.group(0).strip()))
            taken.append((m.start(), m.end()))
    for m in re.finditer(PM_PATTERN, text):
        if not free(m.start(), m.end()):
            continue
        centre, width = float(m.group(1)), float(m.group(3))
        unit = m.group(2) or m.group(4) or ""
        found.append(_Quantity(m.start(), m.end(), centre - width, centre + width, unit, None, m.group(0).strip()))
        taken.append((m.start(), m.end()))
    value = rf"(?P<v>{NUM_BODY})\s*(?P<u>{UNIT_BODY})?"
    prefix = "|".join(f"(?P<{name}{i}>{pattern})" for i, (pattern, name) in enumerate(PREFIX_OPS))
    for m in re.finditer(rf"(?<![a-z])(?:{prefix})\s*(?:of\s+|than\s+|to\s+|about\s+|~\s*|approximately\s+)?"
                         rf"(?:{PARAMETER_BETWEEN}){value}", text):
        if not free(m.start(), m.end()):
            continue
        op = next(name for i, (_, name) in enumerate(PREFIX_OPS) if m.group(f"{name}{i}"))
        found.append(_Quantity(m.start(), m.end(), float(m.group("v")), None, m.group("u") or "", op, m.group(0).strip()))
        taken.append((m.start(), m.end()))
    postfix = "|".join(f"(?P<{name}{i}>{pattern})" for i, (pattern, name) in enumerate(POSTFIX_OPS))
    for m in re.finditer(rf"{value}\s*(?:[a-z][a-z0-9]*\s+)?(?:로|으로|를|을|는|은)?\s*(?:{postfix})", text):
        if not free(m.start(), m.end()):
            continue
        op = next(name for i, (_, name) in enumerate(POSTFIX_OPS) if m.group(f"{name}{i}"))
        found.append(_Quantity(m.start(), m.end(), float(m.group("v")), None, m.group("u") or "", op, m.group(0).strip()))
        taken.append((m.start(), m.end()))
    return sorted(found, key=lambda q: q.start)


def _cathode_molar_mass(space: DesignSpace, fixed: dict[str, float]) -> float:
    ni = fixed.get("ni", 0.94)
    co = fixed.get("co", 0.04)
    mn = fixed.get("mn", max(0.0, 1.0 - ni - co))
    return ATOMIC["li"] + ni * ATOMIC["ni"] + co * ATOMIC["co"] + mn * ATOMIC["mn"] + 2 * ATOMIC["o"]


def _parameter_for(text: str, q: _Quantity, space: DesignSpace) -> str | None:
    """Which parameter a quantity limits: its unit gives the family, the nearest mention the member."""
    family = _unit_family(q.unit)
    names = set(space.names)
    if family in {"celsius", "kelvin"}:
        found = _nearest_mention(text, q.start, q.end, ("coating_temp_c", "calcination_temp_c"), loose_coating=True)
        return found or ("calcination_temp_c" if "calcination_temp_c" in names else None)
    if family in {"hours", "minutes"}:
        found = _nearest_mention(text, q.start, q.end, ("coating_time_h", "calcination_time_h"), loose_coating=True)
        return found or ("calcination_time_h" if "calcination_time_h" in names else None)
    if family in {"wt%", "ppm"}:  # weight fractions: dopants and coating, never the (molar) composition
        return _nearest_mention(text, q.start, q.end, ("coating_amount", *DOPANTS), after=20)
    if family == "mol%":
        return _nearest_mention(text, q.start, q.end, ("coating_amount", *DOPANTS, "ni", "co", "mn"), after=20)
    if family == "%":
        return _nearest_mention(text, q.start, q.end, ("ni", "co", "mn", "coating_amount", *DOPANTS), before=25, after=20)
    return _nearest_mention(text, q.start, q.end, ("li_ratio", "coating_temp_c", "calcination_temp_c", "coating_time_h",
                                                    "calcination_time_h", "coating_amount", *DOPANTS, "ni", "co", "mn"), before=40, after=12)


def _convert(value: float, family: str, name: str, param: NumberParameter, fixed: dict[str, float],
             space: DesignSpace) -> tuple[float, str | None]:
    """A value in the record's unit, and a note when a conversion happened."""
    if family == "kelvin":
        converted = value - 273.15
        if param.step is not None and abs(param.snap(converted) - converted) <= 0.5:
            converted = param.snap(converted)  # 1033 K is 759.85 degC: the user meant 760
        return converted, f"read {format_value(value)} K as {format_value(converted)} degC"
    if family == "minutes":
        return value / 60.0, f"read {format_value(value)} min as {format_value(value / 60.0)} h"
    if name in ("ni", "co", "mn"):
        if family in {"%", "mol%"} or value > 1.0:
            return value / 100.0, None
        return value, None
    if name in DOPANTS or name == "coating_amount":
        if family in {"wt%", "%"}:
            return value / 100.0, None
        if family == "ppm":
            return value / 1e6, f"read {format_value(value)} ppm as {format_value(value / 1e6)} weight fraction"
        if family == "mol%" and name in DOPANTS:
            weight = value / 100.0 * OXIDE_PER_METAL[name] / _cathode_molar_mass(space, fixed)
            return weight, (f"read {format_value(value)} mol% {name.removeprefix('dopant_').title()} as "
                            f"{weight:.4f} weight fraction of its oxide (per mole of transition metal)")
    return value, None


def _snap_lower(param: NumberParameter, value: float, strict: bool) -> tuple[float, bool, bool]:
    """A lower limit on the grid, moved inward: (value, strict, moved)."""
    if param.step is None:
        return value, strict, False
    k = param.grid_index(value)
    if abs(k - round(k)) <= 1e-6:
        return param.value_at(int(round(k))) if 0 <= round(k) < (param.n_levels or 0) else value, strict, False
    return param.value_at(math.ceil(k)) if math.ceil(k) >= 0 else param.low, False, True


def _snap_upper(param: NumberParameter, value: float, strict: bool) -> tuple[float, bool, bool]:
    """An upper limit on the grid, moved inward: (value, strict, moved)."""
    if param.step is None:
        return value, strict, False
    k = param.grid_index(value)
    if abs(k - round(k)) <= 1e-6:
        return param.value_at(int(round(k))) if 0 <= round(k) < (param.n_levels or 0) else value, strict, False
    return param.value_at(math.floor(k)) if math.floor(k) >= 0 else value, False, True


def _limits(text: str, space: DesignSpace, reading: ConstraintReading, fixed_hint: dict[str, float]) -> str:
    for q in _quantities(text):
        if q.op is None and q.high is None:
            continue
        if _unit_family(q.unit) == "capacity":
            # "above 215 mAh/g" is the goal, not a limit on a parameter: the proposer maximises capacity anyway
            reading.notes.append(f"read {q.said!r} as a goal, not a constraint: the proposals aim at the highest predicted capacity")
            text = _blank(text, q.start, q.end)
            continue
        name = _parameter_for(text, q, space)
        if name is None or name not in space.names:
            reading.problems.append(f"{q.said!r}: I could not tell which parameter this limits (name it, e.g. 'calcination temperature below 760 °C')")
            text = _blank(text, q.start, q.end)
            continue
        param = space.parameter(name)
        if not isinstance(param, NumberParameter):
            reading.problems.append(f"{q.said!r}: {name} is a category, it has no numeric limit")
            text = _blank(text, q.start, q.end)
            continue
        family = _unit_family(q.unit)
        if not family and param.unit in {"mole fraction", "weight fraction"} and max(q.low, q.high or 0.0) > 100:
            # "at 94% Ni, keep it under 800": no fraction (nor percent) is 800, so the limit is not on Ni
            reading.problems.append(f"{q.said!r}: I could not tell which parameter this limits (name it, e.g. 'calcination temperature below 760 °C')")
            text = _blank(text, q.start, q.end)
            continue
        low, note = _convert(q.low, family, name, param, fixed_hint, space)
        if note:
            reading.notes.append(note)
        high = None
        if q.high is not None:
            high, note = _convert(q.high, family, name, param, fixed_hint, space)
            if note:
                reading.notes.append(note)
        lower = upper = None
        lower_strict = upper_strict = False
        if q.high is not None:
            lower, upper = low, high
        elif q.op in {"le", "lt"}:
            upper, upper_strict = low, q.op == "lt"
        else:
            lower, lower_strict = low, q.op == "gt"
        moved = []
        if lower is not None:
            lower, lower_strict, m = _snap_lower(param, lower, lower_strict)
            moved.append(m)
        if upper is not None:
            upper, upper_strict, m = _snap_upper(param, upper, upper_strict)
            moved.append(m)
        constraint = value_range(name, lower, upper, lower_strict, upper_strict)
        unit = param.unit if param.unit not in {"mole fraction", "weight fraction", "mol/mol"} else ""
        if any(moved):
            reading.notes.append(f"read {q.said!r} as {constraint.describe(unit)} (the {format_value(param.step)} {param.unit} grid)".replace("  ", " "))
        elif q.high is not None or family in {"%", "wt%", "ppm", "mol%"}:
            reading.notes.append(f"read {q.said!r} as {constraint.describe(unit)}")
        reading.constraints.append(constraint)
        text = _blank(text, q.start, q.end)
    return text


def _categories(text: str, space: DesignSpace, reading: ConstraintReading) -> str:
    names = set(space.names)
    neg = NEGATION
    text = _operator_choices(text, space, reading)
    if "atmosphere" in names:
        for value, alias in (("air", r"air|공기"), ("O2", r"o2|oxygen|산소")):
            pattern = (rf"\b{neg}\s+(?:in\s+|under\s+|using\s+|with\s+)?(?:{alias})(?![a-z0-9])|"
                       rf"(?<![a-z0-9])(?:{alias})(?:\s+atmosphere)?{EXCLUDED_AFTER}|(?:{alias})\s*(?:분위기)?\s*(?:은|는|도)?\s*{KR_NEGATION}")
            m = re.search(pattern, text)
            if m:
                reading.constraints.append(choice("atmosphere", excluded=[value]))
                text = _blank(text, m.start(), m.end())
            m = re.search(rf"\bonly\s+(?:in\s+|under\s+|use\s+)?(?:{alias})(?![a-z0-9])|(?<![a-z0-9])(?:{alias})(?:\s+atmosphere)?\s+only\b|"
                          rf"(?:{alias})\s*(?:분위기)?\s*만", text)
            if m:
                reading.constraints.append(fixed_value("atmosphere", value))
                text = _blank(text, m.start(), m.end())
    if "li_source" in names:
        for value, alias in (("LiOH", r"lioh|lithium\s+hydroxide"), ("Li2CO3", r"li2co3|lithium\s+carbonate")):
            m = re.search(rf"\b{neg}\s+(?:using\s+|with\s+)?(?:{alias})(?![a-z0-9])|(?<![a-z0-9])(?:{alias}){EXCLUDED_AFTER}|"
                          rf"(?:{alias})\s*(?:은|는|도)?\s*{KR_NEGATION}", text)
            if m:
                reading.constraints.append(choice("li_source", excluded=[value]))
                text = _blank(text, m.start(), m.end())
            m = re.search(rf"\bonly\s+(?:use\s+)?(?:{alias})(?![a-z0-9])|(?<![a-z0-9])(?:{alias})\s+only\b|(?:{alias})\s*만", text)
            if m:
                reading.constraints.append(fixed_value("li_source", value))
                text = _blank(text, m.start(), m.end())
    if "coating" in names:
        text = _coating_choices(text, reading)
    text = _exclusions(text, space, reading)
    return text


def _operator_choices(text: str, space: DesignSpace, reading: ConstraintReading) -> str:
    """`coating != W`, `coating in {B, Al}`, `atmosphere not in {air}`: the --where syntax typed in a message."""
    for p in space.categories:
        name = re.escape(p.name.lower())
        # `in` needs its braces: "keep the atmosphere in air" is English, not the set syntax
        pattern = (rf"(?<![a-z0-9_]){name}\s*(?:(?P<op>!=)\s*(?P<vals>[a-z0-9_]+(?:\s*,\s*[a-z0-9_]+)*)|"
                   rf"(?P<op2>\bnot\s+in|\bin)\s*\{{\s*(?P<vals2>[a-z0-9_]+(?:\s*,\s*[a-z0-9_]+)*)\s*\}})")
        for m in list(re.finditer(pattern, text)):
            op = m.group("op") or re.sub(r"\s+", " ", m.group("op2"))
            said = [v.strip() for v in (m.group("vals") or m.group("vals2")).split(",")]
            lookup = {v.lower(): v for v in p.values}
            unknown = [v for v in said if v not in lookup]
            if unknown:
                reading.problems.append(f"{m.group(0).strip()!r}: {', '.join(unknown)} is not one of {', '.join(p.values)}")
            else:
                values = [lookup[v] for v in said]
                reading.constraints.append(choice(p.name, allowed=values) if op == "in" else choice(p.name, excluded=values))
            text = _blank(text, m.start(), m.end())
    return text


def _coating_choices(text: str, reading: ConstraintReading) -> str:
    element = "|".join(f"(?:{a})" for a in COATING_ELEMENTS.values())
    listed = rf"(?:{element})(?:\s*(?:,|or|and|/)\s*(?:{element}))+"
    m = re.search(rf"\bonly\s+({listed}|{element})\s+coat\w*|\bcoat\w*\s+(?:only\s+)?(?:with|of|in)\s+(?:only\s+)?({listed})\b|"
                  rf"\b({listed})\s+coat\w*|(?:{element})(?:\s*(?:,|나|또는|이나)\s*(?:{element}))+\s*코팅만?|"
                  rf"코팅\s*(?:은|는)?\s*(?:{element})\s*만|(?:{element})\s*코팅만", text)
    if m:
        said = m.group(0)
        values = [v for v, alias in COATING_ELEMENTS.items() if re.search(alias, said.replace("coat", " "))]
        before = re.search(rf"\b{NEGATION}\s*$", text[: m.start()])
        after = re.match(rf"\s*(?:은|는|도)?\s*{KR_NEGATION}", text[m.end():])
        if values:
            # "exclude boron and tungsten coatings" names the coatings it rules out
            negated = before is not None or after is not None
            reading.constraints.append(choice("coating", excluded=values) if negated else choice("coating", allowed=values))
            start = before.start() if before else m.start()
            end = m.end() + (after.end() if after else 0)
            text = _blank(text, start, end)
    for value, alias in COATING_ELEMENTS.items():
        m = re.search(rf"\b{NEGATION}\s+(?:{alias})[- ]?coat\w*|\bnot\s+(?:{alias})[- ]coated|(?:{alias})[- ]coat\w*\s+(?:excluded|not\s+allowed|is\s+out)|"
                      rf"(?:{alias})\s*코팅\s*(?:은|는|도)?\s*{KR_NEGATION}", text)
        # "must be coated, not with W", "any coating except W": only the negated part is read here
        m = m or re.search(rf"\bcoat\w*(?:\s+\w+){{0,3}}?\s*,?\s*(?:but\s+)?(?P<neg>(?:not|except|other\s+than)\s+(?:with\s+|in\s+)?(?:{alias}))(?![a-z0-9])", text)
        if m:
            reading.constraints.append(choice("coating", excluded=[value]))
            start = m.start("neg") if "neg" in m.groupdict() else m.start()
            text = _blank(text, start, m.end())
    m = re.search(r"\b(?:must\s+be|always|only)\s+coated\b|\bwith\s+(?:a|some)\s+coating\b|\bcoated\s+(?:runs|samples)\s+only\b|코팅\s*필수", text)
    if m:
        reading.constraints.append(choice("coating", excluded=["none"]))
        text = _blank(text, m.start(), m.end())
    return text


def _exclusions(text: str, space: DesignSpace, reading: ConstraintReading) -> str:
    """'exclude Ti', 'no W', 'Nb-free', 'without cobalt': a dopant (or Co) at 0; bare W/Al/Co also leave the coating.

    A list after one negation ("exclude Mg, Ti and Zr", "Ti, Zr 도핑 제외") rules out every member, and
    "no dopants except Nb" every dopant but the named ones.
    """
    names = set(space.names)
    dopants = [n for n in DOPANTS if n in names]
    any_dopant = "|".join(f"(?:{MENTIONS[n]})" for n in dopants)
    # separators hold at most a space either side: a blanked limit between two names does not join them
    members = rf"(?:{any_dopant})(?:(?: ?[,/&] ?| (?:and|or|nor) | ?(?:와|과|랑|이랑|하고|및) ?)(?:no )?(?:{any_dopant}))*"
    if dopants:
        m = re.search(rf"\b(?:no|without|zero|exclude\s+all)\s+(?:other\s+)?(?:dopants?|doping)\s+(?:except|but|other\s+than|besides|apart\s+from)\s+"
                      rf"(?P<list>{members})|\bonly\s+(?P<list2>{members})\s+(?:as\s+(?:the\s+|a\s+)?)?(?:dopants?|doping)\b|"
                      rf"(?:도핑|도펀트)\s*(?:은|는)?\s*(?P<list3>{members})\s*만|(?P<list4>{members})\s*(?:도핑|도펀트)\s*만", text)
        if m:
            kept = m.group("list") or m.group("list2") or m.group("list3") or m.group("list4")
            for name in dopants:
                if not re.search(MENTIONS[name], kept):
                    reading.constraints.append(fixed_value(name, 0.0))
            reading.notes.append(f"read {m.group(0).strip()!r} as every other dopant at 0")
            text = _blank(text, m.start(), m.end())
        lists = rf"\b{NEGATION}\s+(?:any\s+)?(?P<list>{members})(?P<dop>[- ]?(?:dop\w*|oxides?|additions?))?(?![- ]?coat)(?![a-z0-9])(?!\s*(?:at|=|:)?\s*\.?\d)|" \
                rf"(?P<list2>{members})\s*(?P<dop2>도핑|도펀트)?\s*(?:은|는|도)?\s*{KR_NEGATION}"
        for m in list(re.finditer(lists, text)):
            listed = m.group("list") or m.group("list2")
            found = [n for n in dopants if re.search(MENTIONS[n], listed)]
            if len(found) < 2:
                continue  # one element: read below, where "no W" may also mean the coating
            for name in found:
                reading.constraints.append(fixed_value(name, 0.0))
            reading.notes.append(f"read {m.group(0).strip()!r} as no {', '.join(n.removeprefix('dopant_').title() for n in found)} dopant")
            text = _blank(text, m.start(), m.end())
    for name in (*DOPANTS, "co"):
        if name not in names:
            continue
        alias = MENTIONS[name]
        m = re.search(rf"\b{NEGATION}\s+(?:any\s+|dope\s+with\s+|add(?:\s+any)?\s+)?(?:{alias})(?:[- ]?(?:dop\w*|oxide|addition))?(?![- ]?coat)\b|\b(?:{alias})[- ]free\b|"
                      rf"(?<![a-z0-9])(?:{alias}){EXCLUDED_AFTER}|"
                      rf"(?:{alias})\s*(?:도핑|도펀트)?\s*(?:은|는|도)?\s*{KR_NEGATION}", text)
        if not m:
            continue
        said = m.group(0).strip()
        element = name.removeprefix("dopant_").title()
        reading.constraints.append(fixed_value(name, 0.0))
        coating_value = {"dopant_w": "W", "dopant_al": "Al", "co": "Co"}.get(name)
        bare = not re.search(r"dop|oxide|addition|도핑|도펀트|free", said)
        if coating_value and bare and "coating" in names and "coat" not in text[m.end(): m.end() + 12]:
            reading.constraints.append(choice("coating", excluded=[coating_value]))
            what = "Co in the composition" if name == "co" else f"{element} dopant"
            reading.notes.append(f"read {said!r} as no {what} and no {coating_value} coating")
        text = _blank(text, m.start(), m.end())
    return text


def _removals(text: str, space: DesignSpace, reading: ConstraintReading) -> str:
    if re.search(CLEAR, text):
        reading.clear = True
        return re.sub(CLEAR, lambda m: " " * len(m.group(0)), text)
    targets = REMOVAL_TARGET
    # "relax the limit to 770 C", "loosen the Nb cap to 0.4 wt%": a new value, read as a limit, not a removal
    to_value = r"(?!(?:\s+[\w/]+){0,3}?\s+(?:to|at|up\s+to)\s*[\d.])"
    patterns = [
        rf"\b{REMOVE_VERB}{to_value}\s+(?:about\s+)?(?:the\s+|my\s+|that\s+|this\s+|any\s+)?(?P<t>{targets})(?:\s+{LIMIT_WORD})?",
        rf"\b{REMOVE_VERB}{to_value}\s+(?:the\s+|my\s+)?{LIMIT_WORD}\s+on\s+(?:the\s+)?(?P<t>{targets})",
        rf"\bno\s+(?:more\s+)?(?P<t>{targets})\s+{LIMIT_WORD}",
        rf"(?<!without )(?<!no )(?<!not )\b(?:any|either)\s+(?P<t>{targets})\b",  # not "without any coating"
        rf"\b(?:let|leave)\s+(?:the\s+)?(?P<t>{targets})\s+(?:vary|float|free|open|be\s+anything)",
        rf"\b(?P<t>{targets})\s+(?:can|may|is\s+free\s+to)\s+(?:vary|be\s+anything|change)",
        rf"(?P<t>{targets})\s*(?:은|는|이|가|을|를|의)?\s*(?:제한|조건)?\s*(?:은|는|을|를)?\s*(?:없애|해제|풀어|지워|상관\s*없|아무\s*거나|무관)",
    ]
    for pattern in patterns:
        for m in list(re.finditer(pattern, text)):
            said = m.group("t")
            for target, params in REMOVAL_TARGETS:
                if re.fullmatch(target, said) or re.match(target, said):
                    for p in params:
                        if p in space.names and p not in reading.removals:
                            reading.removals.append(p)
                    break
            text = _blank(text, m.start(), m.end())
    # a removal that names no parameter: the router drops the only candidate or asks which
    vague = re.search(rf"\b{REMOVE_VERB}{to_value}\s+(?:about\s+)?(?:it|that|this|them|(?:the|that|this|my)\s+(?:one|{LIMIT_WORD})|{LIMIT_WORD})(?![a-z])|"
                      r"(?:^|\s)(?:그|이)?\s*(?:제한|조건)\s*(?:을|를)?\s*(?:없애|해제|풀어|지워)", text)
    if vague:
        reading.vague_removal = "limit" if re.search(rf"{LIMIT_WORD}|제한|조건", vague.group(0)) else "any"
        text = _blank(text, vague.start(), vague.end())
    return text


def _also_allowed(text: str, space: DesignSpace, reading: ConstraintReading) -> str:
    """'oxygen is fine too', 'also allow W coating', '산소도 괜찮아': a value the conversation's constraint should let in."""
    for name, values in CATEGORY_VALUES.items():
        if name not in space.names:
            continue
        for value, alias in values.items():
            coat = r"(?:[- ]?coat\w*)?" if name == "coating" else ""
            m = re.search(rf"(?<![a-z0-9])(?:{alias}){coat}\s+(?:is|are)\s+(?:also\s+)?(?:fine|ok(?:ay)?|allowed|acceptable|good)(?:\s+too|\s+as\s+well)?\b|"
                          rf"\b(?:also\s+allow|allow\s+(?:also\s+)?)(?:{alias}){coat}(?![a-z0-9])|(?:{alias})\s*(?:코팅)?\s*도\s*(?:괜찮|돼|허용|좋)", text)
            if m:
                reading.also_allowed.append((name, value))
                text = _blank(text, m.start(), m.end())
    return text


def _vague_comparatives(text: str, space: DesignSpace, reading: ConstraintReading) -> str:
    """'keep the coating temperature lower': a direction without a value is a question, not a guess."""
    targets = REMOVAL_TARGET
    m = re.search(rf"\b(?:keep|make|set|go)\s+(?:the\s+|it\s+|them\s+)?(?:(?:{targets})\s+)?(?:a\s+bit\s+|slightly\s+|much\s+)?"
                  rf"(?:lower|higher|shorter|longer|hotter|cooler|smaller|bigger|less|more)\b(?!\s+(?:than|capacity))", text)
    # "half the usual Nb2O5", "less cobalt", "more Li excess": an amount relative to nothing stated
    m = m or re.search(rf"\b(?:half|halve|double|twice|more|less|fewer|lower|higher)\s+(?:the\s+|of\s+the\s+)?(?:usual\s+|current\s+|normal\s+)?"
                       rf"(?:{targets})(?![a-z0-9])", text)
    if m:
        reading.problems.append(f"{m.group(0).strip()!r}: how much? give a limit, e.g. 'calcination below 760 °C'")
        text = _blank(text, m.start(), m.end())
    return text


def read_constraints(text: str, space: DesignSpace, fixed_hint: dict[str, float] | None = None) -> ConstraintReading:
    """Read the limits, choices, exclusions and removals of a lower-cased message (see the module docstring)."""
    reading = ConstraintReading()
    reading.local_scan = re.search(LOCAL_SCAN, text) is not None
    text = _removals(text, space, reading)
    text = _also_allowed(text, space, reading)
    text = _limits(text, space, reading, dict(fixed_hint or {}))
    text = _vague_comparatives(text, space, reading)
    text = _categories(text, space, reading)
    for m in re.finditer(UNREAD_LIMIT, text):
        said = text[max(0, m.start() - 20): m.end() + 8].strip()
        reading.problems.append(f"{said!r}: I could not read this limit; write it as e.g. 'calcination below 760 °C'")
        text = _blank(text, m.start(), m.end())
    reading.remaining = text
    return reading


def category_parameters(space: DesignSpace) -> list[CategoryParameter]:
    """The space's categorical parameters (for messages naming allowed values)."""
    return space.categories
