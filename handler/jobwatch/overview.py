"""Small index documents the sweeps keep, so a page view or a list reads a few objects, not one per item.

- ``index/jobs.json``: one summary line per job (type, name, state, times, object counts, its events' delivery
  status), enough for the jobs table and the counts by state.
- ``index/events.json``: counts by status, every event still pending or failed (dead letters), and the newest
  500 events of any status, shown as answers show events (targets without secrets).

Every sweep folds what it saw into them: the jobs it observed (whose lines it rewrites when they differ, so a line
lost to an overlapping sweep's write is put right by the next sweep) and the events it created or delivered. A
missing or unreadable index is rebuilt from the records, within the sweep's deadline, resumed by the next sweep.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from .ci.models import Job
from .deadline import Deadline
from .errors import JobwatchError
from .events import public_event
from .records import Records, dumps

log = logging.getLogger("jobwatch.overview")

JOBS_KEY = "index/jobs.json"
EVENTS_KEY = "index/events.json"
RECENT = 500
LINE_FIELDS = ("type", "name", "state", "creationTime", "startTime", "endTime", "objects", "nonExistent")
_lock = threading.Lock()
# The index documents as this process last wrote them, each with its parsed form: a warm instance's next fold finds
# the same bytes in the store (unless another sweep wrote since) and skips parsing a document of every job again.
_kept: dict[str, tuple[bytes, dict[str, Any]]] = {}


def line_of(record: dict[str, Any]) -> dict[str, Any]:
    """A job's summary line, from its record."""
    line = {k: record.get(k) for k in LINE_FIELDS if record.get(k) is not None}
    line["updatedAt"] = record.get("updatedAt")
    return line


def _job_line(job: Job) -> dict[str, Any]:
    data = job.scalars()
    return {k: data[k] for k in ("type", "name", "state", "creationTime", "startTime", "endTime")}


