"""Pure diffing: a stored job record plus what CI says now → the new record and the state transition, if any."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .ci.models import Job

# Fields that come from CI; a record is rewritten only when one of them changes.
CI_FIELDS = (
    "jobId", "type", "name", "state", "code", "message", "creationTime", "startTime", "endTime",
    "input", "operation", "extra",
)  # fmt: skip

TIME_FIELDS = ("creationTime", "startTime", "endTime")


@dataclass(frozen=True)
class Observation:
    """The outcome of comparing CI's view of one job with its stored record."""

    record: dict[str, Any]
    changed: bool
    previous_state: str | None
    transition: bool  # the state differs from the stored one (or the job is new)
    sequence: int  # 1-based index of the current state in the record's history


def observe(stored: dict[str, Any] | None, job: Job, now: datetime, place: dict[str, str] | None = None) -> Observation:
    """Fold one observation of ``job`` into its stored record (None for a job seen the first time); ``place`` is
    the bucket and region it was seen in, which the record carries."""
    current = {**job.to_dict(), **(place or {})}
    at = now.isoformat()
    if stored is None:
        record = {
            **current,
            "raw": job.raw,
            "firstSeenAt": at,
            "updatedAt": at,
            "history": [{"state": job.state, "at": at}],
        }
        return Observation(record, True, None, True, 1)
    revived = bool(stored.get("nonExistent"))
    if revived:  # CI knows it again (an earlier answer was wrong): the record keeps its history
        stored = {k: v for k, v in stored.items() if k != "nonExistent"}
    for name in TIME_FIELDS:  # an empty or unreadable time never replaces a readable one
        if current[name] is None and stored.get(name) is not None:
            current[name] = stored[name]
    history = list(stored.get("history") or [])
    previous = stored.get("state")
    changed = revived or any(stored.get(name) != current[name] for name in (*CI_FIELDS, *(place or {})))
    transition = previous != job.state
    if transition:
        history.append({"state": job.state, "at": at})
    if not changed:
        return Observation(stored, False, previous, False, len(history))
    record = {
        **stored,
        **current,
        "raw": job.raw,
        "firstSeenAt": stored.get("firstSeenAt") or at,
        "updatedAt": at,
        "history": history,
    }
    return Observation(record, True, previous, transition, len(history))


def nonexistent_record(job_id: str, stored: dict[str, Any] | None, now: datetime) -> dict[str, Any] | None:
    """The record for an ID CI says does not exist; None when it is already recorded as such."""
    if stored is not None and stored.get("nonExistent"):
        return None
    at = now.isoformat()
    base = stored or {"jobId": job_id, "firstSeenAt": at, "history": []}
    return {**base, "jobId": job_id, "nonExistent": True, "updatedAt": at}
