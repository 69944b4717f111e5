"""The words of the constraint language: units, operators, parameter mentions, negations, removals.

Data for `assistant.constraint_language` (which reads messages with it), kept apart so the
vocabulary can grow without the reader passing the module size limit. Every pattern is matched
against lower-cased text.
"""

from __future__ import annotations

NUM_BODY = r"\d+(?:\.\d+)?|\.\d+"
UNIT_BODY = (r"mah\s*/\s*g|°\s*c|℃|degc|deg\s*c|deg\b|c\b|k\b|kelvin|도|wt\s*%|wt\.?\s*%|mol\s*%|at\s*%|ppm|%|percent|퍼센트|"
              r"hours?\b|hrs?\b|h\b|minutes?\b|mins?\b|min\b|시간|분")
NUM = rf"({NUM_BODY})"
UNIT = rf"({UNIT_BODY})"

# operators written before the value (longest first), and their meaning
# "must not", "don't", "never": a negated comparison ("don't go above 780 C") is a limit the other way round
MUST_NOT = (r"(?:can'?t|can’t|cannot|(?:must|should|may|can|will|do|does|shall)\s+(?:not|never)|mustn'?t|shouldn'?t|won'?t|"
            r"don'?t|don’t|doesn'?t|never)\s+(?:ever\s+)?(?:go\s+|be\s+|get\s+|run\s+|rise\s+|drop\s+|fall\s+)?")
MOVE = r"(?:raise|lower|move|change|set|increase|decrease|relax|loosen|ease|widen|extend|push|shift|adjust|tighten|put|bump)\s+(?:the\s+|that\s+|my\s+|this\s+)?"
PREFIX_OPS: list[tuple[str, str]] = [
    (MOVE + r"(?:\w+\s+)?(?:lower\s+(?:limit|bound)|floor|min(?:imum)?)\s+(?:to|at)", "ge"),
    (MOVE + r"(?:(?!lower\b|min)\w+\s+)?(?:upper\s+)?(?:limit|cap|max(?:imum)?|ceiling|bound)\s+(?:to|at)", "le"),
    (MUST_NOT + r"(?:above|over|beyond|past|higher\s+than|hotter\s+than|more\s+than|exceed)|capped\s+at|limited\s+to|최대|최고|(?:less|lower|smaller|cooler|shorter)\s+than\s+or\s+equal(?:\s+to)?|"
     r"(?:upper\s+)?limit(?:ed)?(?:\s+(?:of|at|to|is))?|ceiling(?:\s+(?:of|at|is))?|cap(?:ped)?(?:\s+(?:of|at|is))?|top(?:ping|s)?\s+out\s+at|nothing\s+(?:above|over|hotter\s+than|higher\s+than|more\s+than)|at\s+or\s+(?:below|under|less\s+than)|not\s+(?:to\s+)?(?:exceed|go\s+above|go\s+over|be\s+above|be\s+over)|not\s+exceeding|no\s+(?:more|higher|greater|hotter|warmer|longer|larger|bigger)\s+than|"
     r"not\s+(?:more|higher|greater|hotter|warmer|longer|larger|bigger)\s+than|not\s+above|not\s+over|at\s+most|up\s+to|max(?:imum)?(?:\s+of)?|<=|=<|≤", "le"),
    (MUST_NOT + r"(?:below|under|lower\s+than|cooler\s+than|less\s+than)|최소|최저|(?:more|higher|greater|hotter|longer)\s+than\s+or\s+equal(?:\s+to)?|"
     r"(?:lower\s+(?:limit|bound)|floor)(?:\s+(?:of|at|is))?|nothing\s+(?:below|under|cooler\s+than|lower\s+than|less\s+than)|at\s+or\s+(?:above|over|more\s+than)|no\s+(?:less|lower|fewer|cooler|colder|shorter|smaller)\s+than|not\s+(?:less|lower|fewer|cooler|colder|shorter|smaller)\s+than|not\s+below|not\s+under|at\s+least|"
     r"(?<!\d\s)(?<!\d)min(?:imum)?(?:\s+of)?|>=|=>|≥", "ge"),  # not "90 min coating 400 °C"
    (r"below|under|beneath|less\s+than|lower\s+than|smaller\s+than|cooler\s+than|fewer\s+than|shorter\s+than|<", "lt"),
    (r"above|over|more\s+than|greater\s+than|higher\s+than|hotter\s+than|warmer\s+than|longer\s+than|exceeding|>", "gt"),
]
POSTFIX_OPS: list[tuple[str, str]] = [
    (r"or\s+(?:less|lower|below|under|fewer|cooler)|and\s+(?:below|under)|max(?:imum)?\b|at\s+most|tops|(?:upper\s+)?limit\b|ceiling\b|cap\b|"
     r"이하|넘지\s*(?:않|말|마)|까지|(?:초과|상회)하지\s*(?:않|말|마)|(?:보다\s*)?(?:높|크|많)지\s*(?:않|말|마)|"
     r"(?:넘으면|넘어서면|넘어서는|넘기면|초과하면|높으면|올라가면)\s*안|(?:넘기|넘어가|올라가)지\s*(?:말|마|않)", "le"),
    (r"or\s+(?:more|higher|above|over|greater|hotter)|and\s+(?:above|over)|min(?:imum)?\b|at\s+least|floor\b|lower\s+limit\b|이상|"
     r"(?:미만|하회)(?:이|으로|이\s*되|으로\s*가)?지\s*(?:않|말|마)|(?:보다\s*)?(?:낮|작|적)지\s*(?:않|말|마)|"
     r"(?:낮으면|내려가면|미만이면|떨어지면)\s*안|(?:밑으로|아래로)\s*(?:내려가|가|떨어지)지\s*(?:말|마|않)", "ge"),
    (r"미만|보다\s*(?:낮|작|적)|아래|밑", "lt"),
    (r"초과|보다\s*(?:높|크|많)|넘게|위로", "gt"),
]

