"""Chemical terms in text: which elements a passage or a query names, under any alias.

"Nb", "Nb5+", "Nb2O5", "LiNbO3", "Li-Nb-O", "niobium", "niobate" and "Nb-doped" all name
niobium. The literature store uses this to index passages by the elements they mention and to
rank passages that mention an element the query asks about above passages that only share the
topic (keyword_index.py, snapshot.py, search.py), and to keep chemical formulas whole as
keyword tokens.

Rules, chosen to avoid the usual false positives of element symbols in running text:
- formulas are case-sensitive runs of element symbols with counts, brackets and hydrate dots
  (Li[Ni0.8Co0.1Mn0.1]O2, Na3V2(PO4)3, LiOH.H2O); an all-capital run without digits is an
  acronym (NCM, CIF, NASICON, PSO), not a formula, except a few real ones (HF, CO, NO);
- in a formula with several elements, the ligand elements O, H, C and N are not counted
  (Li2CO3 names lithium, not carbon; Nb2O5 names niobium); of one-element formulas only the
  gases count (O2, N2, F2, Cl2): O3 and P2 are layer stacking types, H2-H3 are phases;
- a lone symbol counts when it has two letters and is not an English word (As, At, Be, He,
  In, No, ...), or carries a charge (W6+, B3+, In3+), or (one-letter symbols B, C, F, K, N, O,
  P, S, V, W, Y) stands in a hyphenated element chain (Li-B-O, Al-O bond), before a doping
  word (W doping, B-doped), or in a list with another element (Ti, W and B); a symbol right
  after a number is a unit (4.3 V, 100 W, 0.1 C, 300 K); "Li et al." is an author; DOIs and URLs
  are skipped;
- element names and the derived words chemists use (alumina, zirconate, tungstate, borate,
  boric, niobate, titania, ...) count, case-insensitively.
"""

from __future__ import annotations

import re
from functools import lru_cache

# Symbol -> name, all 118 elements.
ELEMENTS: dict[str, str] = dict(
    pair.split(":")
    for pair in (
        "H:hydrogen He:helium Li:lithium Be:beryllium B:boron C:carbon N:nitrogen O:oxygen F:fluorine Ne:neon "
        "Na:sodium Mg:magnesium Al:aluminium Si:silicon P:phosphorus S:sulfur Cl:chlorine Ar:argon K:potassium "
        "Ca:calcium Sc:scandium Ti:titanium V:vanadium Cr:chromium Mn:manganese Fe:iron Co:cobalt Ni:nickel "
        "Cu:copper Zn:zinc Ga:gallium Ge:germanium As:arsenic Se:selenium Br:bromine Kr:krypton Rb:rubidium "
        "Sr:strontium Y:yttrium Zr:zirconium Nb:niobium Mo:molybdenum Tc:technetium Ru:ruthenium Rh:rhodium "
        "Pd:palladium Ag:silver Cd:cadmium In:indium Sn:tin Sb:antimony Te:tellurium I:iodine Xe:xenon "
        "Cs:caesium Ba:barium La:lanthanum Ce:cerium Pr:praseodymium Nd:neodymium Pm:promethium Sm:samarium "
        "Eu:europium Gd:gadolinium Tb:terbium Dy:dysprosium Ho:holmium Er:erbium Tm:thulium Yb:ytterbium "
        "Lu:lutetium Hf:hafnium Ta:tantalum W:tungsten Re:rhenium Os:osmium Ir:iridium Pt:platinum Au:gold "
        "Hg:mercury Tl:thallium Pb:lead Bi:bismuth Po:polonium At:astatine Rn:radon Fr:francium Ra:radium "
        "Ac:actinium Th:thorium Pa:protactinium U:uranium Np:neptunium Pu:plutonium Am:americium Cm:curium "
        "Bk:berkelium Cf:californium Es:einsteinium Fm:fermium Md:mendelevium No:nobelium Lr:lawrencium "
        "Rf:rutherfordium Db:dubnium Sg:seaborgium Bh:bohrium Hs:hassium Mt:meitnerium Ds:darmstadtium "
        "Rg:roentgenium Cn:copernicium Nh:nihonium Fl:flerovium Mc:moscovium Lv:livermorium Ts:tennessine "
        "Og:oganesson"
    ).split()
)

