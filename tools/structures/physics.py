"""Physical check of crystal structures with CHGNet, a pretrained universal interatomic potential.

CHGNet 0.3.0 (pretrained on the Materials Project trajectory set, MPtrj) ships its weights inside
the `chgnet` wheel, so the model loads offline. It is imported and loaded lazily, once per process.

For each ordered structure the check reports, with units:
- the energy per atom (eV/atom), the largest force (eV/A) and the pressure (GPa) of the structure
  as written;
- a short fixed-cell relaxation of the atom positions (FIRE, as in ASE, at most `relax_steps`
  steps, stopping when every force is below `fmax`): how far the atoms move (A) and how much the
  energy drops (eV/atom);
- with reference entries for the chemical system (e.g. Materials Project's GGA/GGA+U energies),
  an energy-above-hull estimate (eV/atom; tools/structures/hull.py).

Structures are evaluated in batches and relaxed together, and forces come from one backward pass
without the double-backward graph CHGNet builds for training, which keeps 100 small structures
within about a minute on two CPU cores. Torch runs single-threaded inside the check: on a shared
2-core machine two intra-op threads were several times slower than one.

Thresholds (module constants, documented where defined) turn the numbers into checks with
stable codes (PHYSICAL_*). A structure whose atoms fall apart or whose forces are huge is an
error even when every geometric rule passes.
"""

from __future__ import annotations

import contextlib
import io
import math
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from tools.domain.errors import ModelError
from tools.structures.hull import energy_above_hull
from tools.structures.models import (
    DEFAULT_RELAX_STEPS,
    CifCheck,
    PhysicalCheckResult,
    ReferenceEntry,
    Severity,
)

if TYPE_CHECKING:
    from pymatgen.core import Structure

MODEL_NAME = "0.3.0"
"""CHGNet checkpoint used (packaged with chgnet 0.4.2)."""

# ---------------------------------------------------------------- relaxation settings
RELAX_STEPS = DEFAULT_RELAX_STEPS
"""Default number of FIRE steps of the short relaxation (0 skips it). With FIRE's gentle start an
atom moves at most FIRE_MAXSTEP per step, so at most 0.8 A in the default 4 steps: the relaxation
shows the direction and scale of the motion, not the relaxed structure."""
RELAX_FMAX = 0.1
"""A structure counts as relaxed when every force is below this, eV/A."""
FIRE_MAXSTEP = 0.2
"""Largest move of the whole structure (norm over all atoms) in one FIRE step, A (ASE's default)."""
GRAPH_SKIN = 0.2
"""Neighbour lists are rebuilt once an atom has moved more than this since the last build, A."""
BATCH_SIZE = 16
"""Structures per CHGNet forward pass."""
MAX_ATOMS = 400
"""Structures with more atoms (after reduction to the primitive cell) are not evaluated."""
MAX_Z = 94
"""CHGNet knows elements H to Pu."""

