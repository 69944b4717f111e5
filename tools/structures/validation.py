"""Check a CIF for soundness: parsing, cell, formula, distances, symmetry, charge, sites, family rules.

The checker turns every finding into a `CifCheck` with a stable `code`, a `severity`
(error / warning / info) and a plain message; `valid` is false exactly when an error exists.
It never raises on a bad CIF (unparseable text, binary garbage, impossible cells all come back
as error checks); it raises `CifError` only for bad requests (unknown rule family, unreadable
reference structure, a repair template with unknown placeholders). pymatgen and spglib are
imported lazily, and the warnings they emit while reading a CIF are captured and reported as checks.

This module runs the checks in the order `CHECKS` lists them (tools/structures/checks/, each a
function of one CheckContext) and assembles the result. `ValidationLimits` bound the work one CIF
may cause: the atoms its symmetry operations would generate are counted before pymatgen expands
them (tools/structures/screening.py; EXPANSION_TOO_LARGE above the limit), and the per-file time
limit is checked before each check (TIME_LIMIT names those not run; a check that started
finishes first, which the atom limit keeps to seconds). With `physical=True` the structure also
goes through the physical check with the CHGNet universal potential (tools/structures/physics.py,
loaded lazily); `validate_cifs` batches those checks.

Wyckoff sites are reported in the conventional standard setting that spglib standardises to
(ITA standard setting), so a primitive rhombohedral LiCoO2 still reads Li 3a/3b, Co 3b/3a, O 6c.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tools.domain.errors import CifError
from tools.structures.checks.cell import check_cell
from tools.structures.checks.charge import check_charge
from tools.structures.checks.distances import check_distances
from tools.structures.checks.family import check_family_rules
from tools.structures.checks.formula import check_formula
from tools.structures.checks.reference import compare_reference
from tools.structures.checks.symmetry import check_symmetry, report_sites
from tools.structures.context import CheckContext, CheckSettings, Findings
from tools.structures.models import (
    CHECK_CODES,
    DEFAULT_RELAX_STEPS,
    CifCheck,
    CifValidationResult,
    PhysicalCheckResult,
    ReferenceEntry,
    SpaceGroupReport,
    SymmetryTolerances,
    ValidateCifInput,
    ValidationLimits,
)
from tools.structures.parsing import parse_cif, read_structure
from tools.structures.repair import render_repair_prompt
from tools.structures.rules import resolve_family

if TYPE_CHECKING:
    from pymatgen.core import Structure

MAX_RELAX_STEPS = 500
"""Most FIRE steps a physical check may be asked for."""

Check = Callable[[CheckContext], None]

CHECKS: tuple[tuple[str, Check], ...] = (
    ("formula", check_formula),
    ("distance", check_distances),
    ("symmetry", check_symmetry),
    ("site", report_sites),
    ("charge", check_charge),
    ("structure-family", check_family_rules),
    ("reference", compare_reference),
)
"""The checks run after parsing and a sound cell, in order; each adds its findings in turn.