# Names and derived words -> symbol (regex alternatives, matched case-insensitively as whole words).
_NAME_PATTERNS: dict[str, str] = {
    "Al": r"alumin(?:ium|um|a|ates?|osilicates?)",
    "B": r"bor(?:on|ic|ates?|ides?|osilicates?|ohydrides?)",
    "Zr": r"zircon(?:ium|ia|ates?)?",
    "Nb": r"niob(?:ium|ates?|ia)",
    "W": r"tungst(?:en|ates?|ic)|wolfram",
    "Ti": r"titan(?:ium|ia|ates?)",
    "Mg": r"magnes(?:ium|ia)",
    "Co": r"cobalt(?:ates?|ous|ic)?",
    "Ni": r"nickel(?:ates?|ous|ic)?",
    "Mn": r"mangan(?:ese|ates?|ous|ic)",
    "Li": r"lithium",
    "Na": r"sodium|natrium",
    "K": r"potassium",
    "Fe": r"iron|ferr(?:ic|ous|ites?)",
    "Cu": r"copper|cupr(?:ic|ous)",
    "Y": r"yttri(?:um|a)",
    "Ce": r"cer(?:ium|ia)",
    "La": r"lanthan(?:um|ates?)",
    "V": r"vanad(?:ium|ates?)",
    "Cr": r"chrom(?:ium|ates?|ia)",
    "Mo": r"molybd(?:enum|ates?)",
    "Ta": r"tantal(?:um|ates?)",
    "Si": r"silic(?:on|a|ates?|ides?)",
    "P": r"phosph(?:orus|ates?|ides?|o)",
    "S": r"sulf(?:ur|ides?|ates?)|sulph(?:ur|ides?|ates?)",
    "F": r"fluor(?:ine|ides?|inated|o)",
    "Cl": r"chlor(?:ine|ides?)",
    "Sn": r"tin|stann(?:ic|ous|ates?)",
    "Sb": r"antimon(?:y|ates?)",
    "Ga": r"gallium|gallates?",
    "Ge": r"germanium|germanates?",
    "Cs": r"c(?:a)?esium",
    "O": r"oxygen",
    "C": r"carbon(?:ates?)?",
    "N": r"nitrogen|nitr(?:ates?|ides?)",
    "H": r"hydrogen",
}
# Every other element by its plain name.
for _symbol, _name in ELEMENTS.items():
    if _symbol not in _NAME_PATTERNS and _name not in ("lead", "mercury", "gold", "silver", "iodine"):
        _NAME_PATTERNS[_symbol] = _name
_NAME_PATTERNS.update({"Ag": r"silver", "Au": r"gold", "I": r"iod(?:ine|ides?)"})

_NAME_RES = [(sym, re.compile(pat)) for sym, pat in _NAME_PATTERNS.items()]
_WORD = re.compile(r"[A-Za-z]{3,}")
_WORD_SYMBOL: dict[str, str | None] = {}


def _name_symbol(word: str) -> str | None:
    """Element named by one lower-case word (cached per distinct word)."""
    try:
        return _WORD_SYMBOL[word]
    except KeyError:
        pass
    found = next((sym for sym, pattern in _NAME_RES if pattern.fullmatch(word)), None)
    if len(_WORD_SYMBOL) < 200_000:
        _WORD_SYMBOL[word] = found
    return found

_LIGANDS = frozenset({"O", "H", "C", "N"})
_ONE_LETTER = frozenset(s for s in ELEMENTS if len(s) == 1)
# Capitalised English words that are also element symbols: never a lone symbol.
_ENGLISH = frozenset({"As", "At", "Be", "He", "Ho", "In", "No", "Am", "Es", "Pa", "Po", "Re", "Md", "Mt", "Ds", "Hs", "Cm", "Db"})
# One-letter symbols that are too often something else (pronoun, units, labels) even with context.
_NEVER_ALONE = frozenset({"I", "U", "H", "C"})
_ACRONYM_FORMULAS = frozenset({"HF", "CO", "NO", "CO2", "NO2", "KOH"})
_LINKS = re.compile(r"https?://\S+|\bdoi:\s*\S+|\b10\.\d{4,9}/\S+", re.IGNORECASE)
_ELEMENTAL_FORMULAS = frozenset({"O2", "N2", "F2", "Cl2", "Br2", "I2"})
_DOPING_WORDS = re.compile(
    r"(?:dop(?:ed|ing|ant|ants)|coat(?:ed|ing|ings)|substitut(?:ed|ion)|addition|additions|incorporation|"
    r"content|segregation|ions?|atoms?|rich|containing|modified|oxides?)\b",
    re.IGNORECASE,
)

