"""Creation-time windows that split one long listing into pages fetched side by side (pure).

``NextToken`` pages follow one another; windows of creation time do not. The sweep remembers where its active jobs'
creation times fall (``edges``: every ``PER_WINDOW``-th time, to the second) and lists each window concurrently.
CI filters creation time to the second and does not document whether its bounds are inclusive, so neighbouring
windows overlap by one second: a job on an edge is listed twice, never missed, and the merge keeps one copy.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from .models import ACTIVE_STATES, Job

PER_WINDOW = 80  # jobs a window is cut for: a page holds 100, so jobs created since still fit in one
MAX_WINDOWS = 50  # per job type; more would queue behind the request pool anyway
SECOND = timedelta(seconds=1)

Window = tuple[datetime | None, datetime | None]
# (job type, window start, window end, the window's jobs): one window of a listing is complete
WindowDone = Callable[[str, datetime | None, datetime | None, list[Job]], None]


def edges_for(creation_times: Iterable[datetime], per_window: int = PER_WINDOW) -> list[datetime]:
    """Window edges for jobs created at these times: about every ``per_window``-th time, to the second.

    An edge's own second and the next are listed by both windows it separates, so an edge where many jobs share
    those seconds is skipped (the jobs created in one burst then share a window rather than cost two listings).
    """
    times = sorted(t.replace(microsecond=0) for t in creation_times)
    if len(times) <= per_window:
        return []
    step = max(per_window, -(-len(times) // MAX_WINDOWS))
    edges: list[datetime] = []
    for i in range(step, len(times), step):
        edge = times[i]
        shared = bisect_right(times, edge + SECOND) - bisect_left(times, edge)
        if shared <= per_window // 4 and (not edges or edge > edges[-1]):
            edges.append(edge)
    return edges


def windows(edges: Sequence[datetime], start: datetime | None = None, end: datetime | None = None) -> list[Window]:
    """The windows ``edges`` cut ``[start, end]`` into (``None``: open), each reaching one second into the next."""
    inner = [e for e in sorted(set(edges)) if (start is None or e > start) and (end is None or e < end)]
    if not inner:
        return [(start, end)]
    bounds: list[datetime | None] = [start, *inner, end]
    cut = list(pairwise(bounds))
    last = len(cut) - 1
    return [(lo, hi if hi is None or i == last else hi + SECOND) for i, (lo, hi) in enumerate(cut)]


def stored_edges(jobs: Iterable[Job]) -> dict[str, list[str]]:
    """Per job type, the window edges for the active jobs among ``jobs`` (ISO times, as a summary stores them)."""
    times: dict[str, list[datetime]] = {}
    for job in jobs:
        if job.state in ACTIVE_STATES and job.creation_time is not None:
            times.setdefault(job.type, []).append(job.creation_time)
    found = {kind: [e.isoformat() for e in edges_for(ts)] for kind, ts in sorted(times.items())}
    return {kind: edges for kind, edges in found.items() if edges}


def edges_from(stored: Any) -> dict[str, list[datetime]]:
    """The edges a summary stored, back as times; anything unreadable is dropped (the listing then runs unsplit)."""
    edges: dict[str, list[datetime]] = {}
    if isinstance(stored, dict):
        for kind, values in stored.items():
            try:
                edges[str(kind)] = [datetime.fromisoformat(str(v)) for v in values][:100]
            except (TypeError, ValueError):
                continue
    return edges
