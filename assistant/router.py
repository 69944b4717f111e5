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

from assistant.electrode_questions import electrode_request, is_electrode_question
from assistant.extract import MORE_COUNT, Extraction, correct_typos, extract
from tools.domain.constraints import (
    ConstraintFields,
    ConstraintSet,
    ParameterConstraint,
    choice,
    fixed_value,
)
from tools.domain.design_space import DesignSpace
from tools.domain.errors import DesignSpaceError

# Intents in priority order: the first that matches wins (a plan request implies proposals).
INTENT_PATTERNS: list[tuple[str, str]] = [
    ("validate_cif", r"\bcif\b|crystal structure file|구조\s*파일"),
    ("query_materials_project", r"materials\s*project|\bmp\b|\bmp-\d+|band\s*gap|above\s*(?:the\s*)?hull|e_above_hull|formation energy|insertion electrodes?|average voltage|밴드\s*갭|형성\s*에너지|(?:에너지\s*)?(?:above\s*)?헐"),
    ("search_literature", r"literature|papers?\b|publications?|references?|citations?|\bcite\b|what do(?:es)? (?:the )?(?:studies|papers|literature|reports) say|published|논문|문헌"),
    ("augment_dataset", r"augment|synthetic (?:data|rows|records?|runs)|\bctgan\b|\btvae\b|gaussian copula|증강"),
    ("record_results", r"\brecord (?:the |these |my )?(?:new )?results|\b(?:add|log|enter|upload|append) (?:the |these |my |our )?(?:new )?(?:results|measurements)|results? (?:are )?(?:in|attached)|결과.*(?:기록|추가|입력)"),
    ("train_model", r"predicted\s+(?:vs\.?|versus|against|and)\s+measured|measured\s+(?:vs\.?|versus|against)\s+predicted|parity|"
                    r"how\s+(?:good|accurate|reliable|well|trustworthy)\s+(?:is|are)\s+(?:the|your|our|this)\s+(?:capacity\s+)?(?:model|predictions?)|"
                    r"(?:model|prediction)\s+(?:quality|accuracy|performance|error)|accuracy\s+of\s+(?:the\s+)?(?:model|predictions)|"
                    r"can\s+(?:i|we)\s+trust\s+(?:the|your|this|our)\s+(?:capacity\s+)?model|\bmodel\b.{0,30}\btrust|"
                    r"is\s+(?:the|your|this|our)\s+(?:capacity\s+)?model\s+(?:any\s+)?(?:good|reliable|accurate)|"
                    r"compar\w*\s+(?:the\s+|all\s+|different\s+)?(?:models|algorithms|regressors)|random\s+forest|\blightgbm\b|\bmlp\b|which\s+model|"
                    r"(?:error|errors|accuracy)\s+of\s+(?:the\s+|your\s+)?(?:capacity\s+)?model|held[- ]out|out[- ]of[- ]fold|how\s+far\s+off|typical\s+error|prediction\s+errors?|how\s+wrong|r²|unseen\s+runs|교차\s*검증|검증\s*결과|"
                    r"how\s+well\s+(?:does|do|can)\s+(?:the|your|this|our)\s+(?:capacity\s+)?model|(?:validat|evaluat|assess)\w*\s+(?:the\s+|your\s+|our\s+)?(?:capacity\s+)?model|"
                    r"모델\s*(?:정확도|성능|비교)|예측\s*정확도|예측\w*\s*(?:과|와|vs)\s*(?:측정|실측)|모델.{0,10}믿"),
    ("draft_experiment_plan", r"\bplan\b|\bplans\b|protocol for|계획|플랜"),
    ("propose_conditions", r"propos|suggest|\b(?:give|find|get|show)\s+(?:me\s+|us\s+)?(?:(?!how\b)\w+\s+){0,3}(?:conditions|recipes|experiments|runs|candidates)\b|recommend|\bnext\s+(?:[\w%.]+\s+){0,3}(?:conditions?|experiments?|runs?|batch|recipes?|shot|round)\b|what (?:should|would|could) (?:i|we|you) (?:try|run|make|synthesi[sz]e|do)|optimi[sz]e|best conditions|\bpso\b|particle swarm|"
                           r"(?:most|highest|max(?:imum)?|best|higher|more|top)\s+capacity|maximi[sz]e|\b(?:which|what)\s+(?:conditions|recipes?)\b|"
                           r"\bcandidates?\b|worth\s+trying|promising|\bideas?\s+for\b|any\s+ideas|\bdesign\s+(?:\d+\s+|some\s+|a\s+few\s+|the\s+next\s+)?(?:new\s+)?(?:experiments|runs|recipes|conditions)\b|\btry(?:ing)?\s+next|where\s+should\s+(?:i|we)\s+go|beat\s+(?:our|the|my)\s+best|"
                           r"\bneed\s+(?:\d+\s+|some\s+|a\s+few\s+|more\s+)?(?:new\s+)?(?:conditions|recipes|experiments|runs)\b|"
                           r"제안|추천|최적|골라|뽑아|가장\s*(?:높은|좋은)|최고|최선|최대|찾아|다음\s*(?:실험|배치|조건|샷)|뭘\s*해|무엇을\s*해"),
    ("predict_capacity", r"predict|what (?:capacity|would)|expected capacity|estimate (?:the )?capacity|how much capacity|capacity (?:of|for|at)|예측|용량은|용량\s*(?:이|은)?\s*(?:얼마|몇)"),
    ("train_model", r"\btrain|retrain|re-train|fit (?:the |a )?model|model (?:quality|accuracy|performance|error)|how (?:good|accurate|reliable) is (?:the|your) model|\brmse\b|\br2\b|cross[- ]valid|학습|훈련"),
    ("profile_dataset", r"profile|bias|biased|distribution|describe (?:the|my|our) (?:data|record|dataset)|summar|overview|how many (?:runs|experiments)|one[- ]valued|clustered|skew|never\s+(?:vary|varied|changed|tried)|not\s+varied|coverage|"
                        r"gaps?\s+in\s+(?:the|our|my)\s+(?:data|record)|(?:under|over)[- ]?represented|how\s+many\s+(?:\w+\s+)?(?:runs|experiments|samples|failures)|enough\s+(?:runs|data|experiments|samples)|how\s+much\s+data|실패한?\s*실험|몇\s*개야|imbalanc|spread\s+(?:across|over)|distributed|분포|편향|요약"),
    ("propose_conditions", r"\b\d{1,3}\s+(?:new\s+|more\s+)?(?:recipes|experiments|runs|conditions|candidates)\b|\bgive\s+me\s+\d{1,3}\b|"
                           r"(?:조건|실험|레시피|후보)\s*\d{1,3}\s*개|\d{1,3}\s*개\s*(?:의\s*)?(?:조건|실험|레시피|후보)"),
    # last: a request about an attached record ("use this as my record", "check this file")
    ("use_record", r"\b(?:use|take|load)\s+(?:this|that|it|the\s+attached(?:\s+file)?)\b|\bas\s+(?:my|our|the)\s+(?:record|data(?:set)?)\b|"
                   r"\bcheck\s+(?:this|my|the\s+attached|the)\s+(?:record|file|csv|data)|(?:이|그)\s*(?:파일|기록|데이터)"),
]
# Saying a value applies from now on makes it a constraint of the conversation, not a one-off request
STANDING = r"\bfrom\s+now\s+on\b|\bgoing\s+forward\b|\bfor\s+all\s+(?:future|later|the\s+next)\b|\balways\b|\bkeep\b|\bhold\b|앞으로|계속|유지"
FOLLOW_UP = (r"^(?:now|also|and|then|instead|but|ok(?:ay)?|same|again|this time|그럼|이번엔|대신)\b|\b(?:keep|hold|fix|make it|change it|switch to|with the same)\b|"
             + MORE_COUNT)