# a parameter named between an operator and its value ("max calcination temp 770 C", "capped at calcination 770 C")
PARAMETER_BETWEEN = (r"(?:(?:calcin\w*|sinter\w*|firing|coating|dwell|hold(?:ing)?|heat[- ]?treat\w*|소성|코팅)\s*)?"
                     r"(?:(?:temperature|temp|time|amount|ratio|온도|시간)\s*)?(?:of\s+|is\s+|=\s*|:\s*)?")

# parameter mentions: parameter -> alias pattern (lowercase text)
MENTIONS: dict[str, str] = {
    "coating_temp_c": r"coat\w*\s+(?:heat[- ]?treat\w*\s+)?(?:temperature|temp)\b|heat[- ]?treat\w*|코팅\s*(?:후\s*)?(?:열처리\s*)?온도|코팅\s*열처리",
    "calcination_temp_c": r"calcin\w*|sinter\w*|\bfir(?:e|ing)\b|anneal\w*|소성|하소|\btemperature\b|\btemp\b|온도",
    "coating_time_h": r"coat\w*\s+(?:time|duration|dwell)|코팅\s*시간",
    "calcination_time_h": r"calcin\w*\s+(?:time|duration)|\bdwell\b|\bhold(?:ing)?\s+time\b|sinter\w*\s+time|소성\s*시간|\btime\b|시간",
    "coating_amount": r"coat\w*\s+(?:amount|level|loading|content)|코팅\s*(?:량|양)",
    "li_ratio": r"li\s*/\s*(?:tm|me|m)\b|li\s*:\s*tm|li[_ ]ratio|lithium\s+ratio|li\s+excess|lithium\s+excess|리튬\s*비율",
    "ni": r"(?<![a-z])ni(?![a-z0-9])|nickel|니켈",
    "co": r"(?<![a-z])co(?![a-z0-9])|cobalt|코발트",
    "mn": r"(?<![a-z])mn(?![a-z0-9])|manganese|망간",
    "dopant_zr": r"zro2|(?<![a-z])zr(?![a-z0-9])|zirconi\w*|지르코늄",
    "dopant_al": r"al2o3|(?<![a-z])al(?![a-z0-9])|alumin\w*|알루미늄",
    "dopant_ti": r"tio2|(?<![a-z])ti(?![a-z0-9])|titan\w*|티타늄",
    "dopant_nb": r"nb2o5|(?<![a-z])nb(?![a-z0-9])|niobi\w*|니오븀",
    "dopant_mg": r"mgo|(?<![a-z])mg(?![a-z0-9])|magnesi\w*|마그네슘",
    "dopant_w": r"wo3|(?<![a-z])w(?![a-z0-9])|tungsten|텅스텐",
}
DOPANTS = ("dopant_zr", "dopant_al", "dopant_ti", "dopant_nb", "dopant_mg", "dopant_w")
# grams of dopant oxide per mole of dopant metal (mol% of dopant -> weight fraction)
OXIDE_PER_METAL = {"dopant_zr": 123.22, "dopant_al": 50.98, "dopant_ti": 79.87, "dopant_nb": 132.91, "dopant_mg": 40.30, "dopant_w": 231.84}
ATOMIC = {"li": 6.94, "ni": 58.693, "co": 58.933, "mn": 54.938, "o": 15.999}
COATING_ELEMENTS = {"B": r"(?<![a-z])b(?![a-z0-9])|boron|붕소", "W": r"(?<![a-z])w(?![a-z0-9])|tungsten|텅스텐",
                     "Co": r"(?<![a-z])co(?![a-z0-9])|cobalt|코발트", "Al": r"(?<![a-z])al(?![a-z0-9])|alumin\w*|알루미늄"}
