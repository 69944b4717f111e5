"""The simulated labs a campaign can run against, by name.

- ``a``: tools.campaign.virtual_lab.VirtualLab: additive groups, quadratic optima, constant 1.2 mAh/g noise;
- ``b``: tools.campaign.virtual_lab_b.VirtualLabB: interactions, a narrower optimum, another failure
  boundary and heteroscedastic noise.

Both take a seed, write a biased demo record (`demo_record`), "run" rows (`run`, alias `measure`)
and know their exact optimum under fixed values and constraints (`optimum`).
"""

from __future__ import annotations

from tools.campaign.virtual_lab import VirtualLab
from tools.campaign.virtual_lab_b import VirtualLabB
from tools.domain.errors import ProposalError

LABS = ("a", "b")


def make_lab(name: str, seed: int) -> VirtualLab:
    """The named lab with this seed; ProposalError for an unknown name."""
    key = str(name).strip().lower()
    if key == "a":
        return VirtualLab(seed)
    if key == "b":
        return VirtualLabB(seed)
    raise ProposalError(f"unknown lab '{name}' (choose from {', '.join(LABS)})")


__all__ = ["LABS", "make_lab"]
