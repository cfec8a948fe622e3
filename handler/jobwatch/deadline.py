"""A point in time that work must finish before: the function's remaining time, less a margin."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")


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


MAX_SECONDS = 86400.0  # SCF's longest run (an asynchronous invocation) is a day; a larger figure is nonsense


def from_context(context: object, started: float, default_seconds: float = 60.0) -> Deadline:
    """The invocation's deadline: ``get_remaining_time_in_millis()`` if callable, else ``time_limit_in_ms``
    counted from ``started`` (a ``time.monotonic()`` taken on entry), else ``default_seconds`` (local runs).
    A getter that raises, or a figure that is not a finite number of at most a day, counts as missing."""
    if isinstance(context, dict):
        getter = context.get("get_remaining_time_in_millis")
        if callable(getter):
            try:
                seconds = _seconds(getter())
            except Exception:  # the platform's object, not ours: any failure means "no figure"
                seconds = None
            if seconds is not None:
                return Deadline.after(seconds)
        seconds = _seconds(context.get("time_limit_in_ms"))
        if seconds:  # a limit of zero is no limit SCF sets
            return Deadline(started + seconds)
    return Deadline(started + default_seconds)


def _seconds(millis: object) -> float | None:
    """Milliseconds as seconds when they are a usable figure: a finite number in [0, a day]."""
    if isinstance(millis, bool) or not isinstance(millis, int | float):
        return None
    try:
        seconds = float(millis) / 1000.0
    except OverflowError:  # an int too large for a float
        return None
    if not math.isfinite(seconds) or not 0 <= seconds <= MAX_SECONDS:
        return None
    return seconds


def call_within(fn: Callable[[], T], seconds: float, name: str = "bounded") -> T:
    """``fn()``, given up after ``seconds``: ``TimeoutError`` then. For calls whose total time the caller cannot bound
    otherwise (a name lookup, an SDK's request): ``fn`` runs on a daemon thread of its own, which a hung call keeps
    and nothing waits for; what it returns late is dropped. Its exceptions reach the caller."""
    outcome: list[T] = []
    failure: list[BaseException] = []
    done = threading.Event()

    def run() -> None:
        try:
            outcome.append(fn())
        except BaseException as exc:  # handed to the caller below
            failure.append(exc)
        finally:
            done.set()

    threading.Thread(target=run, name=name, daemon=True).start()
    if not done.wait(max(0.0, seconds)):
        raise TimeoutError(f"{name} took over {seconds:.1f}s")
    if failure:
        raise failure[0]
    return outcome[0]