# A chemical token: letters, digits, brackets, dots and charges, split at spaces, hyphens, slashes, commas.
_TOKEN = re.compile(r"(?:[A-Za-z0-9\[\]\(\)\.\u00b7]|(?<=\d)[+-](?=[xyz\d])|\+(?![A-Za-z0-9]))+")
_SYMBOL_RE = re.compile(r"[A-Z][a-z]?")
_CHARGE = re.compile(r"^([A-Z][a-z]?)(\d?[+-]|\d?\+)$")
_NUMBER_BEFORE = re.compile(r"\d(?:\s?)$")


def _parse_formula(token: str) -> list[str] | None:
    """Element symbols of a formula token, in order, or None when it is not a formula."""
    symbols: list[str] = []
    i, depth, digits = 0, 0, False
    n = len(token)
    while i < n:
        ch = token[i]
        if ch in "[(":
            if i + 1 >= n or not token[i + 1].isupper():
                return None
            depth += 1
            i += 1
        elif ch in "])":
            depth -= 1
            if depth < 0:
                return None
            i += 1
        elif ch.isupper():
            two = token[i : i + 2]
            if len(two) == 2 and two[1].islower() and two in ELEMENTS:
                symbols.append(two)
                i += 2
            elif ch in ELEMENTS:
                symbols.append(ch)
                i += 1
            else:
                return None
        elif ch.isdigit():
            digits = True
            i += 1
            while i < n and (token[i].isdigit() or (token[i] == "." and i + 1 < n and token[i + 1].isdigit())):
                i += 1
        elif ch in "xyz" and symbols:  # Li[NixCoyMnz]O2, LixCoO2
            i += 1
        elif ch in ".\u00b7" and i + 1 < n and (token[i + 1].isupper() or token[i + 1].isdigit()):  # LiOH.H2O
            i += 1
        elif ch in "+-" and i + 1 < n and token[i + 1] in "xyz0123456789" and i > 0 and token[i - 1].isdigit():
            i += 1  # Li1+xNi..., Na1+xZr2SixP3-xO12
        elif ch == "+" and i == n - 1:  # charge on a formula ion: NH4+
            i += 1
        else:
            return None
    if depth != 0 or not symbols:
        return None
    if token.isupper() and not digits and token not in _ACRONYM_FORMULAS:
        if len(symbols) > 1 or len(token) > 2:
            return None  # NCM, CIF, NASICON, PSO, XRD: acronyms
    return symbols


def formula_elements(token: str) -> set[str]:
    """Elements a formula token names (ligands O/H/C/N dropped unless alone), or an empty set."""
    symbols = _parse_formula(token)
    if not symbols:
        return set()
    distinct = set(symbols)
    if len(distinct) == 1:
        # O2 and N2 are the gases; P2, O3 (layer stacking types), H2/H3 (phases), S1 (labels) are not elements.
        return distinct if token in _ELEMENTAL_FORMULAS else set()
    named = distinct - _LIGANDS
    return named or distinct


def _strip(token: str) -> str:
    token = token.rstrip(".")
    while len(token) > 2 and token[0] + token[-1] in ("()", "[]") and _balanced(token[1:-1]):
        token = token[1:-1]  # (Li2WO4)
    while token.endswith(")") and token.count("(") < token.count(")"):
        token = token[:-1]
    while token.startswith("(") and token.count("(") > token.count(")"):
        token = token[1:]
    while token.endswith("]") and token.count("[") < token.count("]"):
        token = token[:-1]
    while token.startswith("[") and token.count("[") > token.count("]"):
        token = token[1:]
    return token


def _balanced(token: str) -> bool:
    depth = 0
    for ch in token:
        depth += 1 if ch in "([" else -1 if ch in ")]" else 0
        if depth < 0:
            return False
    return depth == 0


_LIST_SEPARATOR = re.compile(r"\s*(?:,|/|and|or|,\s*and|,\s*or)\s*")


