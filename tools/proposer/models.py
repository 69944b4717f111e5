"""The proposer's inputs and outputs: its settings, a proposal, a batch, and what it needs from a model."""

from __future__ import annotations

from typing import Any, Literal, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

Reason = Literal["exploit", "explore", "boundary probe"]


class CapacityModelLike(Protocol):
    """What the proposer needs from a fitted model (tools.modelling.capacity_model.CapacityModel).

    A model that also has ``predict_parts_encoded`` (tools.modelling.local_model.LocallyCorrectedModel:
    trees' mean and std, correction mean and std) is used as `ProposerSettings.correction_scope` says.
    """

    encoder: Any

    def predict_encoded(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def failure_probability_encoded(self, X: np.ndarray) -> np.ndarray: ...


class ProposerSettings(BaseModel):
    """Knobs of the swarm and the acquisition; defaults are the tuned ones (docs/proposer.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    iterations: int = Field(default=1000, ge=1, description="swarm iterations")
    particles: int = Field(default=100, ge=2, description="particles in the swarm")
    kappa: float = Field(default=1.0, ge=0, description="weight of the model's spread (sigma) in the score, dimensionless")
    novelty_mah_g: float = Field(default=3.0, ge=0, description="bonus at the trust radius for distance from the record, mAh/g")
    trust_radius: float = Field(default=0.4, gt=0, description="trust radius, in normalised distance (each number's range = 1, a category switch = 1)")
    trust_weight: float = Field(default=4.0, ge=0, description="trust-region penalty weight, in units of the capacities' standard deviation")
    floor_quantile: float = Field(default=0.1, ge=0, le=1, description="quantile of measured capacities that a failed run is valued at")
    exploit_share: float = Field(default=0.4, ge=0, le=1, description="share of the batch chosen by the mean alone (inside half the trust radius)")
    exploit_radius: float = Field(default=1.0, gt=0, le=1, description="exploit picks stay within this share of the trust radius")
    min_separation: float = Field(default=0.08, ge=0, description="minimum normalised distance between two proposals of a batch")
    min_step_distance: int = Field(
        default=2, ge=1,
        description="two proposals with the same categories must differ by at least this many grid steps in total "
        "(2: never one recipe with a single step changed); a local scan lifts it",
    )
    boundary_p_fail: float = Field(default=0.15, ge=0, le=1, description="a proposal at or above this failure probability is labelled a boundary probe")
    inertia: float = Field(default=0.72, description="swarm velocity inertia")
    c_personal: float = Field(default=1.49, description="pull towards a particle's own best")
    c_social: float = Field(default=1.49, description="pull towards the neighbourhood best")
    neighbours: int = Field(default=2, ge=1, description="ring-topology neighbours on each side (local best keeps several basins alive)")
    max_velocity: float = Field(default=0.25, gt=0, description="velocity clamp per coordinate, in the [0, 1] relaxation")
    seed_share: float = Field(default=0.5, ge=0, le=1, description="share of particles started at the best record runs (with the fixed values applied)")
    acquisition: Literal["ucb", "ei"] = Field(
        default="ucb",
        description="the swarm's score: ucb (mu + kappa sigma + novelty, see above) or ei (expected improvement over the best "
        "measured run with the fixed values, on mu + novelty; measured, not adopted)",
    )
    correction_scope: Literal["all", "exploit"] = Field(
        default="exploit",
        description="where a model's local correction (tools.modelling.local_model) is used: every score, or only the exploit "
        "picks and the reported prediction (explore picks then follow the uncorrected trees)",
    )


class Proposal(BaseModel):
    """One proposed experiment."""

    model_config = ConfigDict(extra="forbid")

    params: dict[str, float | str] = Field(description="every design-space column -> value, in its unit")
    predicted_mah_g: float = Field(description="model mean prediction, mAh/g")
    uncertainty_mah_g: float = Field(description="model ensemble standard deviation, mAh/g")
    failure_probability: float = Field(description="model probability that the synthesis fails, 0 to 1")
    distance_to_record: float = Field(description="normalised distance to the nearest record run (number range = 1, category switch = 1)")
    nearest_run: str = Field(description="experiment_id of the nearest record run")
    acquisition: float = Field(description="the score it was chosen by, mAh/g-like")
    reason: Reason = Field(description="exploit (best mean near data), explore (uncertainty or sparse data), boundary probe (near failures)")
    p_improve: float | None = Field(
        default=None,
        description="probability that it beats the best measured run with the fixed values (model mean and uncertainty, "
        "times 1 - failure probability); None when no measured run has them",
    )
    expected_improvement_mah_g: float | None = Field(
        default=None, description="expected improvement over that run, mAh/g (same model; a failed run improves nothing)"
    )
    untried: list[str] = Field(default_factory=list, description="parameters set to a value the record never used for them")


class ProposalResult(BaseModel):
    """A batch of proposals with what the swarm did to find them."""

    model_config = ConfigDict(extra="forbid")

    proposals: list[Proposal]
    fixed: dict[str, float | str] = Field(description="values held fixed")
    incumbent_mah_g: float | None = Field(description="best measured ok run in the record that matches the fixed values, mAh/g")
    purpose: str = Field(default="", description="one line: what the batch is for (climb, test untried factors, map a boundary, explore)")
    convergence: list[float] = Field(default_factory=list, description="best acquisition found so far, per iteration")
    evaluations: int = Field(description="candidates scored by the model (a particle that stays on its grid point is not re-scored)")
    distinct_candidates: int = Field(description="distinct feasible candidates among the best 20,000 scored (the pool the batch is chosen from)")
    fast_encoding: bool = Field(description="True when particles were encoded by the verified linear map, not through pandas")
    elapsed_s: float = Field(description="wall time of the swarm and the selection, s")
    batch_diversity: float | None = Field(
        default=None,
        description="smallest normalised distance between two proposals of the batch (each number's range = 1, a category switch = 1); None for one proposal",
    )
    min_steps_apart: int | None = Field(
        default=None,
        description="smallest difference between two proposals with the same categories, in grid steps summed over the free parameters; None when every pair differs in a category",
    )
    local_scan: bool = Field(default=False, description="True when near-duplicates one grid step apart were allowed (a local scan)")
    warnings: list[str] = Field(
        default_factory=list,
        description="what limits these numbers: no measured run satisfies the constraints (every prediction extrapolates), "
        "or every measured value of the target is the same (the model cannot tell runs apart)",
    )
    settings: ProposerSettings