# ---------------------------------------------------------------- thresholds
FORCE_ERROR = 20.0
"""Largest force above this (eV/A) is an error: atoms sit far too close or on impossible sites."""
FORCE_WARNING = 5.0
"""Largest force above this (eV/A) is a warning (relaxed published structures are below ~1 eV/A)."""
DISPLACEMENT_ERROR = 0.7
"""An atom moving farther than this (A) in the short relaxation is an error: it is not on a stable site
(in the default 4 steps it means moving at nearly the largest step every step)."""
DISPLACEMENT_WARNING = 0.3
"""An atom moving farther than this (A) in the short relaxation is a warning (an Li atom pushed 1.1 A off
its LiCoO2 site moves 0.38 A back in 4 steps; published structures move less than 0.06 A)."""
ENERGY_DROP_WARNING = 0.1
"""An energy drop above this (eV/atom) in the short relaxation is a warning: far from a local minimum."""
BASELINE_WARNING = 2.0
"""Energy above CHGNet's composition-only baseline (its fitted per-element energies) above this, eV/atom,
is a warning: the atoms are much less bound than in solids of these elements. Sound crystals lie
within about +-1 eV/atom; LiCoO2 with every length scaled by 1.6 lies at +2.8, by 2.0 at +3.8."""
BASELINE_ERROR = 3.0
"""Energy above the composition baseline above this (eV/atom) is an error: the atoms are barely bound."""
PRESSURE_HIGH_WARNING = 30.0
"""Pressure above this (GPa) is a warning: the cell is much too small for its atoms. GGA, which CHGNet
learned, gives experimental cells a few GPa (LiCoO2 +7, LiMn2O4 +10); 5% shorter lengths give +65."""
PRESSURE_LOW_WARNING = -15.0
"""Pressure below this (GPa) is a warning: the cell is much too large (10% longer LiCoO2 lengths give -24)."""
ABOVE_HULL_WARNING = 0.1
"""Energy above the hull above this (eV/atom) is a warning: unlikely to be made as written."""
ISOLATION_RADIUS = 6.0
"""CHGNet's neighbour cutoff, A: an atom with no neighbour within it is isolated (the structure falls apart)."""


@dataclass
class PhysicalOutcome:
    """The result of the physical check of one structure and the checks it adds to a report."""

    result: PhysicalCheckResult
    checks: list[CifCheck] = field(default_factory=list)


# ---------------------------------------------------------------- the model

_MODEL: Any = None
_MODEL_LOCK = threading.Lock()


def potential_loaded() -> bool:
    """Whether CHGNet is already loaded in this process."""
    return _MODEL is not None


