"""The structure-family checks: composition, space group, Wyckoff sites, coordination and polyhedron sharing.

The family is the one named by `rules`, or the built-in one that fits the composition (and, if
possible, the space group); the rules are data (tools/structures/rules.py, knowledge/cif_rules).
Violations are errors when the family was named or fits the space group, warnings otherwise.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from tools.structures.context import CheckContext
from tools.structures.models import Severity
from tools.structures.rules import select_family
from tools.structures.spacegroups import sg_text, space_group_symbol

if TYPE_CHECKING:
    from tools.structures.rules import FamilyRules

_STATE_SLACK = 0.05
"""Oxidation states are compared with this slack (rounded occupancies)."""


def check_family_rules(ctx: CheckContext) -> None:
    """The structure family (named, or picked by composition and space group) and each of its rules."""
    explicit = ctx.settings.explicit_family
    if not ctx.findings.sites and explicit is None:
        return  # no sites to check and no family asked for
    findings = ctx.findings
    s = ctx.structure
    amounts = ctx.element_amounts()
    dataset = ctx.analysis.dataset
    sg_number = None if dataset is None else int(dataset.number)
    if explicit is not None:
        family, strict = explicit, True
        findings.family_by = "explicit"
        ok, reason = family.composition_fit(amounts)
        if not ok:
            ctx.add("RULE_COMPOSITION", "error", f"the composition {s.composition.reduced_formula} does not fit "
                    f"{family.title}: {reason}")
    else:
        if ctx.settings.rules.strip().lower() == "none":
            return
        picked = select_family(amounts, sg_number)
        if picked is None:
            ctx.add("RULES_NONE", "info", "no built-in structure family fits this composition; family rules were not checked")
            return
        family, strict = picked
        findings.family_by = "auto"
    findings.family = family
    sev: Severity = "error" if strict else "warning"
    how = "named explicitly" if findings.family_by == "explicit" else (
        "picked by composition and space group" if strict else "picked by composition only (space group differs)")
    ctx.add("RULES_APPLIED", "info", f"checked against {family.title} ({family.name}; {how})")
    violations = 0
    detected = sg_text(ctx.spacegroup.detected_loose or ctx.spacegroup.detected, sg_number)
    if sg_number is not None and sg_number not in family.space_group_numbers:
        violations += 1
        ctx.add("RULE_SPACEGROUP", sev, f"{family.title} is known in {family.space_group_text()}; these atoms have "
                f"{detected} symmetry")
    roles_by_site = _site_roles(ctx, family)
    violations += _wyckoff_rules(ctx, family, sg_number, sev)
    violations += _coordination_rules(ctx, family, roles_by_site, sev)
    violations += _connectivity_rules(ctx, family, roles_by_site)
    violations += _oxidation_rules(ctx, family, sev)
    if violations == 0 and not findings.has("RULE_COMPOSITION"):
        ctx.add("RULES_OK", "info", f"consistent with {family.title}: space group, Wyckoff sites, coordination, "
                "polyhedron sharing and oxidation states")


def _site_roles(ctx: CheckContext, family: FamilyRules) -> dict[int, set[str]]:
    """The family roles of the elements on each site; each site report gets its roles."""
    roles: dict[int, set[str]] = {}
    for i in range(len(ctx.structure)):
        roles[i] = {r for el, _occ in ctx.site_species(i) if (r := family.role_of(el)) is not None}
    for report, rep in ctx.site_orbits():
        found = sorted(roles.get(rep, set()))
        report.role = "/".join(found) if found else None
    return roles


def _wyckoff_rules(ctx: CheckContext, family: FamilyRules, sg_number: int | None, sev: Severity) -> int:
    """Elements on Wyckoff sites their role may not occupy; returns the number of violations."""
    if sg_number is None or sg_number not in family.wyckoff:
        return 0
    bad = []
    for report, rep in ctx.site_orbits():
        if report.wyckoff is None:
            continue
        for el, _occ in ctx.site_species(rep):
            role = family.role_of(el)
            if role is None:
                continue
            allowed = family.allowed_sites(sg_number, role)
            if allowed is not None and report.wyckoff not in allowed:
                bad.append(f"{el} ({report.label}) is on {report.wyckoff}, but role {role} may occupy only "
                           f"{', '.join(allowed)} in {space_group_symbol(sg_number)}")
    for text in bad:
        ctx.add("RULE_WYCKOFF", sev, text)
    return len(bad)


def _coordination_rules(ctx: CheckContext, family: FamilyRules, roles_by_site: dict[int, set[str]], sev: Severity) -> int:
    """Coordination numbers and polyhedra against the roles' rules; returns the number of violations."""
    an = ctx.analysis
    count = 0
    for report, rep in ctx.site_orbits():
        coord = an.coordination.get(rep)
        if coord is None or an.occupancy[rep] < 0.5:
            continue  # partly occupied (split) sites have no well-defined polyhedron
        cn, shape, _ = coord
        for role in sorted(roles_by_site.get(rep, set())):
            rule = family.coordination.get(role)
            if rule is None:
                continue
            if cn not in rule.cn:
                count += 1
                ctx.add("RULE_COORDINATION", sev, f"{report.label} ({report.species}) has {cn} nearest anions ({shape}); "
                        f"role {role} should have {' or '.join(str(n) for n in rule.cn)} ({rule.note or family.title})")
            elif rule.polyhedra and shape not in rule.polyhedra:
                count += 1
                ctx.add("RULE_COORDINATION", "warning", f"{report.label} ({report.species}) sits in a {shape}; role {role} "
                        f"should be in a {' or '.join(rule.polyhedra)}")
    return count


