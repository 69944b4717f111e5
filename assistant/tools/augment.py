"""`augment_dataset` for the assistant: synthetic rows for the active record, in their own file, with a quality report."""

from __future__ import annotations

import time
from typing import Any

from assistant.tools.base import ToolContext, ToolOutput, record_note, tool_spec
from tools.augmentation.models import AugmentationInput


def _num(value: float | None, fmt: str = ".3f") -> str:
    return "-" if value is None else format(value, fmt)


def summary_markdown(report: Any, csv_path: str, report_path: str) -> str:
    """The quality report as Markdown, every number taken from the report."""
    epochs = f", {report.epochs} epochs" if report.epochs else ""
    lines = [
        f"Generated **{report.rows_returned}** synthetic rows with {report.method}{epochs} (seed {report.seed}) "
        f"from {report.input_ok_rows} ok runs of {report.input_rows}; fitting took {report.fit_seconds:.1f} s.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| SDMetrics column shapes (0-1) | {_num(report.column_shapes)} |",
        f"| SDMetrics column pair trends (0-1) | {_num(report.column_pair_trends)} |",
        f"| rejected by domain checks | {report.rejected_rows} of {report.sampled_rows} ({report.rejection_share:.1%}) |",
        f"| copies of real runs dropped | {report.exact_copies_dropped} |",
        f"| near copies kept | {report.near_copies} |",
        f"| median distance to nearest real run | {_num(report.nn_distance_median)} (real to real: {_num(report.real_nn_distance_median)}) |",
    ]
    util = report.utility
    if util is not None and util.arms:
        lines += [
            "",
            f"Downstream utility (capacity model tested on {util.n_test} held-out real runs):",
            "",
            "| trained on | rows (record + synthetic) | RMSE | R2 |",
            "|---|---|---|---|",
        ]
        for arm in util.arms:
            lines.append(f"| {arm.training} | {arm.origin_counts['record']} + {arm.origin_counts['augmentation']} | "
                         f"{arm.rmse:.3f} | {_num(arm.r2)} |")
    lines += ["", f"Failed runs: {report.failed_runs_policy}."]
    lines += [f"- {note}" for note in report.notes]
    lines += ["", f"Synthetic rows: {csv_path} (source=synthetic, shot {report.provenance['shot']}); report: {report_path}."]
    return "\n".join(lines)


def _augment(ctx: ToolContext, args: AugmentationInput) -> ToolOutput:
    from tools.augmentation.augment import augment_record, check_augmentable, write_augmentation

    record = ctx.record()
    check_augmentable(record)
    ctx.note(f"fitting {args.method} on the record and sampling {args.rows} rows")

    last: dict[str, str] = {}

    def progress(phase: str, done: int | None, total: int | None) -> None:
        if last.get("phase") != phase:  # one message per phase; epochs would flood the conversation
            last["phase"] = phase
            ctx.note(f"augmentation: {phase}")

    result = augment_record(record, args, progress)
    label = args.method.replace("_", "-")
    path = ctx.output_dir("augmented") / f"{ctx.active_record_path.stem}-{label}-seed{args.seed}-{int(time.time())}.csv"
    csv_path, report_path = write_augmentation(result, path)
    summary = summary_markdown(result.report, str(csv_path), str(report_path)) + "\n\n" + record_note(ctx)
    return ToolOutput(
        summary=summary,
        data=result.report.model_dump(mode="json"),
        sources=[str(ctx.active_record_path)],
        files=[str(csv_path), str(report_path)],
    )


SPEC = tool_spec("augment_dataset", AugmentationInput, _augment)
