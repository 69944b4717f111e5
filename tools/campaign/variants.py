"""How the model-based loop learns and proposes: named variants, and the model a shot proposes from.

- ``ours`` (OURS_DEFAULT, also what `matassist propose` and the chat's propose_conditions use):
  the tree ensemble plus the local GP correction on the runs that satisfy the constraints
  (tools.modelling.local_model), its mean only (``sigma_weight = 0``), used for the exploit picks
  and the reported prediction while the explore picks follow the trees
  (``ProposerSettings.correction_scope = "exploit"``);
- ``ours-v1`` (OURS_V1): the loop before the correction (the trees alone), kept for side-by-side runs.

docs/proposer.md has what each variant closed on two simulated labs, and the variants measured
and not adopted.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tools.domain.constraints import ConstraintSet
from tools.domain.record import ExperimentRecord
from tools.modelling.local_model import LocalCorrection, LocallyCorrectedModel
from tools.proposer.models import ProposerSettings


class OursVariant(BaseModel):
    """A model-based strategy: the local correction's knobs and the proposer's settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    correction: LocalCorrection = Field(default_factory=LocalCorrection, description="the local GP correction (enabled=False: trees alone)")
    proposer: ProposerSettings = Field(default_factory=ProposerSettings, description="the swarm and acquisition settings")


OURS_DEFAULT = OursVariant(correction=LocalCorrection(sigma_weight=0.0), proposer=ProposerSettings(correction_scope="exploit"))
OURS_V1 = OursVariant(correction=LocalCorrection(enabled=False), proposer=ProposerSettings())
VARIANTS: dict[str, OursVariant] = {"ours": OURS_DEFAULT, "ours-v1": OURS_V1}


def corrected(model: Any, record: ExperimentRecord, constraints: ConstraintSet, variant: OursVariant = OURS_DEFAULT, seed: int = 0) -> Any:
    """`model` with the variant's local correction fitted on the runs that satisfy `constraints` (the model itself when it is off)."""
    if not variant.correction.enabled:
        return model
    return LocallyCorrectedModel(model, record, constraints, variant.correction, seed=seed)


def fit_loop_model(record: ExperimentRecord, constraints: ConstraintSet, seed: int, variant: OursVariant, n_members: int | None = None) -> Any:
    """The model a model-based strategy proposes from: a fresh tree ensemble plus the variant's local correction."""
    from tools.modelling.capacity_model import DEFAULT_MEMBERS, fit_capacity_model

    model = fit_capacity_model(record, seed=seed, n_members=n_members or DEFAULT_MEMBERS)
    return corrected(model, record, constraints, variant, seed)


__all__ = ["OURS_DEFAULT", "OURS_V1", "VARIANTS", "OursVariant", "corrected", "fit_loop_model"]
