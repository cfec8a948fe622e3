"""The known jobs that left the active list, found window by window while the listing goes on (pure).

The active listing is cut into creation-time windows per job type. Once a window of every type has covered a known
job's creation time without listing it, the job is no longer active (it ended, or CI forgot it), so its describe can
start at once instead of after the last window. Coverage counts only a second inside each window's bounds: whether
CI's time filters include their bounds does not matter then.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from .ci.models import Job

_INF = float("inf")


def born_of(jobs: Iterable[Job]) -> dict[str, int]:
    """Creation times (whole epoch seconds) of the jobs that have one."""
    return {j.job_id: int(j.creation_time.timestamp()) for j in jobs if j.creation_time is not None}


class Leavers:
    """Fed each finished window of the active listing; says which known jobs have left the list."""

    def __init__(self, born: Mapping[str, int], job_types: Sequence[str], before: datetime | None = None) -> None:
        """``born``: known jobs' creation times; only those created before ``before`` (where the listing of recent
        jobs of every state starts, which may show them) are candidates."""
        limit = before.timestamp() if before is not None else _INF
        self._times = sorted((t, i) for i, t in born.items() if t < limit)
        self._keys = [t for t, _ in self._times]
        self._spans: dict[str, list[tuple[float, float]]] = {kind: [] for kind in job_types}
        self._listed: set[str] = set()
        self._decided: set[str] = set()
        self._lock = threading.Lock()

    def window(self, job_type: str, start: datetime | None, end: datetime | None, jobs: Sequence[Job]) -> list[str]:
        """One window of one type's active listing came back with ``jobs``: the known jobs now shown to have left."""
        low = start.timestamp() + 1 if start is not None else -_INF
        high = end.timestamp() - 1 if end is not None else _INF
        left: list[str] = []
        with self._lock:
            self._listed.update(job.job_id for job in jobs)
            spans = self._spans.setdefault(job_type, [])
            spans.append((low, high))
            for t, job_id in self._times[bisect_left(self._keys, low) : bisect_right(self._keys, high)]:
                if job_id in self._decided or job_id in self._listed:
                    continue
                if all(any(a <= t <= b for a, b in covered) for covered in self._spans.values()):
                    self._decided.add(job_id)
                    left.append(job_id)
        return left


def born_from(stored: Any) -> dict[str, int]:
    """The creation times a summary stored; anything unreadable is dropped (that job is then described after the
    listing)."""
    if not isinstance(stored, dict):
        return {}
    return {str(k): v for k, v in stored.items() if isinstance(v, int) and not isinstance(v, bool)}


def born_for(known: Mapping[str, str], before: Mapping[str, int], observed: Mapping[str, Job]) -> dict[str, int]:
    """Creation times of the known jobs: as stored before, else as observed now."""
    found = born_of(observed[i] for i in known if i not in before and i in observed)
    return {i: before[i] if i in before else found[i] for i in known if i in before or i in found}


def unpack_known(prev: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, int], set[str]]:
    """What a summary says of the jobs it knew active: (state, creation time, reported stuck) of each. One entry per
    job, ``"<state> <created> <stuck>"`` (a summary of an earlier version: the state alone, with separate ``born``
    and ``stuckReported``)."""
    known: dict[str, str] = {}
    born, stuck = born_from(prev.get("born")), {str(i) for i in prev.get("stuckReported") or []}
    stored = prev.get("known")
    for job_id, value in stored.items() if isinstance(stored, dict) else ():
        state, _, rest = str(value).partition(" ")
        created, _, flag = rest.partition(" ")
        known[str(job_id)] = state
        if created.isdigit():
            born[str(job_id)] = int(created)
        if flag == "1":
            stuck.add(str(job_id))
    return known, born, stuck


def pack_known(known: Mapping[str, str], born: Mapping[str, int], stuck: set[str]) -> dict[str, str]:
    """``unpack_known``'s inverse: one short string per job (10,000 active jobs stay near 600 KB)."""
    return {i: f"{state} {born.get(i, '-')} {int(i in stuck)}" for i, state in known.items()}
