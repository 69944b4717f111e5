"""`cif generate`: ask a language model for a CIF, validate it, re-prompt with the problems, repeat.

Each round sends the generation request (prompts/cif_generate.md); from the second round on it
also sends the model's previous answer and the validator's repair prompt (prompts/cif_repair.md)
with the CIF it refers to. The loop stops when a round's CIF is valid (no error checks) or after
`rounds` rounds. Every round's prompt, raw reply, extracted CIF and JSON report are written to the
output folder (atomically), so nothing the model produced is lost.

Without a language model, `prototype_cif` substitutes the formula's elements into a structure
family's published prototype (offline generation), which the caller validates the same way.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.cif_repair import repair_template
from prompts import load_prompt
from tools.domain.errors import MatassistError
from tools.domain.fileio import atomic_write_text
from tools.structures.models import (
    DEFAULT_RELAX_STEPS,
    CifValidationResult,
    ReferenceEntry,
    ValidateCifInput,
    ValidationLimits,
)
from tools.structures.validation import validate_cif

if TYPE_CHECKING:
    from tools.structures.rules import FamilyRules

GENERATE_VARIABLES = frozenset({"formula", "family", "facts"})
MAX_ROUNDS = 20

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\r?\n(.*?)```", re.DOTALL)


class GenerationError(MatassistError):
    """A CIF generation request cannot be carried out (bad formula, no fitting family, LLM failure)."""


@dataclass
class GenerationRound:
    """One generate (or repair) round: what was sent, what came back, what the validator found."""

    number: int
    prompt: str
    reply: str
    cif: str
    result: CifValidationResult
    composition_ok: bool = True
    files: dict[str, str] = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        """The CIF is valid (no error checks) and has the requested composition."""
        return self.result.valid and self.composition_ok

    def summary(self) -> dict[str, Any]:
        """Round number, validity, error/warning codes and file paths."""
        return {
            "round": self.number,
            "valid": self.accepted,
            "validator_valid": self.result.valid,
            "composition_ok": self.composition_ok,
            "formula": self.result.formula,
            "errors": sorted(self.result.codes("error")),
            "warnings": sorted(self.result.codes("warning")),
            "physical": self.result.physical.status,
            "files": self.files,
        }


@dataclass
class GenerationOutcome:
    """All rounds of one generation and where they were written."""

    formula: str
    method: str
    out_dir: Path
    rounds: list[GenerationRound]
    max_rounds: int

    @property
    def valid(self) -> bool:
        """Whether the last round's CIF is valid and has the requested composition."""
        return bool(self.rounds) and self.rounds[-1].accepted

    @property
    def final(self) -> GenerationRound | None:
        """The last round."""
        return self.rounds[-1] if self.rounds else None

    def summary(self) -> dict[str, Any]:
        """The JSON shape of `cif generate --json` (and of summary.json)."""
        final = self.final
        return {
            "formula": self.formula,
            "method": self.method,
            "valid": self.valid,
            "rounds_run": len(self.rounds),
            "max_rounds": self.max_rounds,
            "stopped": ("valid" if self.valid else "round limit") if self.rounds else "no rounds",
            "out_dir": str(self.out_dir),
            "final_cif": None if final is None else final.files.get("cif"),
            "rounds": [r.summary() for r in self.rounds],
        }


# ---------------------------------------------------------------------------- helpers


def parse_formula(formula: str) -> dict[str, float]:
    """Element amounts of a formula ('LiNi0.8Co0.1Mn0.1O2'); GenerationError when it is not one."""
    from pymatgen.core import Composition, Element

    text = formula.strip()
    if not text:
        raise GenerationError("give a chemical formula, e.g. LiCoO2")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            comp = Composition(text)
    except (ValueError, KeyError) as err:
        raise GenerationError(f"'{formula}' is not a chemical formula ({err})") from err
    unknown = [str(el) for el in comp.elements if not isinstance(el, Element)]
    if unknown:
        raise GenerationError(f"'{formula}' is not a chemical formula (unknown element {', '.join(unknown)})")
    if comp.num_atoms <= 0:
        raise GenerationError(f"'{formula}' has no atoms")
    return {str(el): float(amount) for el, amount in comp.get_el_amt_dict().items()}


