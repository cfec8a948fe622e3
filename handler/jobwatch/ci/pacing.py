"""How many CI requests may be in flight: a bound that halves when CI throttles (429) and grows back by one
after a run of answered requests (additive increase, multiplicative decrease)."""

from __future__ import annotations

import threading
from types import TracebackType


class Pacer:
    """``with pacer:`` around each request; ``throttled()`` on a 429, ``answered()`` on any other answer."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self.current = self.limit
        self._active = 0
        self._streak = 0
        self._cond = threading.Condition()

    def __enter__(self) -> Pacer:
        with self._cond:
            while self._active >= self.current:
                self._cond.wait()
            self._active += 1
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        with self._cond:
            self._active -= 1
            self._cond.notify()

    def throttled(self) -> None:
        with self._cond:
            self.current = max(1, self.current // 2)
            self._streak = 0

    def answered(self) -> None:
        with self._cond:
            self._streak += 1
            if self.current < self.limit and self._streak >= 2 * self.current:
                self.current += 1
                self._streak = 0
                self._cond.notify()
