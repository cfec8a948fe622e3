"""Retention: everything jobwatch writes ages out (``JOBWATCH_RETAIN_DAYS``, ``JOBWATCH_REPORT_RETAIN_DAYS``), a
bounded slice per sweep.

- events delivered or dead-lettered before the cutoff (pending ones stay while they are delivered): found through
  the events index, oldest page first, so a million events cost a slice one page read, not a read per event;
- jobs that ended before the cutoff with no event still pending: the record, its finished watch, its track and what
  is left under ``tracks/<jobId>/``, its track claims, and its index line; found through the jobs index, oldest first
  (a job whose creation time CI never gave sorts first);
- completion reports written before the report cutoff (their parts, then the manifest);
- dated sweep summaries of days before the cutoff (their keys sort by day: the listing stops at the first day kept);
- claims whose lease ran out more than a day ago (their holders died; nothing will release them);
- in a folder store, temporary files a killed writer left behind.

A slice deletes at most ``BUDGET`` objects and reads at most one index page per book and ``BUDGET`` manifests; the
rest waits for the next. Each walk resumes from a cursor kept in the summary. The sweep runs a slice every ten
minutes, and on each sweep while the last slice left work behind.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from . import book, times
from .ci.models import TERMINAL_STATES
from .deadline import Deadline
from .errors import JobwatchError
from .ids import is_valid_job_id
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
    events: list[tuple[str, str]] = field(default_factory=list)  # (createdAt, id) of each deleted event
    jobs: list[tuple[str, str]] = field(default_factory=list)  # (creationTime, id) of each retired job
    reports: int = 0
    claims: int = 0
    temporaries: int = 0
    cursors: dict[str, str] = field(default_factory=dict)  # where each walk goes on ("" = from the start)
    more: bool = False  # the budget or the deadline ended the slice: the next sweep goes on at once

    def as_dict(self) -> dict[str, Any]:
        found = {"summaries": self.summaries, "events": len(self.events), "jobs": len(self.jobs),
                 "reports": self.reports, "claims": self.claims}  # fmt: skip
        return {**found, "temporaries": self.temporaries} if self.temporaries else found


class _Slice:
    def __init__(self, records: Records, deadline: Deadline, budget: int) -> None:
        self.records, self.deadline, self.left = records, deadline, budget

    def spend(self) -> bool:
        if self.left <= 0 or self.deadline.expired(2.0):
            return False
        self.left -= 1
        return True

    def delete(self, key: str) -> bool:
        if not self.spend():
            return False
        self.records.store.delete(key)
        return True


def _oldest_lines(records: Records, root: dict[str, Any] | None, cursor: str) -> tuple[list[Any], str]:
    """The lines of the index page the cursor is in (oldest first, after the cursor) and the cursor after that page
    ("" when it was the last: the next walk starts again from the oldest)."""
    metas = (root or {}).get("metas") or []
    after = tuple(cursor.split("|", 1)) if "|" in cursor else ("", "")
    for at, meta in enumerate(metas):
        upper = tuple(metas[at + 1]["start"]) if at + 1 < len(metas) else None
        if upper is not None and upper <= after:
            continue
        lines = book.read_page(records, meta, root or {})["lines"]
        found = sorted(((str(v.get("_t", "")), k), v) for k, v in lines.items())
        return [(key, line) for key, line in found if key > after], "|".join(upper) if upper else ""
    return [], ""


def _events(work: _Slice, root: dict[str, Any] | None, cutoff: datetime, cursor: str, done: Pruned) -> str:
    lines, following = _oldest_lines(work.records, root, cursor)
    last = cursor
    for key, line in lines:
        if line.get("status") in ("delivered", "failed") and times.older(line.get("createdAt"), cutoff):
            if not work.delete(Records.event_key(key[1])):
                return last  # out of budget: from this line on next time
            done.events.append((str(line.get("createdAt") or ""), key[1]))
        last = "|".join(key)
    return following


def _jobs(work: _Slice, root: dict[str, Any] | None, cutoff: datetime, cursor: str, done: Pruned) -> str:
    lines, following = _oldest_lines(work.records, root, cursor)
    last = cursor
    for key, line in lines:
        ended = line.get("state") in TERMINAL_STATES or line.get("nonExistent")
        pending = "pending" in (line.get("deliveries") or {}).values()
        when = line.get("endTime") or line.get("updatedAt")
        if ended and not pending and times.older(when, cutoff) and is_valid_job_id(key[1]):
            if not _retire(work, key[1]):
                return last  # out of budget: from this job on next time
            done.jobs.append((str(line.get("creationTime") or ""), key[1]))
        last = "|".join(key)
    return following


def _retire(work: _Slice, job_id: str) -> bool:
    """Delete what jobwatch keeps of an ended job, its record last; False when the budget ran out first. (Its events
    age out on their own walk: each is kept while pending, and this job with it.)"""
    store = work.records.store
    keys = [f"watches/finished/{job_id}.json", f"tracks/open/{job_id}.json",
            *store.list(f"tracks/{job_id}/"), *store.list(f"claims/track-{job_id}-"), f"tracks/{job_id}.json",
            Records.job_key(job_id)]  # fmt: skip
    if work.left < len(keys):
        work.left = 0
        return False
    return all(work.delete(key) for key in keys)


def _reports(work: _Slice, cutoff: datetime, cursor: str, done: Pruned) -> str:
    reads = BUDGET
    for key in work.records.store.list("reports/", start_after=cursor):
        if not key.endswith("/manifest.json"):
            continue
        if reads <= 0 or work.left <= 0:
            return key[: -len("manifest.json")]  # before this manifest: it is read again next time
        reads -= 1
        try:
            manifest = work.records.load(key)
        except JobwatchError:
            continue
        if manifest is None or not times.older(manifest.get("createdAt"), cutoff):
            continue
        parts = [p.get("key") for p in manifest.get("parts", []) if str(p.get("key", "")).startswith("reports/")]
        if work.left < len(parts) + 1:
            return key[: -len("manifest.json")]
        for part in [*parts, key]:  # the manifest last: a slice cut short finds it again
            work.delete(part)
        done.reports += 1
    return ""


def prune(records: Records, now: datetime, days: int, report_days: int, cursors: dict[str, str], deadline: Deadline,
          budget: int = BUDGET) -> Pruned:  # fmt: skip
    """Delete what has aged out, within ``budget`` deletions; returns what was done."""
    cutoff = now - timedelta(days=days)
    done = Pruned(cursors=dict(cursors))
    work = _Slice(records, deadline, budget)

    day = f"sweeps/{cutoff:%Y-%m-%d}"
    for key in records.store.list("sweeps/"):
        if key >= day or key == "sweeps/latest.json" or not work.delete(key):
            break
        done.summaries += 1

    overview = Overview(records)
    done.cursors["events"] = _events(work, overview.root("events"), cutoff, cursors.get("events", ""), done)
    done.cursors["jobs"] = _jobs(work, overview.root("jobs"), cutoff, cursors.get("jobs", ""), done)
    done.cursors["reports"] = _reports(work, now - timedelta(days=report_days), cursors.get("reports", ""), done)

    for key in records.store.list("claims/"):
        if work.left <= 0 or deadline.expired(2.0):
            break
        try:
            claim = records.load(key)
        except JobwatchError:
            continue
        expired = (claim or {}).get("expiresAt") or (claim or {}).get("at")
        if claim is not None and times.older(expired, now - CLAIM_GRACE) and work.delete(key):
            done.claims += 1
    clean = getattr(records.store, "clean_temporaries", None)  # the folder store: files a killed writer left
    if callable(clean) and work.left > 0:
        done.temporaries = int(clean(work.left))
        work.left -= done.temporaries
    done.more = work.left <= 0 or any(done.cursors.values()) or deadline.expired(2.0)
    return done


def run_slice(
    records: Records,
    summary: dict[str, Any],
    prev: dict[str, Any],
    now: datetime,
    days: tuple[int, int],
    deadline: Deadline,
) -> None:
    """A sweep's retention (``days``: records, reports): a slice when one is due (see ``RETENTION_EVERY``), never
    fatal to the sweep; where it stopped goes on in the summary."""
    kept = prev.get("retentionCursor")
    summary.update(retentionAt=prev.get("retentionAt"), retentionMore=prev.get("retentionMore"),
                   retentionCursor=kept if isinstance(kept, dict) else {})  # fmt: skip
    if not prev.get("retentionMore") and times.within(prev.get("retentionAt"), now, RETENTION_EVERY):
        return
    try:
        done = prune(records, now, days[0], days[1], summary["retentionCursor"], deadline)
        overview = Overview(records)
        if done.events:
            overview.forget(done.events, now, deadline)
        if done.jobs:
            overview.forget_jobs(done.jobs, now, deadline)
    except JobwatchError as exc:  # postponed: the next sweep tries again
        log.warning("retention postponed: %s", exc)
        return
    summary.update(retention=done.as_dict(), retentionCursor=done.cursors, retentionAt=now.isoformat(),
                   retentionMore=done.more)  # fmt: skip
