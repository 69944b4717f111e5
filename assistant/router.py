"""The offline backend: a deterministic router from a chat message to tool calls, no LLM.

It recognises the intent of a message, fills the tool's arguments with `assistant.extract`,
calls the tools through the registry (the same tools the LLM agent uses) and writes the
answer from templates in `prompts/`. It says what it did not understand and asks rather
than guessing; anything outside its tools gets a short, honest "I can't do that offline".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.extract import Extraction, extract
from tools.domain.constraints import ConstraintFields, ConstraintSet, fixed_value
from tools.domain.design_space import DesignSpace

# Intents in priority order: the first that matches wins (a plan request implies proposals).
INTENT_PATTERNS: list[tuple[str, str]] = [
    ("validate_cif", r"\bcif\b|crystal structure file|구조\s*파일"),
    ("query_materials_project", r"materials\s*project|\bmp\b|\bmp-\d+|band\s*gap|above\s*(?:the\s*)?hull|e_above_hull|formation energy|insertion electrodes?|average voltage|밴드\s*갭"),
    ("search_literature", r"literature|papers?\b|publications?|references?|citations?|\bcite\b|what do(?:es)? (?:the )?(?:studies|papers|literature|reports) say|published|논문|문헌"),
    ("augment_dataset", r"augment|synthetic (?:data|rows|records?|runs)|\bctgan\b|\btvae\b|gaussian copula|증강"),
    ("record_results", r"\brecord (?:the |these |my )?(?:new )?results|\b(?:add|log|enter|upload|append) (?:the |these |my |our )?(?:new )?(?:results|measurements)|results? (?:are )?(?:in|attached)|결과.*(?:기록|추가|입력)"),
    ("train_model", r"predicted\s+(?:vs\.?|versus|against|and)\s+measured|measured\s+(?:vs\.?|versus|against)\s+predicted|parity|"
                    r"how\s+(?:good|accurate|reliable|well|trustworthy)\s+(?:is|are)\s+(?:the|your|our|this)\s+(?:capacity\s+)?(?:model|predictions?)|"
                    r"(?:model|prediction)\s+(?:quality|accuracy|performance|error)|accuracy\s+of\s+(?:the\s+)?(?:model|predictions)|"
                    r"모델\s*(?:정확도|성능)|예측\s*정확도"),
    ("draft_experiment_plan", r"\bplan\b|\bplans\b|protocol for|계획|플랜"),
    ("propose_conditions", r"propos|suggest|\b(?:give|find|get|show)\s+(?:me\s+|us\s+)?(?:\w+\s+){0,3}(?:conditions|recipes|experiments|runs|candidates)\b|recommend|\bnext\s+(?:\d+\s+)?(?:\w+\s+)?(?:conditions?|experiments?|runs?|batch|recipes?|shot)|what should (?:i|we) (?:try|run|make|synthesi[sz]e)|optimi[sz]e|best conditions|\bpso\b|particle swarm|제안|추천|최적"),
    ("predict_capacity", r"predict|what (?:capacity|would)|expected capacity|estimate (?:the )?capacity|how much capacity|capacity (?:of|for|at)|예측|용량은"),
    ("train_model", r"\btrain|retrain|re-train|fit (?:the |a )?model|model (?:quality|accuracy|performance|error)|how (?:good|accurate|reliable) is (?:the|your) model|\brmse\b|\br2\b|cross[- ]valid|학습|훈련"),
    ("profile_dataset", r"profile|bias|biased|distribution|describe (?:the|my|our) (?:data|record|dataset)|summar|overview|how many (?:runs|experiments)|one[- ]valued|clustered|분포|편향|요약"),
]
FOLLOW_UP = r"^(?:now|also|and|then|instead|but|ok(?:ay)?|same|again|this time|그럼|이번엔|대신)\b|\b(?:keep|hold|fix|make it|change it|switch to|with the same)\b"
GREETING = r"^\s*(?:hi|hello|hey|thanks|thank you|안녕|고마워)\b"

CAPABILITIES = (
    "propose next conditions (e.g. \"propose 10 runs at 94% Ni in air\"), draft an experiment plan, "
    "predict capacity for given conditions, train and assess the capacity model, profile the biases of "
    "the experiment record, and record new results"
)


@dataclass
class ToolCall:
    """One planned tool call."""

    name: str
    args: dict[str, Any]


@dataclass
class Route:
    """What the router decided for a message."""

    intent: str | None
    calls: list[ToolCall] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)
    """What the router needs the user to clarify; when non-empty no tool is called."""
    notes: list[str] = field(default_factory=list)
    extraction: Extraction | None = None


@dataclass
class RouterMemory:
    """What a follow-up message can refer to: the last request, and the constraints in force.

    `constraints` mirrors the conversation's set (the service copies it from the tools' context
    before and after every turn); the router updates it with what its calls will do, so a
    router used on its own (tests) follows a conversation too.
    """

    last_intent: str | None = None
    last_args: dict[str, Any] = field(default_factory=dict)
    constraints: ConstraintSet = field(default_factory=ConstraintSet)


# Words the intent patterns key on; a close misspelling ("propse", "conditons") is read as the word.
VOCABULARY = (
    "propose", "suggest", "recommend", "next", "conditions", "experiments", "experiment", "runs", "recipes",
    "plan", "predict", "capacity", "train", "retrain", "model", "profile", "distribution", "biased", "record",
    "results", "literature", "papers", "augment", "optimize", "candidates", "accurate",
)


def correct_typos(text: str) -> str:
    """Replace near-misses of the intent vocabulary with the word itself."""
    import difflib

    def fix(match: re.Match[str]) -> str:
        word = match.group(0)
        low = word.lower()
        if low in VOCABULARY or len(low) < 3:
            return word
        close = difflib.get_close_matches(low, VOCABULARY, n=1, cutoff=0.8)
        return close[0] if close else word

    return re.sub(r"[A-Za-z]+", fix, text)


def detect_intent(message: str, attachments: list[Path], extraction: Extraction) -> str | None:
    """The tool the message is about, or None."""
    low = correct_typos(message).lower()
    if extraction.cif_text or any(p.suffix.lower() == ".cif" for p in attachments):
        return "validate_cif"
    if extraction.material_ids:
        return "query_materials_project"
    for intent, pattern in INTENT_PATTERNS:
        if re.search(pattern, low):
            return intent
    if any(p.suffix.lower() == ".csv" for p in attachments) and re.search(r"result|measured|결과", low):
        return "record_results"
    return None


def asks_to_record(message: str, attachments: list[Path], extraction: Extraction) -> bool:
    """True when the message asks to append results to the record: the only turns in which a tool may write to it."""
    return detect_intent(message, attachments, extraction) == "record_results"


CONDITION_INTENTS = {"propose_conditions", "draft_experiment_plan", "predict_capacity", "update_constraints"}


def _states_constraints(ex: Extraction) -> bool:
    return bool(ex.fixed or ex.constraints or ex.removals or ex.clear)


def route(message: str, space: DesignSpace, memory: RouterMemory, attachments: list[Path] | None = None,
          available: set[str] | None = None) -> Route:
    """Decide which tools to call with which arguments."""
    files = list(attachments or [])
    ex = extract(message, space)
    intent = detect_intent(message, files, ex)
    follow_up = intent is None and memory.last_intent is not None and bool(
        (re.search(FOLLOW_UP, message.strip().lower()) is not None and (ex.fixed or ex.count is not None or ex.problems))
        or bool(ex.constraints or ex.removals or ex.limit_problems)
    )
    if follow_up:
        intent = memory.last_intent
    if intent is None and (ex.constraints or ex.removals or ex.clear):
        intent = "update_constraints"  # "keep calcination below 760 °C" before any request: remember it
    # an attached CSV that is not a results file is the record to use ("use this", "my record", "check this")
    csvs = [p for p in files if p.suffix.lower() == ".csv"]
    record_csv = csvs[0] if csvs and intent not in {"record_results", "validate_cif"} else None
    if record_csv is not None and intent is None:
        intent = "use_record"
    result = Route(intent=intent, extraction=ex, notes=list(ex.notes))
    if intent is None:
        return result
    if record_csv is not None:
        result.calls.append(ToolCall("use_record", {"file_name": record_csv.name}))
        if intent == "use_record":
            return result
    if available is not None and intent not in available and intent not in {"update_constraints", "use_record"}:
        result.questions.append(f"the {intent.replace('_', ' ')} tool is not part of this build yet")
        return result
    problems = ex.problems + (ex.limit_problems if intent in CONDITION_INTENTS else [])
    if problems:
        result.questions += [f"I could not use {p}" for p in problems]
        return result

    if intent in {"propose_conditions", "draft_experiment_plan", "update_constraints"}:
        _route_conditions(result, intent, message, ex, memory, follow_up)
    elif intent == "predict_capacity":
        if not ex.fixed:
            result.questions.append(
                "which conditions? e.g. \"predict capacity at 94% Ni, 760 °C, Nb2O5 at 0.002\" (parameters you leave out are taken from the best matching run)"
            )
            return result
        result.calls.append(ToolCall("predict_capacity", {"conditions": dict(ex.fixed)}))
        memory.last_intent, memory.last_args = intent, {"conditions": dict(ex.fixed)}
    elif intent == "train_model":
        compare = re.search(r"compar|which model|all models|table|rmse|r2|dt|random forest|mlp|neural", message.lower()) is not None
        result.calls.append(ToolCall("train_model", {"compare_models": compare}))
        memory.last_intent, memory.last_args = intent, {}
    elif intent == "profile_dataset":
        result.calls.append(ToolCall("profile_dataset", {}))
        memory.last_intent, memory.last_args = intent, {}
    elif intent == "record_results":
        csvs = [p for p in files if p.suffix.lower() == ".csv"]
        if not csvs:
            result.questions.append("attach the results CSV (the plan's results template with capacity_mah_g and status filled in)")
            return result
        result.calls.append(ToolCall("record_results", {"results_file": str(csvs[0])}))
    elif intent == "validate_cif":
        cifs = [p for p in files if p.suffix.lower() == ".cif"]
        if ex.cif_text:
            result.calls.append(ToolCall("validate_cif", {"cif_text": ex.cif_text}))
        elif cifs:
            result.calls.append(ToolCall("validate_cif", {"file_name": cifs[0].name}))  # the tool reads the attachment
        else:
            result.questions.append("paste the CIF text into the message or attach the .cif file")
    elif intent == "query_materials_project":
        result.calls.append(ToolCall("query_materials_project", {"question": message}))
    elif intent == "search_literature":
        result.calls.append(ToolCall("search_literature", {"query": message, "k": ex.count or 5}))
    elif intent == "augment_dataset":
        method = "ctgan" if "ctgan" in message.lower() else "tvae" if "tvae" in message.lower() else "gaussian_copula"
        result.calls.append(ToolCall("augment_dataset", {"method": method, "rows": ex.count or 200}))
    return result


def _route_conditions(result: Route, intent: str, message: str, ex: Extraction, memory: RouterMemory, follow_up: bool) -> None:
    """Proposals, plans and constraint updates: the conversation's constraints plus what this message states."""
    before = memory.constraints
    after = ConstraintSet() if ex.clear else before
    dropped = [p for p in ex.removals if after.get(p) is not None]
    after = after.without(*ex.removals)
    after = after.extend([fixed_value(k, v) for k, v in ex.fixed.items()]).extend(ex.constraints)
    if ex.clear or dropped:
        result.calls.append(ToolCall("update_constraints", {"clear": True} if ex.clear else {"remove": dropped}))
    if ex.removals and not dropped and not ex.clear:
        result.notes.append("no constraint was in force on " + ", ".join(ex.removals))
    memory.constraints = after
    proposing = intent != "update_constraints" and not (ex.clear and not _asks_for_runs(message, ex))
    if not proposing:
        if not (ex.clear or dropped) or ex.fixed or ex.constraints:
            stated = ConstraintFields.from_set(ConstraintSet().extend([fixed_value(k, v) for k, v in ex.fixed.items()]).extend(ex.constraints))
            if stated:
                result.calls.append(ToolCall("update_constraints", stated))
        return
    n = ex.count if ex.count is not None else (memory.last_args.get("n", 10) if follow_up else 10)
    args: dict[str, Any] = {"fixed": {}, **ConstraintFields.from_set(after), "n": n}
    if ex.seed is not None:
        args["seed"] = ex.seed
    if ex.local_scan:
        args["local_scan"] = True
    plan_only = intent == "draft_experiment_plan" and re.search(r"\b(?:these|those|them|the proposals|above|last)\b", message.lower())
    if not plan_only:
        result.calls.append(ToolCall("propose_conditions", args))
    if intent == "draft_experiment_plan":
        result.calls.append(ToolCall("draft_experiment_plan", {}))
    memory.last_intent, memory.last_args = ("draft_experiment_plan" if intent == "draft_experiment_plan" else "propose_conditions"), args


def _asks_for_runs(message: str, ex: Extraction) -> bool:
    return ex.count is not None or re.search(r"propos|suggest|recommend|next|제안|추천", message.lower()) is not None


def is_greeting(message: str) -> bool:
    """True for a bare greeting or thanks."""
    return re.search(GREETING, message.lower()) is not None and len(message.split()) <= 4


