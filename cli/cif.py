"""`matassist validate-cif FILE...`, `matassist cif-rules` and `matassist cif generate FORMULA`.

validate-cif runs the geometric checks and, unless --fast, the physical check with CHGNet (the
first use in a process loads the model, about 10-20 s). `cif generate` asks the configured
language model for a CIF and re-prompts it with the validator's findings, or substitutes elements
into a structure family's prototype with --offline-prototype.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from cli.common import JsonOpt, emit_json, err, guarded, out, settings
from tools.domain.errors import DataFileError, MatassistError
from tools.structures.models import DEFAULT_RELAX_STEPS

if TYPE_CHECKING:
    from tools.structures.models import ValidationLimits

RelaxOpt = Annotated[int, typer.Option("--relax-steps", min=0, max=500,
                                       help="FIRE steps of the short relaxation in the physical check (0: none)")]
MaxAtomsOpt = Annotated[int | None, typer.Option(
    "--max-atoms", min=1, max=1_000_000,
    help="most atoms a CIF may expand to under its symmetry operations (counted before expanding; larger CIFs are "
    "refused); default MATASSIST_CIF_EXPANDED_ATOMS_LIMIT or 5000")]
TimeLimitOpt = Annotated[float | None, typer.Option(
    "--time-limit", min=0.001, max=86_400,
    help="per-file time limit of the checks in seconds; default MATASSIST_CIF_TIME_LIMIT_S or 60")]

_SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "dim"}


def _limits(max_atoms: int | None, time_limit: float | None) -> ValidationLimits:
    """The validator's limits: the options when given, else the settings."""
    from tools.structures.models import ValidationLimits

    base = settings().cif_limits
    return ValidationLimits(expanded_atoms_limit=base.expanded_atoms_limit if max_atoms is None else max_atoms,
                            time_limit_s=base.time_limit_s if time_limit is None else time_limit)


def _read_cif(path: Path) -> str:
    """A CIF file as text: only regular files of a sane size (DataFileError otherwise; exit code 2)."""
    from tools.structures.parsing import read_cif_bytes
    from tools.structures.validation import decode_cif_bytes

    return decode_cif_bytes(read_cif_bytes(path))


def _print_result(result: object, show_prompt: bool) -> None:
    from tools.structures.models import CifValidationResult

    assert isinstance(result, CifValidationResult)
    verdict = "[bold green]VALID[/]" if result.valid else "[bold red]INVALID[/]"
    sg = result.spacegroup
    declared = sg.declared or "none"
    detected = f"{sg.detected} ({sg.detected_number})" if sg.detected else "unknown"
    if sg.detected_loose_number is not None and sg.detected_loose_number != sg.detected_number:
        detected += f", {sg.detected_loose} ({sg.detected_loose_number}) at {sg.loose_symprec:g} A"
    out.print(f"[bold]{result.source}[/]: {verdict}  formula {result.formula or '-'}  "
              f"space group declared {declared}, detected {detected}"
              + (f"  family {result.rules} ({result.rules_selected_by})" if result.rules else ""))
    table = Table(show_lines=False)
    for col in ("severity", "code", "finding"):
        table.add_column(col, overflow="fold")
    for check in result.checks:
        style = _SEVERITY_STYLE[check.severity]
        table.add_row(f"[{style}]{check.severity}[/]", check.code, check.message)
    out.print(table)
    if result.sites:
        sites = Table(title="Sites (conventional standard setting)")
        for col in ("label", "species", "Wyckoff", "site sym.", "in cell", "CN", "polyhedron", "<d> A", "role"):
            sites.add_column(col)
        for s in result.sites:
            sites.add_row(s.label, s.species, s.wyckoff or "", s.site_symmetry or "", str(s.count_in_cell),
                          "" if s.coordination_number is None else str(s.coordination_number), s.polyhedron or "",
                          "" if s.mean_bond_length is None else f"{s.mean_bond_length:.3f}", s.role or "")
        out.print(sites)
    phys = result.physical
    numbers = phys.numbers_text()
    if numbers is not None:
        out.print(f"physical check ({phys.method}): [bold]{phys.status}[/]  {numbers}")
    if result.repair_prompt:
        if show_prompt:
            out.print("[bold]Repair prompt[/]")
            out.print(result.repair_prompt, markup=False)
        else:
            out.print("a repair prompt listing these problems is available (--prompt or --json)")
    out.print("")


