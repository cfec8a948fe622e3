"""Retention: what ages out of the store (``JOBWATCH_RETAIN_DAYS``), a bounded amount per sweep.

- dated sweep summaries (``sweeps/<day>/…``) of days before the cutoff: their keys sort by day, so the listing stops
  at the first day kept;
- delivered events created before the cutoff (dead letters and pending events stay): a slice of ``events/`` per
  sweep, resumed from a cursor, so a store of a million events costs each sweep the same small amount;
- claims whose lease ran out more than a day ago (their holders died; nothing will release them);
- in a folder store, temporary files a killed writer left behind.

A slice deletes at most ``BUDGET`` objects and reads at most ``BUDGET`` events; the rest waits for the next. The sweep
runs a slice every ten minutes, and on each sweep while the last slice left work behind.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from . import times
from .deadline import Deadline
from .errors import JobwatchError
from .overview import Overview
from .records import Records

log = logging.getLogger("jobwatch.retention")

BUDGET = 200
# A slice of the store is read once in this while, and on each sweep while a slice leaves work behind.
RETENTION_EVERY = timedelta(minutes=10)
CLAIM_GRACE = timedelta(days=1)


@dataclass
class Pruned:
    summaries: int = 0
    events: list[str] = field(default_factory=list)
    claims: int = 0
    temporaries: int = 0
    cursor: str = ""  # where the next sweep's events slice starts ("" = from the top)
    more: bool = False  # the budget or the deadline ended the slice: the next sweep goes on at once

    def as_dict(self) -> dict[str, Any]:
        found = {"summaries": self.summaries, "events": len(self.events), "claims": self.claims}
        return {**found, "temporaries": self.temporaries} if self.temporaries else found


def prune(records: Records, now: datetime, days: int, cursor: str, deadline: Deadline, budget: int = BUDGET) -> Pruned:
    """Delete what has aged out, within ``budget`` deletions and event reads; returns what was done."""
    cutoff = now - timedelta(days=days)
    done = Pruned(cursor=cursor)
    left = budget

    def spend() -> bool:
        nonlocal left
        if left <= 0 or deadline.expired(2.0):
            return False
        left -= 1
        return True

    day = f"sweeps/{cutoff:%Y-%m-%d}"
    for key in records.store.list("sweeps/"):
        if key >= day or key == "sweeps/latest.json" or not spend():
            break
        records.store.delete(key)
        done.summaries += 1

    reads = budget
    last = cursor
    for key in records.store.list("events/", start_after=cursor):
        if reads <= 0 or left <= 0 or deadline.expired(2.0):
            break  # the next sweep goes on after the last key read
        reads -= 1
        last = key
        try:
            event = records.load(key)
        except JobwatchError:
            continue
        if event and event.get("status") == "delivered" and times.older(event.get("createdAt"), cutoff) and spend():
            records.store.delete(key)
            done.events.append(str(event.get("id")))
    else:
        last = ""  # reached the end: the next slice starts from the top again
    done.cursor = last

    for key in records.store.list("claims/"):
        if left <= 0 or deadline.expired(2.0):
            break
        try:
            claim = records.load(key)
        except JobwatchError:
            continue
        expired = (claim or {}).get("expiresAt") or (claim or {}).get("at")
        if claim is not None and times.older(expired, now - CLAIM_GRACE) and spend():
            records.store.delete(key)
            done.claims += 1
    clean = getattr(records.store, "clean_temporaries", None)  # the folder store: files a killed writer left
    if callable(clean) and left > 0:
        done.temporaries = int(clean(left))
        left -= done.temporaries
    done.more = left <= 0 or bool(done.cursor) or deadline.expired(2.0)
    return done


def run_slice(
    records: Records, summary: dict[str, Any], prev: dict[str, Any], now: datetime, days: int, deadline: Deadline
) -> None:
    """A sweep's retention: a slice when one is due (see ``RETENTION_EVERY``), never fatal to the sweep; where it
    stopped goes on in the summary."""
    summary.update(retentionAt=prev.get("retentionAt"), retentionMore=prev.get("retentionMore"),
                   retentionCursor=str(prev.get("retentionCursor") or ""))  # fmt: skip
    if not prev.get("retentionMore") and times.within(prev.get("retentionAt"), now, RETENTION_EVERY):
        return
    try:
        done = prune(records, now, days, summary["retentionCursor"], deadline)
        Overview(records).forget(done.events, now)
    except JobwatchError as exc:  # postponed: the next sweep tries again
        log.warning("retention postponed: %s", exc)
        return
    summary.update(retention=done.as_dict(), retentionCursor=done.cursor, retentionAt=now.isoformat(),
                   retentionMore=done.more)  # fmt: skip