NEGATION = (r"(?:(?:don'?t|don’t|do\s+not|never)(?:\s+use)?|r[au]n\s+out\s+of|out\s+of|(?:don'?t|do\s+not)\s+have(?:\s+any)?|no\s+more|not|no|avoid|avoiding|without|exclude|excluding|except|other\s+than|skip|rule\s+out|drop|"
            r"(?:stay|keep|steer)\s+(?:away\s+from|clear\s+of|off)|anything\s+(?:but|except)|everything\s+(?:but|except)|leave\s+out|omit|ban)")
KR_NEGATION = r"(?:말고|제외|빼고|빼\s*(?:줘|주세요|주고|자|라)|없이|금지|안\s*되|(?:쓰지|사용하지|넣지)\s*(?:말|않|마))"

# what a removal names -> parameters
REMOVAL_TARGETS: list[tuple[str, tuple[str, ...]]] = [
    (r"coat\w*\s+(?:temperature|temp)|코팅\s*온도", ("coating_temp_c",)),
    (r"coat\w*\s+time|코팅\s*시간", ("coating_time_h",)),
    (r"calcin\w*\s+time|dwell|소성\s*시간", ("calcination_time_h",)),
    (r"temperature|temp\b|calcin\w*|sinter\w*|온도|소성", ("calcination_temp_c", "coating_temp_c")),
    (r"\btime\b|시간", ("calcination_time_h", "coating_time_h")),
    (r"composition|조성", ("ni", "co", "mn")),
    (r"atmosphere|\bair\b|oxygen|\bo2\b|분위기", ("atmosphere",)),
    (r"li(?:thium)?\s*source|lioh|li2co3|리튬\s*(?:원료|소스)", ("li_source",)),
    (r"li\s*/\s*tm|li(?:thium)?\s+ratio|리튬\s*비율", ("li_ratio",)),
    (r"dopants?|doping|도펀트|도핑", DOPANTS),
    (r"coatings?|코팅", ("coating",)),
    (r"nickel|\bni\b|니켈", ("ni",)),
    (r"cobalt|\bco\b|코발트", ("co",)),
    (r"manganese|\bmn\b|망간", ("mn",)),
    (r"\bnb\w*|niobi\w*", ("dopant_nb",)), (r"\bzr\w*|zirconi\w*", ("dopant_zr",)), (r"\bti\w*|titan\w*", ("dopant_ti",)),
    (r"\bmg\w*|magnesi\w*", ("dopant_mg",)), (r"\bw\b|wo3|tungsten", ("dopant_w",)), (r"\bal\b|al2o3|alumin\w*", ("dopant_al",)),
]
REMOVAL_TARGET = "|".join(f"(?:{p})" for p, _ in REMOVAL_TARGETS)
"""Any removal target, as one alternation."""
REMOVE_VERB = r"(?:drop|remove|forget|lift|relax|ignore|clear|delete|cancel|release|undo|free|unfix|unlock|loosen|get\s+rid\s+of)"
LIMIT_WORD = r"(?:limits?|constraints?|restrictions?|caps?|bounds?|requirements?|conditions?|ranges?|windows?|rules?|settings?)"
CLEAR = (r"\bstart\s+(?:over|again|fresh|from\s+scratch)\b|\bfrom\s+scratch\b|\breset\b|"
          r"\b(?:clear|remove|drop|forget|lift)\s+(?:all|every|the|my)?\s*(?:of\s+the\s+)?(?:constraints|limits|restrictions|conditions)\b|"
          r"\bforget\s+(?:everything|all\s+that)\b|\bno\s+(?:more\s+)?(?:constraints|limits|restrictions)\b|처음부터|초기화|"
          r"(?:제한|조건)\w*\s*(?:모두|전부|다)\s*(?:없애|해제|지워|풀어)|다\s*지워")
