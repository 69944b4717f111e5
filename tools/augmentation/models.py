"""Inputs and reports of the augmentation: what to generate, how each column is treated, how good the rows are."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

if TYPE_CHECKING:  # the assistant imports this module at start-up: no pandas then
    from tools.domain.record import ExperimentRecord

Method = Literal["ctgan", "tvae", "gaussian_copula"]
METHODS: tuple[str, ...] = ("ctgan", "tvae", "gaussian_copula")
# Chosen so that one fit on the 652-run demo record (571 ok runs) stays well under a minute on
# this shared 2-core CPU: CTGAN 300 epochs (SDV's default) fitted in 30-38 s; TVAE needs more
# epochs than SDV's 300 to stop collapsing onto a few rows (at 150 epochs half the sampled rows
# were duplicates; 600 epochs raised column shapes 0.74 -> 0.80) and 500 fit in about 20 s.
# See benchmarks/bench_augment.py.
DEFAULT_EPOCHS: dict[str, int] = {"ctgan": 300, "tvae": 500}
# A number with at most this many observed values is modelled as a set of levels.
LEVELS_MAX = 10
# A kept synthetic row this close to a real run (normalised distance) counts as a near copy.
NEAR_COPY_DISTANCE = 0.01

ProgressCallback = Callable[[str, int | None, int | None], None]
"""progress(phase, done, total): phase is load, fit, sample, check, utility-fit, utility-sample or
utility-models; done/total count epochs during fit phases of CTGAN/TVAE, else None. It may be
called from a helper thread while a network trains."""

_STRICT = ConfigDict(extra="forbid")


class AugmentationInput(BaseModel):
    """Generate synthetic runs for the active experiment record (CTGAN, TVAE or Gaussian copula), keep only valid and new ones, and report their quality and usefulness; the rows go to their own file, never into the record."""

    # One input for the augment_dataset tool, `matassist augment` and augment_record. The
    # docstring, descriptions and bounds are what the LLM reads (tests/data/tool_schemas.json);
    # the bounds keep a chat request to minutes. The two run options it never chose (utility
    # check, held-out share) are left out of its schema.
    model_config = _STRICT

    method: Method = Field(
        default="gaussian_copula",
        description="synthesizer: gaussian_copula (seconds), tvae (variational autoencoder, under a minute) or ctgan (GAN, about a minute)",
    )
    rows: int = Field(default=200, ge=1, le=5000, description="number of valid synthetic rows wanted")
    epochs: int | None = Field(
        default=None, ge=1, le=2000,
        description="training epochs for ctgan/tvae; default 300 for ctgan, 500 for tvae; ignored by gaussian_copula",
    )
    seed: int = Field(default=0, ge=0, description="random seed (same seed, same rows)")
    check_utility: SkipJsonSchema[bool] = Field(
        default=True,
        description="train the capacity model on real, real + synthetic and synthetic rows and test on held-out real runs (fits a second synthesizer)",
    )
    test_fraction: SkipJsonSchema[float] = Field(
        default=0.2, ge=0.1, le=0.5, description="share of the ok runs held out for the utility test",
    )


class ColumnPlan(BaseModel):
    """How each column is treated by the synthesizer."""

    model_config = _STRICT

    modelled_numbers: list[str] = Field(description="numbers modelled as continuous values (then snapped to their step)")
    modelled_levels: list[str] = Field(description=f"numbers with at most {LEVELS_MAX} observed values, modelled as those levels")
    modelled_categories: list[str] = Field(description="categories modelled by the synthesizer")
    held: dict[str, float | str] = Field(description="parameters held at one value (fixed by the space, or one observed value); not modelled")
    derived: dict[str, str] = Field(description="parameter -> how it is computed from the others (equality constraints)")
    target: str = Field(description="target column, modelled as a number")


class UtilityArm(BaseModel):
    """One training set of the utility check and its score on held-out real runs."""

    model_config = _STRICT

    training: str = Field(description="real, real+synthetic or synthetic")
    n_train: int = Field(description="regression rows the model was trained on (status ok)")
    origin_counts: dict[str, int] = Field(description="regression rows by origin: record (the input) and augmentation (this tool)")
    model_source_counts: dict[str, int] = Field(description="the capacity model metadata's source_counts (rows per `source` value)")
    rmse: float = Field(description="RMSE on the held-out real runs, target unit")
    r2: float | None = Field(description="R2 on the held-out real runs (None when undefined)")


class UtilityReport(BaseModel):
    """Downstream utility: does adding synthetic rows help the capacity model on real runs it never saw?"""

    model_config = _STRICT

    model: str = Field(description="the model used for the check")
    n_test: int = Field(description="held-out real ok runs")
    n_train_real: int = Field(description="real ok runs in the training split")
    synthetic_rows: int = Field(description="valid synthetic rows from the synthesizer fitted on the training split")
    synthesizer_fit_seconds: float = Field(description="wall-clock seconds of that second fit, s")
    arms: list[UtilityArm] = Field(description="one entry per training set")
    notes: list[str] = Field(default_factory=list, description="arms left out and why")


class AugmentationReport(BaseModel):
    """Everything a reader needs to judge a synthetic table: what was modelled, what was rejected, how close, how useful."""

    model_config = _STRICT

    method: str = Field(description="ctgan, tvae or gaussian_copula")
    sdv_version: str = Field(description="version of SDV used")
    seed: int = Field(description="random seed")
    epochs: int | None = Field(description="training epochs (None for the Gaussian copula)")
    design_space: str = Field(description="name of the record's design space")
    rows_requested: int = Field(description="valid synthetic rows asked for")
    rows_returned: int = Field(description="valid synthetic rows produced")
    input_rows: int = Field(description="runs in the input record (all statuses)")
    input_ok_rows: int = Field(description="runs with status ok and a measured target: what the synthesizer learned from")
    failed_runs_excluded: int = Field(description="failed runs left out of the synthesizer")
    failed_runs_policy: str = Field(description="how failed runs were handled")
    input_all_synthetic: bool = Field(description="True when every input row already has source=synthetic (a simulated record)")
    provenance: dict[str, str] = Field(description="source, shot and experiment_id pattern of the synthetic rows")
    columns: ColumnPlan = Field(description="how each column was treated")
    sampled_rows: int = Field(description="rows drawn from the synthesizer in all rounds")
    sampling_rounds: int = Field(description="sampling rounds used")
    rejected_rows: int = Field(description="sampled rows that failed the design-space checks after repair")
    rejection_share: float = Field(description="rejected_rows / sampled_rows")
    rejection_reasons: dict[str, int] = Field(description="column -> rejected rows with a problem in that column")
    record_rules: list[str] = Field(description="checks beyond the design space, learned from the record (pinned values used only under their condition)")
    exact_copies_dropped: int = Field(description="rows dropped because their conditions repeat a real run (ok or failed)")
    copies_of_failed_runs: int = Field(description="of those, rows repeating the conditions of a failed run")
    duplicates_dropped: int = Field(description="rows dropped because they repeat an earlier synthetic row")
    near_copies: int = Field(description=f"kept rows within normalised distance {NEAR_COPY_DISTANCE} of a real run")
    near_copy_distance: float = Field(description="the near-copy threshold (RMS over columns of differences scaled by the observed range)")
    nn_distance_min: float | None = Field(description="smallest normalised distance from a synthetic row to a real run")
    nn_distance_median: float | None = Field(description="median normalised distance from a synthetic row to its nearest real run")
    real_nn_distance_median: float | None = Field(description="median distance from a real run to its nearest other real run (for comparison)")
    nearest_real_failed_share: float | None = Field(description="share of synthetic rows whose nearest real run failed")
    record_failed_share: float = Field(description="share of failed runs in the input record (for comparison)")
    column_shapes: float | None = Field(description="SDMetrics QualityReport Column Shapes score, 0-1 (1 = same marginals)")
    column_pair_trends: float | None = Field(description="SDMetrics QualityReport Column Pair Trends score, 0-1")
    quality_score: float | None = Field(description="SDMetrics overall quality score, 0-1 (mean of the two)")
    import_seconds: float = Field(description="wall-clock seconds to import SDV and torch (first use in a process), s")
    fit_seconds: float = Field(description="wall-clock seconds to fit the synthesizer, s")
    fit_cpu_seconds: float = Field(description="CPU seconds of this process for the fit, s")
    sample_seconds: float = Field(description="wall-clock seconds of sampling, repair and checks, s")
    check_seconds: float = Field(description="wall-clock seconds of the quality and distance measures, s")
    utility_seconds: float | None = Field(description="wall-clock seconds of the utility check, s")
    utility: UtilityReport | None = Field(description="downstream utility, None when not requested or not possible")
    warnings: list[str] = Field(default_factory=list, description="warnings raised by SDV, torch or SDMetrics during the run")
    notes: list[str] = Field(default_factory=list, description="what the reader should know")


@dataclass(frozen=True)
class AugmentationResult:
    """The synthetic rows as a validated record (same design space) and the report."""

    record: ExperimentRecord
    report: AugmentationReport