@lru_cache(maxsize=4096)
def _analyse(text: str) -> tuple[tuple[str, ...], tuple[str, ...], frozenset[str]]:
    """(element mentions, formula tokens kept whole, elements named directly) of a text.

    Mentions repeat per occurrence. An element is named directly by its symbol, ion or name, or
    by a simple compound (Nb2O5, ZrO2, H3BO3, Li2WO4: one element besides Li and the ligands);
    in a material's formula (LiNi0.8Co0.1Mn0.1O2, Na3V2(PO4)3) its elements are only mentioned.
    """
    mentions: list[str] = []
    in_materials: list[str] = []
    formulas: list[str] = []
    # Lone symbols needing context are decided after a first pass, so lists like "Ti, W and B" work.
    pending: list[tuple[int, str, int]] = []  # (position in tokens list, symbol, start offset)
    text = _LINKS.sub(" ", text)  # DOIs and URLs hold letter-digit runs that look like formulas
    tokens = [
        (m.start(), m.end(), _strip(m.group(0)) if m.group(0)[0] in "([" or m.group(0)[0].isupper() else m.group(0))
        for m in _TOKEN.finditer(text)
    ]
    confident_at: set[int] = set()
    for index, (start, end, token) in enumerate(tokens):
        if not token or not token[0].isupper() and token[0] not in "[(":
            continue
        charge = _CHARGE.match(token)
        if charge and charge.group(1) in ELEMENTS:
            mentions.append(charge.group(1))
            confident_at.add(index)
            continue
        if _SYMBOL_RE.fullmatch(token):
            if token not in ELEMENTS:
                continue
            if len(token) == 2 and token not in _ENGLISH:
                if token == "Co" and re.match(r"-\s?precipitat", text[end : end + 16], re.IGNORECASE):
                    continue  # Co-precipitation
                if re.match(r",?\s+et\s+al\b", text[end : end + 10]):
                    continue  # Li et al.: an author
                mentions.append(token)
                confident_at.add(index)
            elif token not in _NEVER_ALONE:
                pending.append((index, token, start))
            continue
        elements = formula_elements(token)
        if elements:
            if len(elements - {"Li"}) <= 1:
                mentions.extend(sorted(elements))
            else:
                in_materials.extend(sorted(elements))
            confident_at.add(index)
            if len(token) > 2:
                formulas.append(token.lower())
    undecided = list(pending)
    changed = True
    while undecided and changed:  # a symbol confirmed by context can confirm its list neighbours
        changed = False
        for item in list(undecided):
            index, symbol, start = item
            end = start + len(symbol)
            before, after = text[max(0, start - 12) : start], text[end : end + 24]
            if _NUMBER_BEFORE.search(before) and not before.endswith("-"):
                undecided.remove(item)  # 4.3 V, 100 W, 300 K: units
                continue
            chain = (before.endswith("-") and index - 1 in confident_at) or (after.startswith("-") and index + 1 in confident_at)
            doping = re.match(r"[ -]", after) is not None and _DOPING_WORDS.match(after[1:]) is not None
            listed = any(
                j in confident_at and _LIST_SEPARATOR.fullmatch(_between(tokens, text, min(index, j), max(index, j)))
                for j in (index - 2, index - 1, index + 1, index + 2)
            )
            if chain or doping or listed:
                mentions.append(symbol)
                confident_at.add(index)
                undecided.remove(item)
                changed = True
    for word in _WORD.findall(text):
        by_name = _name_symbol(word.lower())
        if by_name is not None:
            mentions.append(by_name)
    return tuple(mentions + in_materials), tuple(formulas), frozenset(mentions)


def _between(tokens: list[tuple[int, int, str]], text: str, i: int, j: int) -> str:
    if i < 0 or j >= len(tokens):
        return "x"
    return text[tokens[i][1] : tokens[j][0]]


def element_mentions(text: str) -> list[str]:
    """Each element mention in `text` as its symbol, in no particular order (repeats count)."""
    return list(_analyse(text)[0])


def elements_in(text: str) -> frozenset[str]:
    """The set of elements `text` names, under any alias."""
    return frozenset(_analyse(text)[0])


def named_elements(text: str) -> frozenset[str]:
    """Elements `text` names directly (symbol, ion, name, simple compound), not only inside a material's formula."""
    return _analyse(text)[2]


def formula_tokens(text: str) -> list[str]:
    """Lower-cased formulas of three or more characters, kept whole (nb2o5, lini0.8co0.15al0.05o2)."""
    return list(_analyse(text)[1])


def element_token(symbol: str) -> str:
    """The keyword token standing for an element (one vocabulary entry per element, any alias)."""
    return f"elem_{symbol.lower()}"
