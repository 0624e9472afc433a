"""Keyed timers for the pure dispatcher: one due time per key, earliest first.

Rescheduling a key replaces its time; stale heap entries are skipped when they surface,
so both scheduling and popping stay O(log n) however many groups there are.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Hashable, Iterator


class Timers:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Hashable]] = []
        self._due: dict[Hashable, float] = {}
        self._tie = itertools.count()

    def set(self, key: Hashable, at: float | None) -> None:
        """Due at `at` (None: cancel)."""
        if at is None:
            self._due.pop(key, None)
            return
        if self._due.get(key) == at:
            return
        self._due[key] = at
        heapq.heappush(self._heap, (at, next(self._tie), key))

    def get(self, key: Hashable) -> float | None:
        return self._due.get(key)

    def next_due(self) -> float | None:
        self._drop_stale()
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> Iterator[tuple[float, Hashable]]:
        """(time, key) of every timer due by `now`, in time order; each fires once. Timers
        set while iterating are seen if they too are due by `now`."""
        while True:
            self._drop_stale()
            if not self._heap or self._heap[0][0] > now:
                return
            at, _, key = heapq.heappop(self._heap)
            del self._due[key]
            yield at, key

    def _drop_stale(self) -> None:
        heap = self._heap
        while heap and self._due.get(heap[0][2]) != heap[0][0]:
            heapq.heappop(heap)
