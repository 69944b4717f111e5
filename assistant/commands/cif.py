"""`matassist validate-cif FILE...` and `matassist cif-rules`: structure checks and family rules."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from assistant.commands.common import JsonOpt, emit_json, guarded, out
from tools.errors import DataFileError

_SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "dim"}


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise DataFileError(f"{path}: file not found")
    if not path.is_file():
        raise DataFileError(f"{path}: not a file")
    try:
        return path.read_bytes()
    except OSError as err:
        raise DataFileError(f"{path}: cannot be read ({err.strerror or err})") from err


def _print_result(result: object, show_prompt: bool) -> None:
    from tools.cif_validation import CifValidationResult

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
    if result.repair_prompt:
        if show_prompt:
            out.print("[bold]Repair prompt[/]")
            out.print(result.repair_prompt, markup=False)
        else:
            out.print("a repair prompt listing these problems is available (--prompt or --json)")
    out.print("")


def register(app: typer.Typer) -> None:
    """Add `validate-cif` and `cif-rules` to the app."""

    @app.command("validate-cif")
    @guarded
    def validate_cif_cmd(
        files: Annotated[list[Path], typer.Argument(help="CIF files to check")],
        rules: Annotated[str, typer.Option("--rules", help="structure family: auto, none, a built-in name (see cif-rules) or a YAML file")] = "auto",
        reference: Annotated[Path | None, typer.Option("--reference", help="reference CIF to compare with (StructureMatcher)")] = None,
        fast: Annotated[bool, typer.Option("--fast", help="skip physical checks with a universal potential (not implemented yet: never run)")] = False,
        show_prompt: Annotated[bool, typer.Option("--prompt", help="print the repair prompt in the human output")] = False,
        as_json: JsonOpt = False,
    ) -> None:
        """Check CIFs: parsing, cell, formula, distances, symmetry, charge, Wyckoff sites, family rules.

        Exit code 0 when every file is valid, 1 when any has an error, 2 on usage errors.
        """
        from tools.cif_validation import (
            CifValidationInput,
            decode_cif_bytes,
            resolve_family,
            validate_cif,
        )

        texts = [(path, decode_cif_bytes(_read_bytes(path))) for path in files]
        ref_text = decode_cif_bytes(_read_bytes(reference)) if reference is not None else None
        resolve_family(rules)  # unknown family names fail here, before any file is checked
        results = [
            validate_cif(CifValidationInput(cif=text, source=str(path), rules=rules, reference_cif=ref_text,
                                            reference_name=None if reference is None else str(reference), fast=fast))
            for path, text in texts
        ]
        if as_json:
            payload = [r.summary() for r in results]
            emit_json(payload[0] if len(payload) == 1 else payload)
        else:
            for r in results:
                _print_result(r, show_prompt)
        if not all(r.valid for r in results):
            raise typer.Exit(1)

    @app.command("cif-rules")
    @guarded
    def cif_rules_cmd(
        name: Annotated[str | None, typer.Argument(help="family to show; all when omitted")] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """List the structure-family rules (space groups, Wyckoff sites, polyhedra) used by validate-cif."""
        from tools.cif_rules import load_all_families, load_family

        families = [load_family(name)] if name else load_all_families()
        if as_json:
            emit_json([f.model_dump(mode="json") for f in families] if name is None else families[0].model_dump(mode="json"))
            return
        for f in families:
            out.print(f"[bold]{f.name}[/]: {f.title} - {f.space_group_text()}")
            if name:
                for role, rule in f.roles.items():
                    out.print(f"  role {role}: {', '.join(rule.elements)} ({rule.description})")
                for number, by_role in f.wyckoff.items():
                    out.print(f"  sites in {number}: " + "; ".join(f"{r} {', '.join(s)}" for r, s in by_role.items()))
                for fact in f.facts:
                    out.print(f"  - {fact}")
                for ref in f.references:
                    out.print(f"  source: {ref}")
