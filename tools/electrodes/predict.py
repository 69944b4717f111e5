"""Predicting candidates: parse them (errors naming the candidate and the field), predict, rank."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from tools.domain.errors import ElectrodeError
from tools.electrodes.constants import LICENCE_NOTE
from tools.electrodes.schemas import ElectrodeCandidate, ElectrodePredictionResult, RankKey

if TYPE_CHECKING:
    from tools.electrodes.model import ElectrodeModel
    from tools.electrodes.parsing import ParsedElectrode
    from tools.electrodes.schemas import ModelInfo

MAX_CANDIDATES = 10_000


def parse_candidates(candidates: Sequence[ElectrodeCandidate]) -> list[ParsedElectrode]:
    """Every candidate validated; ElectrodeError 'candidate 2, discharged_formula: ...' for the first bad one."""
    from tools.electrodes.parsing import parse_electrode

    if not candidates:
        raise ElectrodeError("no candidate electrode given")
    if len(candidates) > MAX_CANDIDATES:
        raise ElectrodeError(f"{len(candidates):,} candidates: at most {MAX_CANDIDATES:,} at once")
    parsed = []
    for i, c in enumerate(candidates):
        try:
            parsed.append(parse_electrode(c.charged_formula, c.discharged_formula, c.working_ion))
        except ElectrodeError as err:
            label = f"candidate {i + 1}" if len(candidates) > 1 else "candidate"
            names = f", {' and '.join(err.fields)}" if err.fields else ""
            raise ElectrodeError(f"{label}{names}: {err}", err.fields) from err
    return parsed


def predict_candidates(model: ElectrodeModel, info: ModelInfo, candidates: Sequence[ElectrodeCandidate],
                       rank_by: RankKey | None = None) -> ElectrodePredictionResult:
    """Predictions for the candidates (sorted by `rank_by`, highest first, when given)."""
    result = ElectrodePredictionResult(predictions=model.predict(parse_candidates(candidates), candidates), model=info, licence=LICENCE_NOTE)
    return ranked(result, rank_by)


def ranked(result: ElectrodePredictionResult, rank_by: RankKey | None) -> ElectrodePredictionResult:
    """The result sorted by `rank_by`, highest first (unchanged when None)."""
    if rank_by is None:
        return result
    order = sorted(result.predictions, key=lambda p: getattr(p, rank_by), reverse=True)
    return result.model_copy(update={"predictions": order, "ranked_by": rank_by})
