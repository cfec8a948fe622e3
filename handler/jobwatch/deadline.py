"""A point in time that work must finish before: the function's remaining time, less a margin."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Deadline:
    """An absolute monotonic instant; ``remaining()`` counts down to it."""

    at: float
    clock: Callable[[], float] = field(default=time.monotonic, repr=False, compare=False)

    @classmethod
    def after(cls, seconds: float, clock: Callable[[], float] = time.monotonic) -> Deadline:
        """A deadline ``seconds`` from now."""
        return cls(clock() + seconds, clock)

    @classmethod
    def never(cls) -> Deadline:
        """No limit in practice (a day), for tools and tests."""
        return cls.after(86400.0)

    def remaining(self) -> float:
        """Seconds left; negative once passed."""
        return self.at - self.clock()

    def expired(self, margin: float = 0.0) -> bool:
        """True when less than ``margin`` seconds are left."""
        return self.remaining() <= margin


def from_context(context: object, started: float, default_seconds: float = 60.0) -> Deadline:
    """The invocation's deadline: ``get_remaining_time_in_millis()`` if callable, else ``time_limit_in_ms``
    counted from ``started`` (a ``time.monotonic()`` taken on entry), else ``default_seconds`` (local runs)."""
    if isinstance(context, dict):
        getter = context.get("get_remaining_time_in_millis")
        if callable(getter):
            try:
                return Deadline.after(float(getter()) / 1000.0)
            except (TypeError, ValueError):
                pass
        limit = context.get("time_limit_in_ms")
        if isinstance(limit, int | float) and not isinstance(limit, bool) and limit > 0:
            return Deadline(started + float(limit) / 1000.0)
    return Deadline(started + default_seconds)
