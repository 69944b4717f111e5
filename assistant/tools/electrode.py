"""`predict_electrode`: voltage, capacities and specific energy of insertion electrodes from composition."""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from assistant.paths import electrode_models_dir
from assistant.rendering.numbers import sig
from assistant.tools.base import ToolContext, ToolOutput, tool_spec
from tools.electrodes.schemas import RANK_LABELS, ElectrodeCandidate, RankKey


class PredictElectrodeInput(BaseModel):
    """Predict insertion-electrode properties from composition: average voltage (V vs the ion's metal), gravimetric capacity (mAh/g, exact from Faraday's law), volumetric capacity (mAh/cm3) and specific energy (Wh/kg), with uncertainties, the nearest known Materials Project electrode and whether the candidate lies in the model's domain; several candidates can be ranked. Each candidate needs its working ion and its charged (ion-poor) and discharged (ion-rich) formulas; for a discharged formula such as LiCoO2 the charged one is usually the host without the ion (CoO2)."""

    model_config = ConfigDict(extra="forbid")

    candidates: list[ElectrodeCandidate] | ElectrodeCandidate = Field(
        description="the electrodes to predict: a list of {working_ion, charged_formula, discharged_formula}, or a single one")
    rank_by: RankKey | None = Field(
        default=None,
        description="sort the candidates by this property, highest first: gravimetric_energy_wh_kg (Wh/kg), average_voltage_v (V), "
                    "gravimetric_capacity_mah_g (mAh/g) or volumetric_capacity_mah_cm3 (mAh/cm3); omit to keep the given order")


def _summary(result: Any, plot: str | None) -> str:
    preds = result.predictions
    info = result.model
    ranked = f", ranked by {RANK_LABELS[result.ranked_by]}" if result.ranked_by else ""
    lines = [
        f"Predicted from composition for {len(preds)} candidate{'s' if len(preds) != 1 else ''}{ranked}. "
        f"Gravimetric capacity is exact (Faraday's law); voltage and the discharged density behind the volumetric "
        f"capacity are learned from {info.n_train:,} Materials Project Battery Explorer electrodes (DFT values) "
        f"and come with 1-sigma uncertainties.",
        "",
        "| # | electrode (charged -> discharged, ion) | voltage (V) | capacity (mAh/g) | vol. capacity (mAh/cm3) | energy (Wh/kg) | in domain | nearest known electrode |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for rank, p in enumerate(preds, start=1):
        known = p.nearest_known
        tag = "same electrode" if known.exact_match else "nearest"
        lines.append(
            f"| {rank} | {p.charged_formula} -> {p.discharged_formula} ({p.working_ion}) | {p.average_voltage_v:.2f} ± {p.average_voltage_v_std:.2f} | "
            f"{p.gravimetric_capacity_mah_g:.1f} | {sig(p.volumetric_capacity_mah_cm3)} ± {sig(p.volumetric_capacity_mah_cm3_std, 2)} | "
            f"{sig(p.gravimetric_energy_wh_kg)} ± {sig(p.gravimetric_energy_wh_kg_std, 2)} | {'yes' if p.in_domain else 'no'} | "
            f"{tag}: {known.describe()} |"
        )
    notes = []
    exact = [p for p in preds if p.nearest_known.exact_match]
    if exact:
        notes.append("Electrodes already in the table carry their published values in the last column; prefer those to the prediction.")
    outside = [p.discharged_formula for p in preds if not p.in_domain]
    if outside:
        notes.append(f"Outside the model's domain (far from every known electrode, treat with care): {', '.join(outside)}.")
    notes.append("The model sees compositions only: polymorphs of one formula get one prediction.")
    notes.append(f"Model: {'cached' if info.reused else 'trained now'}, {info.folder}. Data: {result.licence}.")
    if plot:
        notes.append(f"Voltage against capacity with lines of equal specific energy: {plot}")
    return "\n".join([*lines, "", *notes])


def _run(ctx: ToolContext, args: PredictElectrodeInput) -> ToolOutput:
    from tools.electrodes import cache
    from tools.electrodes.plots import save_energy_plot
    from tools.electrodes.predict import predict_candidates

    candidates = args.candidates if isinstance(args.candidates, list) else [args.candidates]
    ctx.note("loading the electrode model (trained once on the shipped Battery Explorer table, about a minute)")
    model, info = cache.load_or_train(electrode_models_dir(ctx.settings), progress=ctx.note)
    result = predict_candidates(model, info, candidates, rank_by=args.rank_by)
    ions = {p.working_ion for p in result.predictions}
    background = [(k["gravimetric_capacity_mah_g"], k["average_voltage_v"]) for k in model.known if k["working_ion"] in ions]
    key = hashlib.sha256(result.model_dump_json(include={"predictions"}).encode()).hexdigest()[:10]
    plot = save_energy_plot(result.predictions, ctx.output_dir("plots") / f"electrodes-{key}.png", background)
    return ToolOutput(
        summary=_summary(result, str(plot)),
        data=result.model_dump(mode="json"),
        sources=[f"electrode model trained on {info.data_source} ({result.licence})"],
        files=[str(plot)],
    )


SPEC = tool_spec("predict_electrode", PredictElectrodeInput, _run)