GREETING = r"^\s*(?:hi|hello|hey|thanks|thank you|안녕|고마워)\b"

CAPABILITIES = (
    "propose next conditions (e.g. \"propose 10 runs at 94% Ni in air\"), draft an experiment plan, "
    "predict capacity for given conditions, train and assess the capacity model, profile the biases of "
    "the experiment record, record new results, and predict an insertion electrode's voltage and capacity from its "
    "composition (e.g. \"what average voltage would LiNi0.5Mn1.5O4 give vs Li?\")"
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


def detect_intent(message: str, attachments: list[Path], extraction: Extraction) -> str | None:
    """The tool the message is about, or None."""
    low = correct_typos(message).lower()
    if extraction.cif_text or any(p.suffix.lower() == ".cif" for p in attachments):
        return "validate_cif"
    if extraction.material_ids:
        return "query_materials_project"
    if is_electrode_question(message):
        return "predict_electrode"
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


def _scaled_count(message: str, memory: RouterMemory, ex: Extraction) -> bool:
    """"double it", "half as many": the count of the last proposals, scaled (sets `ex.count`)."""
    if ex.count is not None or memory.last_intent not in {"propose_conditions", "draft_experiment_plan"}:
        return False
    m = re.search(r"\b(?:double|twice\s+as\s+many)\b|\b(?:halve|half\s+as\s+many)\b|두\s*배|절반", message.lower())
    if m is None:
        return False
    last = int(memory.last_args.get("n", 10))
    ex.count = min(200, 2 * last) if re.search(r"double|twice|두", m.group(0)) else max(1, last // 2)
    return True


def _states_constraints(ex: Extraction) -> bool:
    """True when the message says something about the constraints (a limit, a restriction, a removal)."""
    return bool(ex.constraints or ex.removals or ex.clear or ex.limit_problems or ex.vague_removal or ex.restricted
                or ex.also_allowed)


def route(message: str, space: DesignSpace, memory: RouterMemory, attachments: list[Path] | None = None,
          available: set[str] | None = None) -> Route:
    """Decide which tools to call with which arguments."""
    files = list(attachments or [])
    ex = extract(message, space)
    intent = detect_intent(message, files, ex)
    scaled = _scaled_count(message, memory, ex)
    follow_up = intent is None and memory.last_intent is not None and bool(
        (re.search(FOLLOW_UP, message.strip().lower()) is not None and (ex.fixed or ex.count is not None or ex.problems))
        or (_states_constraints(ex) and not ex.clear) or scaled
    )
    if follow_up:
        intent = memory.last_intent
    if intent is None and (_states_constraints(ex) or (ex.fixed and re.search(STANDING, message.lower()))):
        intent = "update_constraints"  # "keep calcination below 760 °C" before any request: remember it
    # an attached CSV that is not a results file is the record to use ("use this", "my record", "check this")
    csvs = [p for p in files if p.suffix.lower() == ".csv"]
    record_csv = csvs[0] if csvs and intent not in {"record_results", "validate_cif"} else None
    if record_csv is not None and intent is None:
        intent = "use_record"
    result = Route(intent=intent, extraction=ex, notes=list(ex.notes))
    if intent is None and ex.problems:  # "760 or 780 °C, which is better?": conditions we cannot use are a question
        result.intent = "clarify"
        result.questions += [f"I could not use {p}" for p in ex.problems]
        return result
    if intent is None:
        return result
    if intent == "use_record" and record_csv is None:
        result.questions.append("attach the file: a record CSV (experiment_id, the design-space columns, capacity_mah_g, status) or a .cif")
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
        _route_conditions(result, intent, message, ex, memory, follow_up, space)
    elif intent == "predict_capacity":
        if not ex.fixed:
            result.questions.append(
                "which conditions? e.g. \"predict capacity at 94% Ni, 760 °C, Nb2O5 at 0.002\" (parameters you leave out are taken from the best matching run)"
            )
            return result
        result.calls.append(ToolCall("predict_capacity", {"conditions": dict(ex.fixed)}))
        memory.last_intent, memory.last_args = intent, {"conditions": dict(ex.fixed)}
    elif intent == "train_model":
        # the assessment always reports RMSE, MAE and R2; comparing model families is the slow extra
        compare = re.search(r"compar\w*\s+(?:the\s+|all\s+|different\s+)?(?:models|algorithms|regressors)|which model|all models|\btable\b|"
                            r"\bdt\b|random forest|\bmlp\b|neural|\blightgbm\b|\bgbm\b|모델\s*비교", message.lower()) is not None
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
    elif intent == "predict_electrode":
        request = electrode_request(message)
        result.notes += request.notes
        if request.questions:
            result.questions += request.questions
            return result
        result.calls.append(ToolCall("predict_electrode", request.arguments()))
    elif intent == "query_materials_project":
        result.calls.append(ToolCall("query_materials_project", {"question": message}))
    elif intent == "search_literature":
        result.calls.append(ToolCall("search_literature", {"query": message, "k": ex.count or 5}))
    elif intent == "augment_dataset":
        method = "ctgan" if "ctgan" in message.lower() else "tvae" if "tvae" in message.lower() else "gaussian_copula"
        result.calls.append(ToolCall("augment_dataset", {"method": method, "rows": ex.count or 200}))
    return result


def _route_conditions(result: Route, intent: str, message: str, ex: Extraction, memory: RouterMemory, follow_up: bool,
                      space: DesignSpace) -> None:
    """Proposals, plans and constraint updates: the conversation's constraints plus what this message states.

    What one message states must hold together ("at 94% Ni ... Ni below 0.5" is a question, not a
    replacement); against the earlier turns a new value replaces the old one and a new limit narrows
    it. A set that contradicts itself or the design space is a question before any tool runs.
    """
    before = memory.constraints
    removals = list(ex.removals)
    if ex.vague_removal and not ex.clear:
        candidates = [c for c in before.items if c.kind != "fixed"] if ex.vague_removal == "limit" else []
        candidates = candidates or list(before.items)
        if len(candidates) > 1:
            listing = "; ".join(c.describe() for c in candidates)
            result.questions.append(f"which constraint should I drop? In force: {listing}")
            return
        removals += [c.parameter for c in candidates if c.parameter not in removals]
        if not candidates:
            result.notes.append("no constraint is in force")
    widened = _widen(before, ex.also_allowed, space, removals, result.notes)
    try:
        stated = ConstraintSet()
        for c in [*(fixed_value(k, v) for k, v in ex.fixed.items()), *ex.constraints]:
            stated = stated.intersect(c)
        after = (ConstraintSet() if ex.clear else before).without(*removals).extend(widened).extend(stated.items)
        after.validated(space)
    except DesignSpaceError as err:
        result.questions.append(f"I could not use that: {err}")
        return
    dropped = [p for p in removals if before.get(p) is not None and not ex.clear]
    if ex.clear or dropped:
        result.calls.append(ToolCall("update_constraints", {"clear": True} if ex.clear else {"remove": dropped}))
    if removals and not dropped and not ex.clear:
        missing = [p for p in removals if before.get(p) is None]
        if missing:
            result.notes.append("no constraint was in force on " + ", ".join(missing))
    memory.constraints = after
    proposing = intent != "update_constraints" and not (ex.clear and not _asks_for_runs(message, ex))
    if not proposing:
        if not (ex.clear or dropped) or stated or widened:
            fields = ConstraintFields.from_set(ConstraintSet().extend(widened).extend(stated.items))
            if fields:
                result.calls.append(ToolCall("update_constraints", fields))
        return
    n = ex.count if ex.count is not None else (memory.last_args.get("n", 10) if follow_up else 10)
    args: dict[str, Any] = {"fixed": {}, **ConstraintFields.from_set(after), "n": n}
    if ex.seed is not None:
        args["seed"] = ex.seed
    if ex.local_scan:
        args["local_scan"] = True
    plan_only = intent == "draft_experiment_plan" and re.search(
        r"\b(?:these|those|them|the proposals|above|last)\b|이\s*(?:조건|제안|것)|위(?:의)?\s*(?:조건|제안)|이걸로|방금", message.lower())
    if not plan_only:
        result.calls.append(ToolCall("propose_conditions", args))
    if intent == "draft_experiment_plan":
        result.calls.append(ToolCall("draft_experiment_plan", {}))
    memory.last_intent, memory.last_args = ("draft_experiment_plan" if intent == "draft_experiment_plan" else "propose_conditions"), args


def _widen(before: ConstraintSet, also: list[tuple[str, str]], space: DesignSpace, removals: list[str],
           notes: list[str]) -> list[ParameterConstraint]:
    """Let values back in ("oxygen is fine too"): a wider choice, or a removal (added to `removals`) when all are allowed."""
    from tools.domain.design_space import CategoryParameter

    widened: list[ParameterConstraint] = []
    for name, value in also:
        param = space.parameter(name)
        old = before.get(name)
        if old is None or not isinstance(param, CategoryParameter):
            notes.append(f"{name} was not restricted: {value} was already allowed")
            continue
        if old.kind == "fixed":
            allowed = {str(old.equals), value}
        else:
            allowed = (set(old.allowed) if old.allowed is not None else set(param.values)) - set(old.excluded) | {value}
        if allowed >= set(param.values):
            if name not in removals:
                removals.append(name)
        else:
            widened.append(choice(name, allowed=[v for v in param.values if v in allowed]))
    return widened


def _asks_for_runs(message: str, ex: Extraction) -> bool:
    return ex.count is not None or re.search(r"propos|suggest|recommend|next|제안|추천", message.lower()) is not None


def is_greeting(message: str) -> bool:
    """True for a bare greeting or thanks."""
    return re.search(GREETING, message.lower()) is not None and len(message.split()) <= 4