def chgnet_version() -> str:
    """Version of the installed chgnet package ('not installed' when absent)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("chgnet")
    except PackageNotFoundError:
        return "not installed"


def method_label() -> str:
    """A short description of the potential, e.g. 'CHGNet 0.3.0 (chgnet 0.4.2)'."""
    return f"CHGNet {MODEL_NAME} (chgnet {chgnet_version()})"


def load_potential() -> Any:
    """The pretrained CHGNet model, loaded from the package's own weights once per process.

    Raises ModelError when chgnet is missing or its weights cannot be read. Nothing is downloaded.
    """
    global _MODEL
    if _MODEL is not None:
        return _MODEL
    with _MODEL_LOCK:
        if _MODEL is not None:
            return _MODEL
        try:
            with warnings.catch_warnings():
                # torch/chgnet emit import-time deprecation notices meant for their developers.
                warnings.simplefilter("ignore", DeprecationWarning)
                warnings.simplefilter("ignore", FutureWarning)
                from chgnet.model import CHGNet
        except ImportError as err:
            raise ModelError(f"the physical check needs the chgnet package (pip install chgnet==0.4.2): {err}") from err
        try:
            # CHGNet prints its parameter count and device; a tool does not print.
            with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                model = CHGNet.load(model_name=MODEL_NAME, use_device="cpu", verbose=False)
        except (OSError, RuntimeError, ValueError, KeyError) as err:
            raise ModelError(f"the CHGNet {MODEL_NAME} weights in the chgnet package could not be loaded: {err}") from err
        model.eval()
        model.requires_grad_(False)  # forces need gradients of positions only, never of the weights
        # Isolated atoms are reported by this module, not raised by the graph converter.
        model.graph_converter.set_isolated_atom_response("ignore")
        _MODEL = model
        return model


@contextlib.contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# ---------------------------------------------------------------- evaluation


@dataclass
class _Eval:
    energy: float  # eV/atom
    baseline: float  # composition-only energy, eV/atom
    forces: np.ndarray  # (n, 3) eV/A
    stress: np.ndarray | None  # (3, 3) GPa


def _evaluate(model: Any, graphs: Sequence[Any], with_stress: bool) -> list[_Eval]:
    """Energy per atom, forces and (optionally) stress of graphs, batched, one backward pass."""
    import torch
    from chgnet.model.model import BatchedGraph

    out: list[_Eval] = []
    for start in range(0, len(graphs), BATCH_SIZE):
        chunk = list(graphs[start:start + BATCH_SIZE])
        comp = model.composition_model(chunk)
        batched = BatchedGraph.from_graphs(
            chunk,
            bond_basis_expansion=model.bond_basis_expansion,
            angle_basis_expansion=model.angle_basis_expansion,
            compute_stress=with_stress,
        )
        # chgnet's own predict_graph asks autograd for a double-backward graph (needed in
        # training); inference only needs the first derivatives, at about half the cost.
        pred = model._compute(batched)
        n_atoms = pred["atoms_per_graph"]
        total = (pred["e"] * n_atoms).sum()
        inputs = list(batched.atom_positions) + (list(batched.strains) if with_stress else [])
        grads = torch.autograd.grad(total, inputs)
        energies = (pred["e"] + comp).detach().cpu().numpy()
        baselines = comp.detach().cpu().numpy()
        for k in range(len(chunk)):
            forces = -grads[k].detach().cpu().numpy().astype(float)
            stress = None
            if with_stress:
                # eV/A^3 -> GPa, as chgnet does; sign: positive = compressive pressure below.
                stress = (grads[len(chunk) + k].detach().cpu().numpy() / float(batched.volumes[k]) * 160.21766208).astype(float)
            out.append(_Eval(energy=float(energies[k]), baseline=float(baselines[k]), forces=forces, stress=stress))
    return out


@dataclass
class _State:
    """One structure being checked."""

    index: int
    structure: Structure
    lattice: np.ndarray
    species: list[Any]
    start: np.ndarray  # cartesian positions as written (of the evaluated cell), A
    pos: np.ndarray
    n_written: int
    reduced: bool
    v: np.ndarray | None = None
    dt: float = 0.1
    a: float = 0.1
    n_pos: int = 0
    steps: int = 0
    first: _Eval | None = None
    last: _Eval | None = None
    converged: bool = False
    isolated: int = 0
    stop: str | None = None  # why evaluation stopped early (isolated atoms, non-finite numbers)
    graph: Any = None  # CHGNet crystal graph of the last neighbour-list build
    graph_pos: np.ndarray | None = None  # positions at that build

    def fire_step(self, forces: np.ndarray) -> None:
        """One FIRE step (Bitzek et al. 2006), with ASE's default parameters."""
        dt_max, n_min, f_inc, f_dec, a_start, f_a = 1.0, 5, 1.1, 0.5, 0.1, 0.99
        f = forces
        if self.v is None:
            self.v = np.zeros_like(f)
        else:
            vf = float(np.vdot(f, self.v))
            if vf > 0.0:
                fnorm = math.sqrt(float(np.vdot(f, f)))
                vnorm = math.sqrt(float(np.vdot(self.v, self.v)))
                self.v = (1.0 - self.a) * self.v + self.a * f / max(fnorm, 1e-12) * vnorm
                if self.n_pos > n_min:
                    self.dt = min(self.dt * f_inc, dt_max)
                    self.a *= f_a
                self.n_pos += 1
            else:
                self.v = np.zeros_like(f)
                self.a = a_start
                self.dt *= f_dec
                self.n_pos = 0
        self.v = self.v + self.dt * f
        dr = self.dt * self.v
        norm = math.sqrt(float(np.vdot(dr, dr)))
        if norm > FIRE_MAXSTEP:
            dr *= FIRE_MAXSTEP / norm
        self.pos = self.pos + dr
        self.steps += 1


