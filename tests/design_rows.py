"""Random runs on a design space's grid, for tests that compare a lab's optimum with sampled recipes."""

from __future__ import annotations

from typing import Any

import numpy as np

from tools.domain.design_space import DesignSpace


def random_grid_row(space: DesignSpace, rng: np.random.Generator) -> dict[str, Any]:
    """One run: fixed values as fixed, a uniform category and grid level for the rest, mn from the composition
    equality and the conditionals applied. It may still break a bound (mn below 0): check `space.row_problems`."""
    row: dict[str, Any] = {}
    for p in space.parameters:
        if p.name in space.fixed:
            row[p.name] = space.fixed[p.name]
        elif p.kind == "category":
            row[p.name] = str(rng.choice(p.values))
        else:
            row[p.name] = p.value_at(int(rng.integers(0, p.n_levels)))
    row["mn"] = round(1 - row["ni"] - row["co"], 3)
    row.update(space.conditional_values(row))
    return row
