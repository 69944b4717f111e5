"""Predictions for conditions a scientist names: the rest of the recipe comes from a run of the record.

A question such as "what capacity at 94% Ni and 765 degC?" names a few parameters. The others
are taken from a base run: the one the user names, else the best measured run with the same
composition (else the best run of the record). When only `ni` changes, `mn` is rebalanced so
the composition still sums to one; conditionals (no coating -> amounts 0) are applied; the
completed row must pass the design space's checks before any model is asked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from tools.domain.errors import MatassistError

if TYPE_CHECKING:
    from tools.domain.record import ExperimentRecord
    from tools.modelling.capacity_model import CapacityModel

_COMPOSITION = ("ni", "co", "mn")


class CompletedConditions(BaseModel):
    """A full recipe built from the named conditions and a base run of the record."""

    model_config = ConfigDict(extra="forbid")

    params: dict[str, float | str] = Field(description="every design-space parameter -> value, design-space units")
    base_experiment_id: str = Field(description="experiment_id of the run the other parameters come from")
    base_measured: float | None = Field(description="the base run's measured target value (e.g. capacity, mAh/g)")
    changed: dict[str, float | str] = Field(description="parameters that differ from the base run")


class Prediction(BaseModel):
    """The model's answer for one completed recipe."""

    model_config = ConfigDict(extra="forbid")

    conditions: CompletedConditions
    predicted_mah_g: float = Field(description="ensemble mean prediction, in the target's unit (mAh/g)")
    uncertainty_mah_g: float = Field(description="ensemble spread (standard deviation), same unit")
    failure_probability: float = Field(description="predicted probability that the synthesis fails, 0 to 1")


def complete_conditions(record: ExperimentRecord, conditions: Mapping[str, Any], base_experiment_id: str | None = None) -> CompletedConditions:
    """Fill the parameters a user left out from a base run; MatassistError when the result is not a valid run."""
    space = record.space
    for name in conditions:
        space.parameter(name)  # unknown names -> DesignSpaceError with a suggestion
    ok = record.ok_runs
    if base_experiment_id is not None:
        base_rows = record.frame[record.frame["experiment_id"] == base_experiment_id]
        if base_rows.empty:
            raise MatassistError(f"no run with experiment_id '{base_experiment_id}' in the record")
        base = base_rows.iloc[0]
    else:
        candidates = ok
        for name in _COMPOSITION:
            if name in conditions and name in ok:
                candidates = candidates[(candidates[name] - float(conditions[name])).abs() < 1e-9]
        base = (candidates if not candidates.empty else ok).sort_values(record.target).iloc[-1]
    row: dict[str, Any] = {n: base[n] for n in space.names}
    row.update(conditions)
    if "ni" in conditions and "mn" in space.names and "co" in space.names and "mn" not in conditions:
        row["mn"] = round(1.0 - float(row["ni"]) - float(row["co"]), 6)
    row.update(space.conditional_values(row))
    problems = space.row_problems(row)
    if problems:
        raise MatassistError("these conditions are not valid: " + "; ".join(f"{c}: {m}" for c, m in problems))
    measured = base[record.target]
    return CompletedConditions(
        params={k: row[k] for k in space.names},
        base_experiment_id=str(base["experiment_id"]),
        base_measured=None if measured != measured else float(measured),  # NaN: a failed run with no capacity
        changed={k: row[k] for k in space.names if str(row[k]) != str(base[k])},
    )


def predict_conditions(model: CapacityModel, completed: CompletedConditions) -> Prediction:
    """The capacity model's mean, spread and failure probability for a completed recipe."""
    import pandas as pd

    frame = pd.DataFrame([completed.params])
    mean, std = model.predict(frame)
    return Prediction(
        conditions=completed,
        predicted_mah_g=float(mean[0]),
        uncertainty_mah_g=float(std[0]),
        failure_probability=float(model.failure_probability(frame)[0]),
    )