def _graph(model: Any, state: _State) -> tuple[Any, int]:
    """CHGNet's crystal graph of the current positions and the number of isolated atoms.

    The neighbour lists are rebuilt only when an atom has moved more than GRAPH_SKIN since the
    last build (a Verlet skin): CHGNet's smooth cutoffs go to zero at 6 and 3 A, so a pair that
    crosses a cutoff within the skin contributes next to nothing; otherwise only the coordinates
    of the existing graph are updated, which saves the neighbour search.
    """
    import torch
    from pymatgen.core import Structure

    if state.graph is not None and state.graph_pos is not None:
        moved = float(np.linalg.norm(state.pos - state.graph_pos, axis=1).max(initial=0.0))
        if moved <= GRAPH_SKIN:
            frac = np.linalg.solve(state.lattice.T, state.pos.T).T
            state.graph.atom_frac_coord = torch.tensor(frac, dtype=state.graph.atom_frac_coord.dtype, requires_grad=True)
            return state.graph, 0
    s = Structure(state.lattice, state.species, state.pos, coords_are_cartesian=True)
    graph = model.graph_converter(s, graph_id=str(state.index))
    centres = set(graph.atom_graph[:, 0].tolist()) if graph.atom_graph.numel() else set()
    state.graph, state.graph_pos = graph, state.pos.copy()
    return graph, len(state.species) - len(centres)


def _prepare(structure: Structure, index: int) -> _State | str:
    """The evaluation state of a structure, or the reason it cannot be evaluated."""
    if not structure.is_ordered:
        return ("the structure has partly occupied or mixed sites; a potential needs one atom per site "
                "(order it in a supercell to run this check)")
    heavy = sorted({str(sp) for sp in structure.species if getattr(sp, "Z", 0) > MAX_Z or getattr(sp, "Z", 0) < 1})
    if heavy:
        return f"CHGNet has no parameters for {', '.join(heavy)} (it covers H to Pu)"
    reduced = False
    work = structure
    # The physics is the same in the primitive cell, at a fraction of the cost (R, F, I, C centring).
    try:
        prim = structure.get_primitive_structure(tolerance=0.01, use_site_props=False)
        if len(prim) < len(structure):
            work, reduced = prim, True
    except (ValueError, np.linalg.LinAlgError):
        work = structure  # no reduction: evaluated in the cell as written
    if len(work) > MAX_ATOMS:
        return f"{len(work)} atoms (after reduction to the primitive cell) is above the {MAX_ATOMS}-atom limit of this check"
    lattice = np.array(work.lattice.matrix, dtype=float)
    pos = np.array(work.cart_coords, dtype=float)
    return _State(index=index, structure=structure, lattice=lattice, species=[site.specie for site in work],
                  start=pos.copy(), pos=pos, n_written=len(structure), reduced=reduced)


def check_structures(
    structures: Sequence[Structure | None],
    *,
    relax_steps: int = RELAX_STEPS,
    fmax: float = RELAX_FMAX,
    references: Sequence[ReferenceEntry] = (),
    per_structure_references: Sequence[Sequence[ReferenceEntry]] | None = None,
) -> list[PhysicalOutcome]:
    """Run the physical check on structures (None entries come back as not run), batched together.

    `references` serve every structure; `per_structure_references` (one list per structure)
    replaces them when given. Raises ModelError only when CHGNet cannot be loaded.
    """
    if relax_steps < 0:
        raise ValueError("relax_steps must be >= 0")
    if per_structure_references is not None and len(per_structure_references) != len(structures):
        raise ValueError("per_structure_references needs one list per structure")
    started = time.perf_counter()
    outcomes: list[PhysicalOutcome | None] = [None] * len(structures)
    states: list[_State] = []
    for i, s in enumerate(structures):
        if s is None:
            outcomes[i] = not_run("no structure to evaluate")
            continue
        prepared = _prepare(s, i)
        if isinstance(prepared, str):
            outcomes[i] = not_run(prepared)
        else:
            states.append(prepared)
    if states:
        model = load_potential()
        with warnings.catch_warnings(record=True) as caught, _torch_threads(1):
            warnings.simplefilter("always")
            _relax(model, states, relax_steps, fmax)
        library_notes = _library_warnings(caught)
        elapsed = time.perf_counter() - started
        for st in states:
            refs = references if per_structure_references is None else per_structure_references[st.index]
            outcomes[st.index] = _outcome(st, relax_steps, fmax, refs, library_notes,
                                          seconds=elapsed / len(states))
    return [o if o is not None else not_run("not evaluated") for o in outcomes]