A check that fails unexpectedly becomes a CHECK_FAILED error naming it ("the distance check could
not run: ..."), and the ones after it still run. Later checks read what earlier ones computed:
the family rules need the coordination (distance), the dataset (symmetry) and the sites (site).
"""

_SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


@dataclass
class _GeometricRun:
    """One CIF after the geometric checks: the findings and, when a structure was built, the check context."""

    findings: Findings
    context: CheckContext | None = None

    def physical_structure(self) -> Structure | str:
        """The structure the physical check may evaluate, or why there is none to evaluate."""
        errors = self.findings.error_codes()
        if self.context is None or errors & {"PARSE_ERROR", "PARSE_NO_STRUCTURE"}:
            return "no structure could be built from the CIF"
        if "CELL_INVALID" in errors:
            return "the cell is invalid"
        if "TIME_LIMIT" in errors:
            return "the per-file time limit was reached"
        if "ATOMS_OVERLAP" in errors:
            # A potential only reports enormous forces for atoms 0.5 A apart: fix the overlap first.
            return "atoms overlap (closer than 0.5 A); fix them first"
        return self.context.structure


def _run_checks(ctx: CheckContext, started: float) -> None:
    """The cell check, then every check of CHECKS, each guarded so that a failure is reported, not raised.

    Before each check the per-file time limit (counted from `started`, time.monotonic) is checked;
    when it has passed, one TIME_LIMIT error names the checks that did not run.
    """
    names = ["cell", *(name for name, _check in CHECKS)]
    checks: list[Callable[[CheckContext], object]] = [check_cell, *(check for _name, check in CHECKS)]
    for i, (name, check) in enumerate(zip(names, checks, strict=True)):
        elapsed = time.monotonic() - started
        limit = ctx.settings.limits.time_limit_s
        if elapsed > limit:
            ctx.add("TIME_LIMIT", "error", f"stopped after {elapsed:.1f} s, over the per-file time limit of {limit:g} s "
                    f"(time_limit_s, --time-limit); not run: the {', '.join(names[i:])} check(s)")
            return
        try:
            keep_going = check(ctx) is not False
        except Exception as exc:  # every failure is reported as a CHECK_FAILED error, not swallowed
            ctx.add("CHECK_FAILED", "error", f"the {name} check could not run: {type(exc).__name__}: {exc}")
            keep_going = name != "cell"
        if not keep_going:
            return  # without a cell that can hold a crystal nothing else can be checked


def _geometric_run(cif_text: str, settings: CheckSettings) -> _GeometricRun:
    tolerances = settings.tolerances
    run = _GeometricRun(Findings(SpaceGroupReport(symprec=tolerances.symprec, loose_symprec=tolerances.loose_symprec)))
    started = time.monotonic()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            parsed = parse_cif(cif_text, run.findings, settings.limits)
            if parsed is not None:
                run.context = CheckContext(parsed=parsed, settings=settings, findings=run.findings)
                _run_checks(run.context, started)
        except Exception as exc:  # the last line of defence: the validator reports, it does not crash
            run.findings.add("CHECK_FAILED", "error", f"the validator stopped: {type(exc).__name__}: {exc}")
    _absorb_library_warnings(run.findings, list(caught))
    return run


def _absorb_library_warnings(findings: Findings, caught: list[warnings.WarningMessage]) -> None:
    seen: set[str] = set()
    for w in caught:
        # Deprecation notices are for developers, not for the person checking a CIF.
        if issubclass(w.category, DeprecationWarning | FutureWarning | PendingDeprecationWarning):
            continue
        msg = str(w.message).strip()
        if msg and msg not in seen:
            seen.add(msg)
            findings.add("LIBRARY_WARNING", "info", f"{w.category.__name__}: {msg[:300]}")


def _result(run: _GeometricRun, source: str | None, repair_template: str | None,
            physical: PhysicalCheckResult | None = None, physical_checks: Sequence[CifCheck] = ()) -> CifValidationResult:
    findings = run.findings
    parsed = None if run.context is None else run.context.parsed
    if physical is None:
        physical = PhysicalCheckResult(status="not_run", method="CHGNet", reason="skipped (fast mode, --fast)")
        physical_checks = [CifCheck(code="PHYSICAL_NOT_RUN", severity="info",
                                    message=f"physical check with a universal potential: {physical.reason}")]
    checks = sorted([*findings.checks, *physical_checks],
                    key=lambda c: (_SEVERITY_ORDER[c.severity], CHECK_CODES.get(c.code, (99, ""))[0]))
    formula = None if parsed is None else parsed.formula
    family = findings.family
    prompt = None
    if repair_template is not None:
        prompt = render_repair_prompt(checks, template=repair_template, source=source, formula=formula,
                                      spacegroup=findings.spacegroup, family=family)
    return CifValidationResult(
        source=source, valid=not any(c.severity == "error" for c in checks), formula=formula,
        declared_formula=findings.declared_formula, n_sites=0 if parsed is None else len(parsed.structure),
        spacegroup=findings.spacegroup, checks=checks, sites=findings.sites,
        rules=None if family is None else family.name, rules_selected_by=findings.family_by if family else None,
        reference=findings.reference, physical=physical, repair_prompt=prompt,
    )


def validate_cif(
    inp: ValidateCifInput,
    *,
    reference_cif: str | None = None,
    reference_name: str | None = None,
    relax_steps: int = DEFAULT_RELAX_STEPS,
    reference_entries: Sequence[ReferenceEntry] = (),
    repair_template: str | None = None,
    tolerances: SymmetryTolerances | None = None,
    limits: ValidationLimits | None = None,
) -> CifValidationResult:
    """Run every check on one CIF; bad CIFs come back as error checks, never as exceptions.

    See `validate_cifs` for the arguments. Raises CifError only for a bad request: an unknown rule
    family, an unreadable reference, relax_steps out of range, a repair template with unknown placeholders.
    """
    return validate_cifs([inp], reference_cif=reference_cif, reference_name=reference_name, relax_steps=relax_steps,
                         reference_entries=reference_entries, repair_template=repair_template, tolerances=tolerances,
                         limits=limits)[0]


def validate_cifs(
    inputs: Sequence[ValidateCifInput],
    *,
    reference_cif: str | None = None,
    reference_name: str | None = None,
    relax_steps: int = DEFAULT_RELAX_STEPS,
    reference_entries: Sequence[ReferenceEntry] = (),
    repair_template: str | None = None,
    tolerances: SymmetryTolerances | None = None,
    limits: ValidationLimits | None = None,
) -> list[CifValidationResult]:
    """Validate several CIFs; the physical checks of those with `physical=True` run together in batches.

    Every CIF is compared with `reference_cif` (CIF text; `reference_name` names it in reports) when
    given. `relax_steps` (0-500) are the FIRE steps of the physical check's short relaxation, and
    `reference_entries` (Materials Project GGA/GGA+U energies of the chemical system) allow its
    energy-above-hull estimate. `repair_template` is the text of the repair prompt template
    (prompts/cif_repair.md, placeholders tools.structures.repair.REPAIR_TEMPLATE_VARIABLES);
    without it no repair prompt is written. `limits` bound the atoms a CIF may expand to and the
    seconds its checks may take (ValidationLimits defaults when None). Raises CifError for a bad
    request before any work.
    """
    if not 0 <= relax_steps <= MAX_RELAX_STEPS:
        raise CifError(f"relax_steps must be between 0 and {MAX_RELAX_STEPS}, got {relax_steps}")
    families = [resolve_family(inp.rules) for inp in inputs]
    reference = read_structure(reference_cif, reference_name or "reference") if reference_cif is not None else None
    tolerances = tolerances if tolerances is not None else SymmetryTolerances()
    limits = limits if limits is not None else ValidationLimits()
    runs = [
        _geometric_run(inp.cif_text, CheckSettings(rules=inp.rules, explicit_family=family, reference=reference,
                                                   reference_name=reference_name, tolerances=tolerances, limits=limits))
        for inp, family in zip(inputs, families, strict=True)
    ]
    wanted = [i for i, inp in enumerate(inputs) if inp.physical]
    physical = _physical_group(runs, wanted, relax_steps, reference_entries) if wanted else {}
    return [_result(run, inp.file_name, repair_template, *physical.get(i, (None, ())))
            for i, (inp, run) in enumerate(zip(inputs, runs, strict=True))]


def _physical_group(runs: Sequence[_GeometricRun], indices: list[int], steps: int,
                    reference_entries: Sequence[ReferenceEntry]) -> dict[int, tuple[PhysicalCheckResult, list[CifCheck]]]:
    from tools.domain.errors import ModelError
    from tools.structures.physics import check_structures, method_label, not_run

    result: dict[int, tuple[PhysicalCheckResult, list[CifCheck]]] = {}
    todo: list[int] = []
    structures: list[Structure] = []
    for i in indices:
        target = runs[i].physical_structure()
        if isinstance(target, str):
            skipped = not_run(target)
            result[i] = (skipped.result, skipped.checks)
        else:
            todo.append(i)
            structures.append(target)
    if not todo:
        return result
    try:
        outcomes = check_structures(structures, relax_steps=steps, references=reference_entries)
    except ModelError as err:
        reason = str(err)
    except Exception as exc:  # the physical check must not sink the geometric report; it says why it failed
        reason = f"{type(exc).__name__}: {exc}"
    else:
        result.update({i: (o.result, o.checks) for i, o in zip(todo, outcomes, strict=True)})
        return result
    failed = PhysicalCheckResult(status="failed", method=method_label(), reason=reason)
    check = CifCheck(code="PHYSICAL_FAILED", severity="warning", message=f"the physical check could not run: {reason}")
    result.update({i: (failed, [check]) for i in todo})
    return result


def validate_cif_text(
    cif: str,
    *,
    source: str | None = None,
    rules: str = "auto",
    reference_cif: str | None = None,
    reference_name: str | None = None,
    fast: bool = True,
    relax_steps: int = DEFAULT_RELAX_STEPS,
    reference_entries: Sequence[ReferenceEntry] = (),
    repair_template: str | None = None,
    limits: ValidationLimits | None = None,
) -> CifValidationResult:
    """Convenience wrapper around `validate_cif` for CIF text; skips the physical check unless `fast=False`."""
    return validate_cif(ValidateCifInput(cif_text=cif, file_name=source, rules=rules, physical=not fast),
                        reference_cif=reference_cif, reference_name=reference_name, relax_steps=relax_steps,
                        reference_entries=reference_entries, repair_template=repair_template, limits=limits)


def decode_cif_bytes(data: bytes) -> str:
    """Bytes of a CIF file as text (UTF-8; undecodable bytes become U+FFFD, which the validator reports as binary)."""
    return data.decode("utf-8", errors="replace")