class Overview:
    """Reads and maintains the two index documents of one store."""

    def __init__(self, records: Records) -> None:
        self.records = records

    # --- reads --------------------------------------------------------------------------------

    def jobs(self) -> dict[str, Any] | None:
        try:
            return self.records.load(JOBS_KEY)
        except JobwatchError:
            return None

    def events(self) -> dict[str, Any] | None:
        try:
            return self.records.load(EVENTS_KEY)
        except JobwatchError:
            return None

    def present(self) -> bool:
        """Both index documents exist (a listing, not a read: a quiet sweep checks only this)."""
        return set(self.records.store.list("index/")) >= {JOBS_KEY, EVENTS_KEY}

    # --- maintenance (sweeps) -----------------------------------------------------------------

    def fold(
        self,
        observed: Iterable[Job],
        records: Iterable[dict[str, Any]],
        events: Iterable[dict[str, Any]],
        deadline: Deadline,
        now: datetime,
    ) -> None:
        """Fold one sweep's observations into the indexes (rebuilding a missing one first)."""
        with _lock:
            jobs = self._for_update(JOBS_KEY)
            if jobs is None or not jobs.get("complete"):
                jobs = self._rebuild_jobs(jobs, deadline)
            lines: dict[str, Any] = jobs["jobs"]
            changed = False
            for job in observed:
                line = {**lines.get(job.job_id, {}), **_job_line(job)}
                if lines.get(job.job_id) != line:
                    lines[job.job_id], changed = line, True
            for record in records:
                line = {**lines.get(record["jobId"], {}), **line_of(record)}
                if lines.get(record["jobId"]) != line:
                    lines[record["jobId"]], changed = line, True
            event_list = list(events)
            for event in event_list:
                line = lines.setdefault(event["jobId"], {})
                deliveries = dict(line.get("deliveries") or {})
                if deliveries.get(event["id"]) != event.get("status"):
                    deliveries[event["id"]] = event.get("status")
                    line["deliveries"], changed = deliveries, True
            if changed or jobs.get("rebuilt"):
                jobs.pop("rebuilt", None)
                jobs["updatedAt"] = now.isoformat()
                self._write(JOBS_KEY, jobs)
            if event_list or self._for_update(EVENTS_KEY, keep=True) is None:
                self._fold_events(event_list, deadline, now)

    def _for_update(self, key: str, *, keep: bool = False) -> dict[str, Any] | None:
        """An index document to change and write back (None when missing or unreadable: it is rebuilt). ``keep``:
        only looking; the parsed document stays for the next call."""
        try:
            data = self.records.store.get(key)
            if data is None:
                return None
            kept = _kept.pop(key, None)  # used once: the caller changes it
            document = kept[1] if kept is not None and kept[0] == data else self.records.parse(key, data)
        except JobwatchError:
            return None
        if keep:
            _kept[key] = (data, document)
        return document

    def _write(self, key: str, document: dict[str, Any]) -> None:
        data = dumps(document)
        self.records.store.put(key, data)
        _kept[key] = (data, document)

    def _fold_events(self, changed: list[dict[str, Any]], deadline: Deadline, now: datetime) -> None:
        index = self._for_update(EVENTS_KEY)
        if index is None or not index.get("complete"):
            index = self._rebuild_events(index, deadline)
        known: dict[str, str] = index["statuses"]
        open_events: dict[str, Any] = index["open"]
        recent: dict[str, Any] = {e["id"]: e for e in index.get("recent") or []}
        for event in changed:
            status = str(event.get("status"))
            known[event["id"]] = status
            shown = public_event(event)
            if status in ("pending", "failed"):
                open_events[event["id"]] = shown
            else:
                open_events.pop(event["id"], None)
            recent[event["id"]] = shown
        index["recent"] = _newest(recent.values())
        index["counts"] = _count(known.values())
        index["updatedAt"] = now.isoformat()
        self._write(EVENTS_KEY, index)

    def forget(self, event_ids: list[str], now: datetime) -> None:
        """Drop deleted events from the events index (retention)."""
        with _lock:
            if not event_ids:
                return
            index = self._for_update(EVENTS_KEY)
            if index is None:
                return
            gone = set(event_ids)
            for event_id in gone:
                index["statuses"].pop(event_id, None)
                index["open"].pop(event_id, None)
            index["recent"] = [e for e in index.get("recent") or [] if e.get("id") not in gone]
            index["counts"] = _count(index["statuses"].values())
            index["updatedAt"] = now.isoformat()
            self._write(EVENTS_KEY, index)

    # --- rebuilds, resumable --------------------------------------------------------------------

    def _rebuild_jobs(self, partial: dict[str, Any] | None, deadline: Deadline) -> dict[str, Any]:
        index = partial or {"version": 1, "jobs": {}, "complete": False, "after": ""}
        lines: dict[str, Any] = index["jobs"]

        def take(record: dict[str, Any]) -> None:
            if "jobId" in record:
                lines[record["jobId"]] = {**lines.get(record["jobId"], {}), **line_of(record)}

        self._resume("jobs/", index, deadline, take)
        index["rebuilt"] = True
        return index

    def _rebuild_events(self, partial: dict[str, Any] | None, deadline: Deadline) -> dict[str, Any]:
        index = partial or {"version": 1, "statuses": {}, "open": {}, "complete": False, "after": ""}
        recent: list[dict[str, Any]] = list(index.get("recent") or [])

        def take(event: dict[str, Any]) -> None:
            if "id" not in event:
                return
            index["statuses"][event["id"]] = str(event.get("status"))
            shown = public_event(event)
            if event.get("status") in ("pending", "failed"):
                index["open"][event["id"]] = shown
            recent.append(shown)

        self._resume("events/", index, deadline, take)
        index["recent"] = _newest(recent)
        return index

    def _resume(
        self, prefix: str, index: dict[str, Any], deadline: Deadline, take: Callable[[dict[str, Any]], None]
    ) -> None:
        """Hand each document under ``prefix`` after ``index["after"]`` to ``take`` until the deadline nears; the
        index records where it stopped, and ``complete`` once it went through (the next sweep resumes there)."""
        after = str(index.get("after") or "")
        for key in self.records.store.list(prefix, start_after=after):
            if deadline.expired(5.0):
                break
            after = key
            try:
                document = self.records.load(key)
            except JobwatchError:
                continue
            if document is not None:
                take(document)
        else:
            index["complete"] = True
        index["after"] = after


def _newest(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    ordered = sorted(events, key=lambda e: (str(e.get("createdAt") or ""), str(e.get("id"))), reverse=True)
    return ordered[:RECENT]


def _count(statuses: Iterable[str]) -> dict[str, int]:
    counts = {"pending": 0, "delivered": 0, "failed": 0}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    return counts