def check_structure(
    structure: Structure,
    *,
    relax_steps: int = RELAX_STEPS,
    fmax: float = RELAX_FMAX,
    references: Sequence[ReferenceEntry] = (),
) -> PhysicalOutcome:
    """Run the physical check on one structure (see `check_structures`)."""
    return check_structures([structure], relax_steps=relax_steps, fmax=fmax, references=references)[0]


def _relax(model: Any, states: list[_State], relax_steps: int, fmax: float) -> None:
    """Evaluate every structure, then take FIRE steps together until each converges or runs out of steps."""
    active = list(states)
    for step in range(relax_steps + 1):
        graphs = []
        evaluable = []
        for st in active:
            try:
                graph, isolated = _graph(model, st)
            except (RuntimeError, ValueError) as exc:
                # chgnet's bond-graph builder fails on rare geometries (and then leaves a
                # bond_graph_error.cif in the working folder); the structure is reported, the batch goes on.
                st.stop = f"CHGNet could not build the crystal graph ({type(exc).__name__}: {exc})"
                continue
            if isolated:
                st.isolated = isolated
                st.stop = "isolated"
                continue
            graphs.append(graph)
            evaluable.append(st)
        if not evaluable:
            return
        try:
            results = _evaluate(model, graphs, with_stress=step == 0)
        except (RuntimeError, ValueError, IndexError) as exc:
            if len(evaluable) == 1:
                evaluable[0].stop = f"CHGNet failed on this structure ({type(exc).__name__}: {exc})"
                return
            # One bad graph must not sink the batch: evaluate the structures one by one.
            results = []
            kept = []
            for st, g in zip(evaluable, graphs, strict=True):
                try:
                    results.append(_evaluate(model, [g], with_stress=step == 0)[0])
                    kept.append(st)
                except (RuntimeError, ValueError, IndexError) as exc_one:
                    st.stop = f"CHGNet failed on this structure ({type(exc_one).__name__}: {exc_one})"
            evaluable = kept
        next_active = []
        for st, ev in zip(evaluable, results, strict=True):
            if step == 0:
                st.first = ev
            finite = math.isfinite(ev.energy) and bool(np.all(np.isfinite(ev.forces)))
            if not finite:
                st.stop = "non-finite"
                continue
            st.last = ev
            if _max_force(ev.forces) <= fmax:
                st.converged = True
                continue
            if step < relax_steps:
                st.fire_step(ev.forces)
                next_active.append(st)
        active = next_active


def _max_force(forces: np.ndarray) -> float:
    if forces.size == 0:
        return 0.0
    return float(np.linalg.norm(forces, axis=1).max())


def not_run(reason: str) -> PhysicalOutcome:
    """The outcome of a structure the check does not evaluate, with the reason."""
    result = PhysicalCheckResult(status="not_run", method=method_label(), reason=reason)
    return PhysicalOutcome(result, [CifCheck(code="PHYSICAL_NOT_RUN", severity="info",
                                             message=f"physical check with a universal potential not run: {reason}")])


def _library_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    notes: list[str] = []
    for w in caught:
        if issubclass(w.category, DeprecationWarning | FutureWarning | PendingDeprecationWarning):
            continue
        msg = str(w.message).strip()
        # chgnet builds a tensor from tensors while batching volumes: an internal detail, harmless.
        if "copy construct from a tensor" in msg or "Consider using tensor.detach()" in msg:
            continue
        if msg and msg not in notes:
            notes.append(msg[:300])
    return notes


