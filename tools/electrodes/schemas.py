"""Typed inputs and results of the electrode capability (units in every field's description)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

TARGETS: tuple[str, ...] = ("average_voltage_v", "gravimetric_capacity_mah_g", "volumetric_capacity_mah_cm3")
"""The three predicted properties, in the order of every table."""

TARGET_UNITS: dict[str, str] = {"average_voltage_v": "V", "gravimetric_capacity_mah_g": "mAh/g",
                                "volumetric_capacity_mah_cm3": "mAh/cm3"}
TARGET_LABELS: dict[str, str] = {"average_voltage_v": "average voltage", "gravimetric_capacity_mah_g": "gravimetric capacity",
                                 "volumetric_capacity_mah_cm3": "volumetric capacity"}


class ElectrodeCandidate(BaseModel):
    """One insertion electrode: its working ion and its two end members."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    working_ion: str = Field(description="working-ion element symbol: Li, Na, K, Rb, Cs, Mg, Ca, Zn, Al or Y")
    charged_formula: str = Field(
        description="formula of the charged (ion-poor) end member, e.g. FePO4 or Li0.5CoO2; element amounts per formula unit")
    discharged_formula: str = Field(
        description="formula of the discharged (ion-rich) end member, e.g. LiFePO4; holds the working ion and the same host as the charged formula")


class NearestKnown(BaseModel):
    """The closest electrode of the training table, with its published (DFT) values."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    battery_id: str = Field(description="Materials Project battery id, e.g. mp-19017_Li")
    charged_formula: str = Field(description="charged end member of the known electrode")
    discharged_formula: str = Field(description="discharged end member of the known electrode")
    working_ion: str = Field(description="working ion of the known electrode (element symbol)")
    average_voltage_v: float = Field(description="published average voltage vs the working-ion metal, V")
    gravimetric_capacity_mah_g: float = Field(description="published gravimetric capacity, mAh per gram of discharged material")
    volumetric_capacity_mah_cm3: float = Field(description="published volumetric capacity, mAh per cm3 of discharged material")
    exact_match: bool = Field(description="True when the known electrode has the same ion and the same host-normalised end members as the candidate")
    feature_distance: float = Field(ge=0, description="distance between candidate and known electrode in the standardised, PCA-reduced feature space (dimensionless)")

    def describe(self) -> str:
        """'mp-19017_Li FePO4 -> LiFePO4 (3.42 V, 169.9 mAh/g, 589 mAh/cm3)'."""
        return (f"{self.battery_id} {self.charged_formula} -> {self.discharged_formula} ({self.average_voltage_v:.2f} V, "
                f"{self.gravimetric_capacity_mah_g:.1f} mAh/g, {self.volumetric_capacity_mah_cm3:.0f} mAh/cm3)")


class ElectrodePrediction(BaseModel):
    """Predicted properties of one electrode, in the Materials Project's DFT conventions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    working_ion: str = Field(description="working-ion element symbol")
    charged_formula: str = Field(description="charged formula as given")
    discharged_formula: str = Field(description="discharged formula as given")
    host_formula: str = Field(description="reduced formula of the host (every element but the working ion)")
    average_voltage_v: float = Field(description="predicted average voltage vs the working-ion metal, V")
    average_voltage_v_std: float = Field(ge=0, description="calibrated 1-sigma uncertainty of the average voltage, V")
    gravimetric_capacity_mah_g: float = Field(description="theoretical gravimetric capacity from Faraday's law (exact), mAh per gram of discharged material")
    gravimetric_capacity_mah_g_std: float = Field(ge=0, description="uncertainty of the gravimetric capacity, mAh/g: 0, it is computed, not learned")
    volumetric_capacity_mah_cm3: float = Field(description="predicted volumetric capacity = exact gravimetric capacity x predicted density of the discharged structure, mAh/cm3")
    volumetric_capacity_mah_cm3_std: float = Field(ge=0, description="calibrated 1-sigma uncertainty of the volumetric capacity, mAh/cm3")
    discharged_density_g_cm3: float = Field(description="predicted density of the discharged structure, g/cm3")
    gravimetric_energy_wh_kg: float = Field(description="specific energy = predicted average voltage x exact gravimetric capacity, Wh per kg of discharged material")
    gravimetric_energy_wh_kg_std: float = Field(ge=0, description="1-sigma uncertainty of the specific energy (voltage uncertainty x capacity), Wh/kg")
    in_domain: bool = Field(description="False when the candidate is farther from every training electrode than 95% of new hosts are (a rough guide: it flags worse volumetric, not worse voltage predictions)")
    domain_distance: float = Field(ge=0, description="distance to the nearest training electrode in the standardised, PCA-reduced feature space (dimensionless)")
    domain_threshold: float = Field(ge=0, description="distance above which in_domain is False (dimensionless)")
    nearest_known: NearestKnown = Field(description="the closest electrode of the training table, with its published values")


