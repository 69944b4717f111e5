"""`matassist demo`: the main job on the embedded defaults (simulate, profile, fit, propose, plan)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from assistant.rendering import proposals
from cli.common import JsonOpt, emit_json, err, guarded, out, settings
from cli.dataset import print_profile, write_demo


def demo(
    out_dir: Annotated[Path | None, typer.Option("--out-dir", help="folder for the demo outputs; default <data dir>/demo")] = None,
    seed: Annotated[int, typer.Option(help="random seed of the virtual lab")] = 7,
    ni: Annotated[float, typer.Option(help="Ni fraction to propose at")] = 0.94,
    n: Annotated[int, typer.Option(help="proposals to make")] = 10,
    as_json: JsonOpt = False,
) -> None:
    """The main job on embedded defaults: simulate the record, profile its biases, fit the model, propose and plan."""
    from assistant.tools import build_registry
    from assistant.tools.base import ToolContext, call_tool
    from tools.data.profile import profile_record
    from tools.data.profile_plots import plot_profile
    from tools.domain.record import read_record

    cfg = settings()
    folder = out_dir or cfg.ensure_data_dir() / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    say = (lambda msg: None) if as_json else (lambda msg: err.print(f"[bold]{msg}[/]"))
    say("[1/4] simulating the 652-run demo record with the virtual lab")
    csv_path = folder / "ncm_demo.csv"
    meta = write_demo(csv_path, seed)
    record = read_record(csv_path)
    say("[2/4] profiling its biases")
    profile = profile_record(record)
    plots = plot_profile(record, folder)
    ctx = ToolContext(settings=cfg, record_path=csv_path, progress=None if as_json else (lambda m: err.print(f"[dim]  ... {m}[/]")))
    registry = build_registry()
    say(f"[3/4] fitting the capacity model and proposing {n} runs at ni = {ni:g}")
    proposed = call_tool(ctx, registry["propose_conditions"], {"fixed": {"ni": ni}, "n": n})
    say("[4/4] drafting the experiment plan")
    planned = call_tool(ctx, registry["draft_experiment_plan"], {"title": f"Next {n} runs at {ni:g} Ni (demo)"})
    if as_json:
        emit_json({"record": str(csv_path), "metadata": meta, "profile": profile, "plots": [str(p) for p in plots],
                   "proposals": proposed.data, "plan_files": planned.files})
        return
    out.print(f"[yellow]{meta['note']}[/]\n")
    out.print(f"demo record: {csv_path}")
    print_profile(profile, plots)
    out.print()
    out.print(proposals.rich_table(proposed.data))
    incumbent = proposed.data.get("incumbent_mah_g")
    if incumbent is not None:
        out.print(f"best measured run at ni = {ni:g} in the record: {incumbent:.1f} mAh/g")
    out.print()
    out.print("plan and results template: " + ", ".join(planned.files))
    out.print("next: fill in the results template and run `matassist record --data "
              f"{csv_path} --results <filled template>`; `matassist ui` for the chat in the browser")


def register(app: typer.Typer) -> None:
    """Add `demo`."""
    app.command("demo")(guarded(demo))