def _outcome(st: _State, relax_steps: int, fmax: float, references: Sequence[ReferenceEntry],
             library_notes: list[str], seconds: float) -> PhysicalOutcome:
    checks: list[CifCheck] = []

    def add(code: str, severity: Severity, message: str) -> None:
        checks.append(CifCheck(code=code, severity=severity, message=message))

    cell = (f"primitive cell of {len(st.species)} atoms (the CIF's cell holds {st.n_written})" if st.reduced
            else f"{len(st.species)} atoms")
    method = method_label()
    for note in library_notes:
        add("LIBRARY_WARNING", "info", f"during the physical check: {note}")
    if st.last is None or st.first is None:  # no finite evaluation at all
        if st.stop == "isolated":
            add("PHYSICAL_ISOLATED_ATOMS", "error",
                f"{st.isolated} atom(s) have no neighbour within {ISOLATION_RADIUS:g} A: the structure falls apart "
                "(cell far too large, or atoms placed in empty space); the potential cannot evaluate it")
            result = PhysicalCheckResult(status="flagged", method=method, reason="isolated atoms", isolated_atoms=st.isolated,
                                         n_atoms_evaluated=len(st.species), seconds=round(seconds, 4))
            return PhysicalOutcome(result, checks)
        if st.stop == "non-finite":
            add("PHYSICAL_FORCES_HUGE", "error", "the potential gives non-finite energy or forces: atoms are unphysically close")
            result = PhysicalCheckResult(status="flagged", method=method, reason="non-finite energy or forces",
                                         n_atoms_evaluated=len(st.species), seconds=round(seconds, 4))
            return PhysicalOutcome(result, checks)
        reason = st.stop or "the potential returned nothing"
        add("PHYSICAL_FAILED", "warning", f"the physical check could not run: {reason}")
        return PhysicalOutcome(PhysicalCheckResult(status="failed", method=method, reason=reason), checks)
    if st.stop == "isolated":
        add("PHYSICAL_ISOLATED_ATOMS", "error", f"during the relaxation {st.isolated} atom(s) lose every neighbour within "
            f"{ISOLATION_RADIUS:g} A: the structure falls apart")
    elif st.stop == "non-finite":
        add("PHYSICAL_FORCES_HUGE", "error", "the potential gives non-finite energy or forces during the relaxation")
    elif st.stop is not None:
        add("PHYSICAL_FAILED", "warning", f"the relaxation stopped early: {st.stop}")

    first = st.first
    last = st.last or first
    f0 = _max_force(first.forces)
    f_last = _max_force(last.forces)
    # CHGNet gives the stress (1/V) dE/d(strain); pressure is minus its mean diagonal (positive: compressed).
    pressure = None if first.stress is None else -float(np.trace(first.stress) / 3.0)
    disp = float(np.linalg.norm(st.pos - st.start, axis=1).max(initial=0.0))
    drop = first.energy - last.energy
    hull, hull_note = energy_above_hull(st.structure.composition.reduced_formula, min(first.energy, last.energy), references)

    if f0 > FORCE_ERROR:
        add("PHYSICAL_FORCES_HUGE", "error", f"the largest force is {f0:.3g} eV/A (above {FORCE_ERROR:g}): "
            "atoms sit far too close together or on impossible sites")
    elif f0 > FORCE_WARNING:
        add("PHYSICAL_FORCES_LARGE", "warning", f"the largest force is {f0:.3g} eV/A (above {FORCE_WARNING:g}; "
            "relaxed structures are below ~1 eV/A): some atoms are far from their equilibrium positions")
    if disp > DISPLACEMENT_ERROR:
        add("PHYSICAL_ATOMS_MOVE", "error", f"an atom moves {disp:.2f} A in a {st.steps}-step relaxation (above "
            f"{DISPLACEMENT_ERROR:g} A): atoms are not on stable sites and the structure would rearrange")
    elif disp > DISPLACEMENT_WARNING:
        add("PHYSICAL_ATOMS_MOVE", "warning", f"an atom moves {disp:.2f} A in a {st.steps}-step relaxation (above "
            f"{DISPLACEMENT_WARNING:g} A): some atoms are off their equilibrium sites")
    above_baseline = first.energy - first.baseline
    if above_baseline > BASELINE_ERROR:
        add("PHYSICAL_ENERGY_HIGH", "error", f"the energy is {above_baseline:.2f} eV/atom above the potential's "
            f"composition baseline (above {BASELINE_ERROR:g}; sound crystals lie within about 1): the atoms are barely bound "
            "(cell far too large or atoms far apart)")
    elif above_baseline > BASELINE_WARNING:
        add("PHYSICAL_ENERGY_HIGH", "warning", f"the energy is {above_baseline:.2f} eV/atom above the potential's "
            f"composition baseline (above {BASELINE_WARNING:g}; sound crystals lie within about 1): the atoms are weakly bound")
    if drop > ENERGY_DROP_WARNING:
        add("PHYSICAL_ENERGY_DROP", "warning", f"a {st.steps}-step relaxation lowers the energy by {drop:.3f} eV/atom "
            f"(above {ENERGY_DROP_WARNING:g}): the structure as written is far from a local minimum")
    if pressure is not None and pressure > PRESSURE_HIGH_WARNING:
        add("PHYSICAL_PRESSURE_HIGH", "warning", f"the cell is under {pressure:+.3g} GPa (above {PRESSURE_HIGH_WARNING:+g}): "
            "it is too small (compressed) for these atoms")
    elif pressure is not None and pressure < PRESSURE_LOW_WARNING:
        add("PHYSICAL_PRESSURE_HIGH", "warning", f"the cell is under {pressure:+.3g} GPa (below {PRESSURE_LOW_WARNING:+g}): "
            "it is too large (stretched) for these atoms")
    if hull is not None and hull > ABOVE_HULL_WARNING:
        add("PHYSICAL_ABOVE_HULL", "warning", f"estimated {hull:.3f} eV/atom above the convex hull (above "
            f"{ABOVE_HULL_WARNING:g}): {hull_note}")
    flagged = any(c.severity in ("error", "warning") and c.code not in ("LIBRARY_WARNING", "PHYSICAL_FAILED") for c in checks)
    relax_text = (f"converged (max force <= {fmax:g} eV/A) after {st.steps} steps" if st.converged
                  else f"{st.steps} of {relax_steps} steps" if relax_steps else "no relaxation requested")
    summary = (f"{method} on the {cell}: {first.energy:.3f} eV/atom ({above_baseline:+.2f} from the composition "
               f"baseline), largest force {f0:.3g} eV/A"
               + ("" if pressure is None else f", pressure {pressure:+.3g} GPa")
               + (f"; short fixed-cell relaxation ({relax_text}): largest displacement {disp:.3f} A, "
                  f"energy change {-drop:+.3f} eV/atom, largest force then {f_last:.3g} eV/A" if relax_steps else "")
               + (f"; energy above hull {hull:.3f} eV/atom" if hull is not None else f"; {hull_note}"))
    add("PHYSICAL_OK" if not flagged else "PHYSICAL_SUMMARY", "info", summary)
    result = PhysicalCheckResult(
        status="flagged" if flagged else "ok",
        method=method,
        reason=None,
        n_atoms_evaluated=len(st.species),
        energy_per_atom=round(first.energy, 5),
        energy_above_baseline=round(above_baseline, 4),
        max_force=round(f0, 4),
        pressure_gpa=None if pressure is None else round(pressure, 3),
        relax_steps=st.steps,
        relax_converged=st.converged,
        max_displacement=round(disp, 4),
        relaxed_energy_per_atom=round(last.energy, 5),
        energy_change_per_atom=round(-drop, 5),
        relaxed_max_force=round(f_last, 4),
        energy_above_hull=None if hull is None else round(hull, 4),
        hull_note=hull_note,
        isolated_atoms=st.isolated,
        seconds=round(seconds, 4),
    )
    return PhysicalOutcome(result, checks)