class ModelInfo(BaseModel):
    """Which electrode model answered: its data, its settings, where it is kept."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data_sha256: str = Field(description="SHA-256 of the training CSV's bytes")
    data_source: str = Field(description="the training table: the shipped snapshot or the path of a user's CSV")
    n_train: int = Field(ge=1, description="electrodes the model was trained on")
    model_version: str = Field(description="version of the model's code; a new version retrains")
    config_key: str = Field(description="hash of the hyper-parameters and the version (part of the cache file name)")
    train_seconds: float = Field(ge=0, description="wall-clock seconds the training took, s")
    folder: str = Field(description="model folder: <data dir>/models/electrodes/<data hash prefix>")
    reused: bool = Field(description="True when the cached model was loaded instead of trained")


class CVRow(BaseModel):
    """One cell group of the cross-validation table: a model's error on one target for one working ion."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scheme: str = Field(description="grouped (5-fold, every host in one fold with all its ions) or random (shuffled 5-fold)")
    model: str = Field(description="mean (control), rf (random forest on Magpie-style features), lgbm (LightGBM on the same features) or ours")
    target: str = Field(description="average_voltage_v (V), gravimetric_capacity_mah_g (mAh/g) or volumetric_capacity_mah_cm3 (mAh/cm3)")
    ion: str = Field(description="working ion of the rows scored, or 'all'")
    n: int = Field(ge=0, description="out-of-fold rows scored")
    mae: float = Field(description="mean absolute error, in the target's unit")
    scaled_mae: float = Field(description="MAE divided by the MAE of predicting the training-fold mean on the same rows (dimensionless)")
    r2: float = Field(description="coefficient of determination on the same rows (dimensionless)")


class PublishedFigure(BaseModel):
    """A published result to set beside ours."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(description="who published it")
    model: str = Field(description="their model")
    target: str = Field(description="target, as in CVRow")
    mae: float = Field(description="their MAE, in the target's unit")
    scaled_mae: float = Field(description="their MAE over the MAE of predicting the mean (dimensionless)")


class CVReport(BaseModel):
    """The cross-validated comparison: every model on the same folds, per target and working ion."""

    model_config = ConfigDict(extra="forbid")

    scheme: str = Field(description="fold scheme, see CVRow.scheme")
    n_splits: int = Field(ge=2, description="number of folds")
    n_rows: int = Field(ge=1, description="electrodes in the table")
    data_sha256: str = Field(description="SHA-256 of the table the comparison ran on")
    config_key: str = Field(description="hyper-parameters the comparison ran with (hash)")
    rows: list[CVRow] = Field(description="MAE, scaled MAE and R2 per model, target and ion")
    not_run: dict[str, str] = Field(default_factory=dict, description="models of the comparison that could not run here, with the reason")
    published: list[PublishedFigure] = Field(default_factory=list, description="published figures on the same table (not the same folds)")
    elapsed_s: float = Field(ge=0, description="wall-clock seconds of the comparison, s")

    def row(self, model: str, target: str, ion: str = "all") -> CVRow | None:
        """The row of one model, target and ion, if any."""
        return next((r for r in self.rows if (r.model, r.target, r.ion) == (model, target, ion)), None)


RankKey = Literal["gravimetric_energy_wh_kg", "average_voltage_v", "gravimetric_capacity_mah_g", "volumetric_capacity_mah_cm3"]
RANK_LABELS: dict[str, str] = {
    "gravimetric_energy_wh_kg": "specific energy (Wh/kg)", "average_voltage_v": "average voltage (V)",
    "gravimetric_capacity_mah_g": "gravimetric capacity (mAh/g)", "volumetric_capacity_mah_cm3": "volumetric capacity (mAh/cm3)",
}


class ElectrodePredictionResult(BaseModel):
    """Predictions for a list of candidates, best first when ranked, with the model that made them."""

    model_config = ConfigDict(extra="forbid")

    predictions: list[ElectrodePrediction] = Field(description="one per candidate; sorted by `ranked_by`, highest first, when set")
    ranked_by: RankKey | None = Field(default=None, description="property the candidates are sorted by, or None for the given order")
    model: ModelInfo = Field(description="the model that answered")
    licence: str = Field(description="provenance and licence of the training data")
