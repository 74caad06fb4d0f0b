"""A page of a list: its rows, how many match in all, and for the inbox the counts of its views."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

# how far the lists count their rows (engine.reads.queries.bounded_count)
COUNT_LIMIT = 1000


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
    def more(self) -> bool:
        """Whether more rows match than were counted (:data:`engine.reads.queries.COUNT_LIMIT`)."""
        return self.total > COUNT_LIMIT

    @property
    def pages(self) -> int:
        """How many pages the counted rows fill (at least one)."""
        return max(1, math.ceil(min(self.total, COUNT_LIMIT) / self.per_page))