def family_for(formula: str, rules: str = "auto") -> FamilyRules | None:
    """The structure family to use: the named one (CifError if unknown), else the built-in one the formula fits."""
    from tools.structures.rules import resolve_family, select_family

    explicit = resolve_family(rules)
    if explicit is not None or rules.strip().lower() == "none":
        return explicit
    picked = select_family(parse_formula(formula), None)
    return None if picked is None else picked[0]


def generation_prompt(formula: str, family: FamilyRules | None) -> str:
    """The first-round request (prompts/cif_generate.md)."""
    template = load_prompt("cif_generate.md", GENERATE_VARIABLES)
    if family is None:
        family_text = "not one of the built-in families; choose the structure known for this compound"
        facts = ""
    else:
        family_text = f"{family.title} ({family.formula}), space group {family.space_group_text()}"
        facts = "Rules of this family:\n" + "\n".join(f"- {fact}" for fact in family.facts)
    return template.render(formula=formula, family=family_text, facts=facts)


def extract_cif(reply: str) -> str:
    """The CIF in a model's reply: a fenced block holding data_, else the text from the first data_ line; '' if none."""
    blocks = [body for _lang, body in _FENCE.findall(reply)]
    for body in blocks:
        if re.search(r"(?im)^\s*data_", body):
            return body.strip() + "\n"
    match = re.search(r"(?im)^\s*data_\S*", reply)
    if match:
        tail = reply[match.start():]
        end = tail.find("```")
        return (tail if end < 0 else tail[:end]).strip() + "\n"
    return ""


def same_composition(formula: str, other: str | None) -> bool:
    """Whether two formulas have the same element fractions (within 0.005)."""
    from pymatgen.core import Composition

    if not other:
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            a = Composition(formula).fractional_composition
            b = Composition(other).fractional_composition
    except (ValueError, KeyError):
        return False
    return {str(e) for e in a.elements} == {str(e) for e in b.elements} and a.almost_equals(b, rtol=0, atol=0.005)


def repair_message(result: CifValidationResult, cif: str, requested: str | None = None) -> str:
    """The re-prompt: the validator's repair prompt (and a composition note) followed by the CIF it refers to."""
    prompt = result.repair_prompt or "Check the CIF below and answer with a corrected, complete CIF only."
    if requested is not None and result.formula and not same_composition(requested, result.formula):
        prompt = (f"{prompt.rstrip()}\n\nThe structure must have the composition {requested}; "
                  f"the atoms of this CIF give {result.formula}.")
    shown = cif.strip() or "(no CIF was found in the previous answer: it had no data_ block)"
    return f"{prompt.rstrip()}\n\nThe CIF:\n```cif\n{shown}\n```\n"


def _reply_text(message: Any) -> str:
    content = getattr(message, "content", message)
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in content)
    return str(content)