LOCAL_SCAN = r"local\s+scan|fine\s+scan|fine[- ]grained|small\s+steps?|one[- ]step|step\s+scan|local\s+search|neighbou?rhood\s+scan|국소\s*탐색|미세\s*조정"

RANGE_PATTERNS = [
    rf"(?:between|within|in\s+the\s+range(?:\s+of)?)\s+{NUM}\s*{UNIT}?\s*(?:and|to|-|–)\s*{NUM}\s*{UNIT}?",
    rf"from\s+{NUM}\s*{UNIT}?\s*(?:to|-|until)\s*{NUM}\s*{UNIT}?",
    rf"{NUM}\s*{UNIT}?\s*(?:에서|부터)\s*{NUM}\s*{UNIT}?\s*(?:사이|까지)",
    rf"{NUM}\s*{UNIT}?\s*(?:~|–|-|to)\s*{NUM}\s*{UNIT}",
    rf"{NUM}\s*{UNIT}?\s*(?:~)\s*{NUM}",
    rf"(?<![\w.]){NUM}()\s*(?:–|—|-|to)\s*{NUM}()(?![\w.%°])(?!\s*(?:{UNIT_BODY}|(?:new\s+|more\s+)?(?:runs?|experiments?|conditions?|recipes?|samples?|candidates?|개)))",
]
PM_PATTERN = rf"{NUM}\s*{UNIT}?\s*(?:\+/-|\+-|±)\s*{NUM}\s*{UNIT}?"

EXCLUDED_AFTER = (r"\s+(?:stock\s+|supply\s+)?(?:is\s+|are\s+|has\s+|have\s+)?(?:not\s+allowed|excluded|forbidden|banned|ruled\s+out|off\s+the\s+table|"
                   r"gone|finished|used\s+up|run\s+out|unavailable|out\s+of\s+stock|sold\s+out)(?![a-z])")

CATEGORY_VALUES: dict[str, dict[str, str]] = {
    "atmosphere": {"air": r"air|공기", "O2": r"o2|oxygen|산소"},
    "li_source": {"LiOH": r"lioh|lithium\s+hydroxide", "Li2CO3": r"li2co3|lithium\s+carbonate"},
    "coating": {**COATING_ELEMENTS, "none": r"no\s+coating|uncoated|코팅\s*없"},
}

# A comparison word still next to a number after every reader has run: a limit the reader did not
# understand. The router asks about it rather than dropping it (a dropped limit costs a furnace run).
UNREAD_LIMIT = (r"(?<![a-z])(?:than|then|beyond|exceed\w*|most|least|max(?:imum)?|min(?:imum)?|limit(?:ed)?|caps?|capped|ceiling|floor|"
                r"below|under|beneath|above|over|past\s+the)\s+(?:of\s+|to\s+|at\s+)?(?:the\s+)?(?:\d+(?:\.\d+)?|\.\d+)|[<>≤≥]\s*(?:\d+(?:\.\d+)?|\.\d+)|"
                # "tighten that to 760 C": which end moves depends on the limit meant; ask
                r"(?<![a-z])(?:tighten|loosen|relax|raise|lower|bump|narrow|widen|move|change|push|drop|reduce|increase|decrease)\s+"
                r"(?:that|it|this|them)\s+(?:down\s+|up\s+)?to\s+(?:\d+(?:\.\d+)?|\.\d+)|"
                r"(?<![\d.])\d+(?:\.\d+)?\s*(?:도|℃|°\s*c|시간|%|wt\s*%)?\s*(?:를|을|로|으로|은|는|보다)?\s*(?:넘|아래|밑|이하|이상|미만|초과)")