def validate_cif_cmd(
    files: Annotated[list[Path], typer.Argument(help="CIF files to check")],
    rules: Annotated[str, typer.Option("--rules", help="structure family: auto, none, a built-in name (see matassist cif rules) or a YAML file")] = "auto",
    reference: Annotated[Path | None, typer.Option("--reference", help="reference CIF to compare with (StructureMatcher)")] = None,
    fast: Annotated[bool, typer.Option("--fast", help="skip the physical check with the CHGNet universal potential")] = False,
    relax_steps: RelaxOpt = DEFAULT_RELAX_STEPS,
    max_atoms: MaxAtomsOpt = None,
    time_limit: TimeLimitOpt = None,
    show_prompt: Annotated[bool, typer.Option("--prompt", help="print the repair prompt in the human output")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Check CIFs: parsing, cell, formula, distances, symmetry, charge, Wyckoff sites, family rules.

    Unless --fast, also a physical check with the CHGNet potential: energy, forces, pressure and
    a short relaxation (the first use loads the model, about 10-20 s). A CIF whose symmetry
    would expand it beyond --max-atoms is refused before expanding; --time-limit bounds the
    checks of each file. Only regular files are read (not devices or pipes), up to 20 MB.
    Exit code 0 when every file is valid, 1 when any has an error, 2 on usage errors.
    """
    from assistant.cif_repair import repair_template
    from tools.structures.models import ValidateCifInput
    from tools.structures.rules import resolve_family
    from tools.structures.validation import validate_cifs

    limits = _limits(max_atoms, time_limit)
    texts = [(path, _read_cif(path)) for path in files]
    if not fast and not as_json:
        from tools.structures.physics import potential_loaded

        if not potential_loaded():
            err.print("[dim]... loading the CHGNet potential for the physical check (first use: 10-20 s; --fast skips it)[/]")
    ref_text = _read_cif(reference) if reference is not None else None
    resolve_family(rules)  # unknown family names fail here, before any file is checked
    results = validate_cifs(
        [ValidateCifInput(cif_text=text, file_name=str(path), rules=rules, physical=not fast) for path, text in texts],
        reference_cif=ref_text, reference_name=None if reference is None else str(reference),
        relax_steps=relax_steps, repair_template=repair_template(), limits=limits,
    )
    if as_json:
        payload = [r.summary() for r in results]
        emit_json(payload[0] if len(payload) == 1 else payload)
    else:
        for r in results:
            _print_result(r, show_prompt)
    if not all(r.valid for r in results):
        raise typer.Exit(1)

def cif_rules_cmd(
    name: Annotated[str | None, typer.Argument(help="family to show; all when omitted")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the structure-family rules (space groups, Wyckoff sites, polyhedra) used by matassist cif validate."""
    from tools.structures.rules import load_all_families, load_family

    families = [load_family(name)] if name else load_all_families()
    if as_json:
        emit_json([f.model_dump(mode="json") for f in families] if name is None else families[0].model_dump(mode="json"))
        return
    for f in families:
        out.print(f"[bold]{f.name}[/]: {f.title} - {f.space_group_text()}")
        if name:
            for role, rule in f.roles.items():
                states = "" if rule.oxidation_state is None else (
                    f"; oxidation state {rule.oxidation_state[0]:+g} to {rule.oxidation_state[1]:+g}")
                out.print(f"  role {role}: {', '.join(rule.elements)} ({rule.description}{states})")
            for number, by_role in f.wyckoff.items():
                out.print(f"  sites in {number}: " + "; ".join(f"{r} {', '.join(s)}" for r, s in by_role.items()))
            for fact in f.facts:
                out.print(f"  - {fact}")
            for ref in f.references:
                out.print(f"  source: {ref}")


def register(app: typer.Typer) -> None:
    """Add the `cif` group: `cif validate`, `cif rules`, `cif generate` (validate-cif and cif-rules stay as hidden old spellings)."""
    cif_app = _generate_app()
    cif_app.command("validate")(guarded(validate_cif_cmd))
    cif_app.command("rules")(guarded(cif_rules_cmd))
    app.add_typer(cif_app, name="cif")
    app.command("validate-cif", hidden=True)(guarded(validate_cif_cmd))
    app.command("cif-rules", hidden=True)(guarded(cif_rules_cmd))


def _print_round(rnd: object) -> None:
    from assistant.cif_generate import GenerationRound

    assert isinstance(rnd, GenerationRound)
    r = rnd.result
    verdict = "[bold green]valid[/]" if rnd.accepted else "[bold red]invalid[/]"
    problems = sorted(r.codes("error")) + sorted(r.codes("warning")) + ([] if rnd.composition_ok else ["composition differs"])
    out.print(f"round {rnd.number}: {verdict}  formula {r.formula or '-'}  space group {r.spacegroup.detected or '-'}  "
              f"physical {r.physical.status}" + (f"  problems: {', '.join(problems)}" if problems else "")
              + f"  -> {rnd.files.get('cif')}")


def _generate_app() -> typer.Typer:
    cif_app = typer.Typer(
        help="Crystal structures: validate CIFs (geometry, symmetry, charge, family rules, a CHGNet physical check), list the family rules, generate CIFs with a language model.",
        no_args_is_help=True,
    )

    @cif_app.command("generate")
    @guarded
    def generate_cmd(
        formula: Annotated[str, typer.Argument(help="chemical formula, e.g. LiNi0.8Co0.1Mn0.1O2")],
        rounds: Annotated[int, typer.Option("--rounds", min=1, max=20, help="generate/repair rounds at most")] = 3,
        rules: Annotated[str, typer.Option("--rules", help="structure family: auto, none, a built-in name (see cif-rules) or a YAML file")] = "auto",
        out_dir: Annotated[Path | None, typer.Option("--out-dir", help="folder for every round's CIF and report; default <data dir>/cif_generate/<formula>-<time>")] = None,
        out_legacy: Annotated[Path | None, typer.Option("--out", hidden=True, help="old spelling of --out-dir")] = None,
        offline_prototype: Annotated[bool, typer.Option("--offline-prototype", help="no language model: substitute the formula's elements into the family's prototype")] = False,
        fast: Annotated[bool, typer.Option("--fast", help="skip the physical check with the CHGNet universal potential")] = False,
        relax_steps: RelaxOpt = DEFAULT_RELAX_STEPS,
        as_json: JsonOpt = False,
    ) -> None:
        """Generate a CIF for FORMULA: ask the language model, validate, re-prompt with the problems, repeat.

        Every round's prompt, reply, CIF and JSON report are kept in the output folder. Needs an
        LLM backend (OPENAI_API_KEY, or MATASSIST_LLM_BASE_URL for an OpenAI-compatible server);
        without one, use --offline-prototype. Exit code 0 when the final CIF is valid, 1 when not,
        2 on usage errors.
        """
        from assistant.cif_generate import (
            GenerationError,
            default_out_dir,
            generate_cif,
            generate_prototype,
            parse_formula,
        )
        from assistant.llm import BackendError, llm_failure, make_chat_model, resolve_backend
        from tools.structures.rules import resolve_family

        cfg = settings()
        parse_formula(formula)
        resolve_family(rules)
        folder = out_dir or out_legacy or default_out_dir(cfg.data_dir, formula)
        if folder.exists() and (not folder.is_dir() or any(folder.glob("round-*"))):
            raise DataFileError(f"{folder} already holds a generation (round-* files) or is not a folder; choose another --out")
        if offline_prototype:
            outcome = generate_prototype(formula, out_dir=folder, rules=rules, fast=fast, relax_steps=relax_steps,
                                         limits=cfg.cif_limits)
        else:
            if resolve_backend(cfg) == "offline":
                raise BackendError(
                    "cif generate needs a language model: set OPENAI_API_KEY (OpenAI), or MATASSIST_LLM_BASE_URL and "
                    "MATASSIST_LLM_MODEL for an OpenAI-compatible server (Ollama, vLLM, llama.cpp); without one, add "
                    "--offline-prototype to substitute the formula's elements into a structure family's prototype"
                )
            model = make_chat_model(cfg)
            if not as_json:
                out.print(f"generating {formula} with {type(model).__name__} ({cfg.llm_model}), at most {rounds} round(s); "
                          f"files in {folder}")
            try:
                outcome = generate_cif(model, formula, out_dir=folder, rounds=rounds, rules=rules, fast=fast,
                                       relax_steps=relax_steps, on_round=None if as_json else _print_round,
                                       limits=cfg.cif_limits)
            except GenerationError as exc:  # a client failure: say which server, and what to set
                cause = exc.__cause__
                if not isinstance(cause, Exception) or isinstance(cause, MatassistError):
                    raise
                raise BackendError(f"{llm_failure(cause, cfg)} (rounds so far are in {folder})") from exc
        if as_json:
            emit_json(outcome.summary())
        else:
            if offline_prototype and outcome.final is not None:
                out.print(f"offline: {outcome.final.reply}")
                _print_round(outcome.final)
            final = outcome.final
            if final is not None:
                _print_result(final.result, show_prompt=False)
            state = "[bold green]valid[/]" if outcome.valid else "[bold red]not valid[/]"
            out.print(f"{state} after {len(outcome.rounds)} of {outcome.max_rounds} round(s); every round is in {outcome.out_dir}")
        if not outcome.valid:
            raise typer.Exit(1)

    return cif_app
