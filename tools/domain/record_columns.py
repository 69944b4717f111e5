"""The experiment record's columns: bookkeeping names, their allowed values, the canonical order.

Kept apart from tools.domain.record so that design-space inference (which must skip the
bookkeeping columns) and the record reader (which infers a space when asked) need not import
each other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tools.domain.design_space import DesignSpace

STATUS_VALUES = ("ok", "failed")
SOURCE_VALUES = ("measured", "expert", "ml-proposal", "synthetic")
BOOKKEEPING = ("status", "experiment_id", "shot", "source", "predicted_mah_g")
DEFAULT_SHOT = "history"
DEFAULT_SOURCE = "measured"


def columns_for(space: DesignSpace) -> list[str]:
    """Canonical column order: parameters, target, bookkeeping."""
    return [*space.names, space.target.name, *BOOKKEEPING]
