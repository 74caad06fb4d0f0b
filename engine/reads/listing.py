"""A page of a list: its rows, how many match in all, and for the inbox the counts of its views."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Listing:
    """One page of rows, the number of rows matching, and for the inbox the counts of its views."""

    rows: list[dict[str, Any]]
    total: int
    page: int
    per_page: int
    counts: dict[str, int] = field(default_factory=dict)
    colours: tuple[str, ...] = ()

    @property
    def pages(self) -> int:
        """How many pages the matching rows fill (at least one)."""
        return max(1, math.ceil(self.total / self.per_page))