def default_out_dir(data_dir: Path, formula: str) -> Path:
    """<data dir>/cif_generate/<formula>-<UTC timestamp>."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", formula.strip())[:60] or "formula"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return data_dir / "cif_generate" / f"{safe}-{stamp}"


def _write_round(out_dir: Path, rnd: GenerationRound, extra: dict[str, Any]) -> None:
    stem = f"round-{rnd.number:02d}"
    files = {
        "prompt": out_dir / f"{stem}.prompt.md",
        "reply": out_dir / f"{stem}.reply.txt",
        "cif": out_dir / f"{stem}.cif",
        "report": out_dir / f"{stem}.json",
    }
    rnd.files = {k: str(v) for k, v in files.items()}
    atomic_write_text(files["prompt"], rnd.prompt)
    atomic_write_text(files["reply"], rnd.reply)
    atomic_write_text(files["cif"], rnd.cif)
    report = {"round": rnd.number, **extra, "files": rnd.files, "validation": rnd.result.summary()}
    atomic_write_text(files["report"], json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n")


def _validate(cif: str, source: str, rules: str, fast: bool, relax_steps: int,
              reference_entries: Sequence[ReferenceEntry], limits: ValidationLimits | None) -> CifValidationResult:
    return validate_cif(ValidateCifInput(cif_text=cif, file_name=source, rules=rules, physical=not fast),
                        relax_steps=relax_steps, reference_entries=reference_entries, repair_template=repair_template(),
                        limits=limits)


# ---------------------------------------------------------------------------- the loop


def generate_cif(
    chat_model: Any,
    formula: str,
    *,
    out_dir: Path,
    rounds: int = 3,
    rules: str = "auto",
    fast: bool = False,
    relax_steps: int = DEFAULT_RELAX_STEPS,
    reference_entries: Sequence[ReferenceEntry] = (),
    on_round: Callable[[GenerationRound], None] | None = None,
    limits: ValidationLimits | None = None,
) -> GenerationOutcome:
    """Generate -> validate -> re-prompt for at most `rounds` rounds, stopping at the first valid CIF.

    `chat_model` is any LangChain chat model (its `invoke(messages)` is called once per round).
    Every round is written to `out_dir` before the next starts; `on_round` is called after each;
    `limits` bound each validation (atoms after expansion, seconds). Raises GenerationError for a bad formula or round count and when the model call fails (the
    rounds done so far stay on disk), CifError for an unknown rule family.
    """
    from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

    if not 1 <= rounds <= MAX_ROUNDS:
        raise GenerationError(f"--rounds must be between 1 and {MAX_ROUNDS}, got {rounds}")
    parse_formula(formula)
    family = family_for(formula, rules)
    validation_rules = rules if rules.strip().lower() != "auto" or family is None else family.name
    request = generation_prompt(formula, family)
    out_dir.mkdir(parents=True, exist_ok=True)
    method = f"llm ({type(chat_model).__name__})"
    outcome = GenerationOutcome(formula=formula, method=method, out_dir=out_dir, rounds=[], max_rounds=rounds)
    messages: list[BaseMessage] = [HumanMessage(content=request)]
    for number in range(1, rounds + 1):
        prompt_text = messages[-1].content if isinstance(messages[-1].content, str) else str(messages[-1].content)
        try:
            reply_msg = chat_model.invoke(messages)
        except MatassistError:
            raise
        except Exception as err:  # client libraries raise their own error types; the user gets one plain line
            _write_summary(outcome)
            raise GenerationError(f"the language model failed in round {number}: {type(err).__name__}: {err} "
                                  f"(rounds so far are in {out_dir})") from err
        reply = _reply_text(reply_msg)
        cif = extract_cif(reply)
        result = _validate(cif, f"{formula} round {number}", validation_rules, fast, relax_steps, reference_entries,
                           limits)
        rnd = GenerationRound(number=number, prompt=prompt_text, reply=reply, cif=cif, result=result,
                              composition_ok=same_composition(formula, result.formula))
        _write_round(out_dir, rnd, {"formula": formula, "method": method, "rules": validation_rules})
        outcome.rounds.append(rnd)
        _write_summary(outcome)
        if on_round is not None:
            on_round(rnd)
        if rnd.accepted:
            break
        messages = [HumanMessage(content=request), AIMessage(content=reply),
                    HumanMessage(content=repair_message(result, cif, formula))]
    return outcome


def _write_summary(outcome: GenerationOutcome) -> None:
    atomic_write_text(outcome.out_dir / "summary.json", json.dumps(outcome.summary(), indent=2, ensure_ascii=False) + "\n")


# ---------------------------------------------------------------------------- offline prototype


def prototype_cif(formula: str, rules: str = "auto") -> tuple[str, FamilyRules, str]:
    """A CIF of the formula made by substituting its elements into a family's prototype, offline.

    Each prototype element is replaced by the formula's elements of the same role, in the
    formula's proportions (a mixed site when a role holds several elements, e.g. Ni/Co/Mn). The
    amounts per role are the prototype's; the note says when they differ from the formula's.
    Raises GenerationError when no family fits or the substitution is not possible.
    """
    from pymatgen.core import Composition
    from pymatgen.io.cif import CifWriter

    from tools.structures.chemistry import formula_per_unit as formula_text
    from tools.structures.prototype import prototype_structure

    amounts = parse_formula(formula)
    family = family_for(formula, rules)
    if family is None:
        raise GenerationError(f"{formula} fits none of the built-in structure families (see `matassist cif-rules`); "
                              "offline generation needs a family with a prototype (--rules NAME)")
    fits, why = family.composition_fit(amounts)
    if not fits:
        raise GenerationError(f"{formula} does not fit {family.title} ({family.name}): {why}")
    if family.prototype is None:
        raise GenerationError(f"{family.title} ({family.name}) has no prototype structure to substitute into")
    proto_roles: dict[str, set[str]] = {}
    for site in family.prototype.sites:
        proto_roles.setdefault(site.role, set()).add(site.element)
    by_role: dict[str, dict[str, float]] = {}
    for el, amt in amounts.items():
        role = family.role_of(el)
        if role is None:  # composition_fit already checked this
            raise GenerationError(f"{el} plays no role in {family.title}")
        by_role.setdefault(role, {})[el] = amt
    mapping: dict[str, dict[str, float]] = {}
    for role, wanted in by_role.items():
        present = proto_roles.get(role, set())
        if not present:
            raise GenerationError(f"the {family.title} prototype has no {role} site for {', '.join(sorted(wanted))}")
        if set(wanted) == present:
            continue
        if len(present) != 1:
            raise GenerationError(f"the {family.title} prototype holds {', '.join(sorted(present))} as {role}; "
                                  f"substituting {', '.join(sorted(wanted))} is ambiguous")
        total = sum(wanted.values())
        mapping[next(iter(present))] = {el: round(a / total, 6) for el, a in wanted.items()}
    for role, present in proto_roles.items():
        if role not in by_role:
            raise GenerationError(f"{formula} has no element for the {role} role of {family.title} "
                                  f"(prototype: {', '.join(sorted(present))})")
    structure = prototype_structure(family)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # CifWriter warns about repeated labels; harmless here
        if mapping:
            structure.replace_species(mapping)  # type: ignore[arg-type]
        cif = str(CifWriter(structure))
    made = structure.composition.fractional_composition
    asked = Composition(amounts).fractional_composition
    note = (f"{family.prototype.compound} prototype of {family.title} ({family.prototype.source}) with "
            + (", ".join(f"{old} -> {'/'.join(f'{e}{x:g}' if x != 1 else e for e, x in new.items())}"
                         for old, new in mapping.items()) or "no substitution"))
    if not same_composition(made.formula, asked.formula):
        note += (f"; its composition {formula_text(structure.composition)} keeps the prototype's amounts per role, "
                 f"not {formula}")
    return cif, family, note


def generate_prototype(
    formula: str,
    *,
    out_dir: Path,
    rules: str = "auto",
    fast: bool = False,
    relax_steps: int = DEFAULT_RELAX_STEPS,
    reference_entries: Sequence[ReferenceEntry] = (),
    limits: ValidationLimits | None = None,
) -> GenerationOutcome:
    """Offline generation: one round made by `prototype_cif`, validated and written like an LLM round."""
    cif, family, note = prototype_cif(formula, rules)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = _validate(cif, f"{formula} prototype", family.name, fast, relax_steps, reference_entries, limits)
    rnd = GenerationRound(number=1, prompt=f"offline prototype substitution for {formula}", reply=note, cif=cif, result=result,
                          composition_ok=same_composition(formula, result.formula))
    method = "offline prototype substitution"
    _write_round(out_dir, rnd, {"formula": formula, "method": method, "rules": family.name, "note": note})
    outcome = GenerationOutcome(formula=formula, method=method, out_dir=out_dir, rounds=[rnd], max_rounds=1)
    _write_summary(outcome)
    return outcome