def _connectivity_rules(ctx: CheckContext, family: FamilyRules, roles_by_site: dict[int, set[str]]) -> int:
    """Corner/edge/face sharing between the roles' polyhedra against the family's; returns the number of violations."""
    an = ctx.analysis
    if not family.connectivity or not an.ligands:
        return 0
    modes: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for i, j, shared in an.sharing:
        if an.occupancy[i] < 0.5 or an.occupancy[j] < 0.5:
            continue
        mode = "corner" if shared == 1 else "edge" if shared == 2 else "face"
        for ri in roles_by_site.get(i, set()):
            for rj in roles_by_site.get(j, set()):
                key = (ri, rj) if ri <= rj else (rj, ri)
                modes[key][mode] += 1
    present_roles = {r for rs in roles_by_site.values() for r in rs}
    count = 0
    for rule in family.connectivity:
        a, b = rule.roles
        if a not in present_roles or b not in present_roles:
            continue
        key = (a, b) if a <= b else (b, a)
        seen = modes.get(key, {})
        wrong = {m: n for m, n in seen.items() if m not in rule.share}
        pair = f"{a}-{b}" if a != b else f"{a}-{a}"
        if wrong:
            count += 1
            found = ", ".join(f"{n} {m}-sharing" for m, n in sorted(wrong.items()))
            allowed = " or ".join(rule.share) + " sharing" if rule.share else "no shared ligands"
            ctx.add("RULE_CONNECTIVITY", "warning", f"{pair} polyhedra: found {found} contact(s), expected {allowed} "
                    f"({rule.note})")
        if rule.required and not any(seen.get(m, 0) for m in rule.share):
            count += 1
            ctx.add("RULE_CONNECTIVITY", "warning", f"{pair} polyhedra never share {' or '.join(rule.share)}s "
                    f"({rule.note})")
    return count


def _oxidation_rules(ctx: CheckContext, family: FamilyRules, sev: Severity) -> int:
    """Each role's average oxidation state (declared, or the charge check's assignment) against the family's range."""
    states = ctx.analysis.oxidation_states
    if not states:
        return 0  # the charge check found no states (imbalanced, or not applicable)
    how = "declared in the CIF" if ctx.analysis.oxidation_source == "declared" else "from the charge balance"
    amounts = ctx.element_amounts()
    count = 0
    for role, rule in family.roles.items():
        present = [el for el in rule.elements if el in states and amounts.get(el, 0) > 0]
        if rule.oxidation_state is None or not present:
            continue
        total = sum(amounts[el] for el in present)
        average = sum(states[el] * amounts[el] for el in present) / total
        lo, hi = rule.oxidation_state
        if not lo - _STATE_SLACK <= average <= hi + _STATE_SLACK:
            count += 1
            want = f"{lo:+g}" if lo == hi else f"{lo:+g} to {hi:+g}"
            ctx.add("RULE_OXIDATION_STATE", sev, f"role {role} ({'/'.join(present)}) has oxidation state {average:+.3g} "
                    f"({how}); in {family.title} it is {want}")
    return count
