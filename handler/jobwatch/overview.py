"""The indexes sweeps keep, so a page view or a list reads a few small objects, whatever the store holds.

Two books of pages (``book.py``), newest last:
- ``index/jobs/``: a summary line per job (type, name, state, times, object counts, its events' delivery status),
  by creation time. Its root (``index/jobs/root.json``) carries the newest page itself, the counts by state and a
  line per older page: the jobs table's first page is one read.
- ``index/events/``: a line per event (the event as answers show it, without its body), by creation time. Its root
  carries counts by status, overall and per page, so the pending and failed lists read only pages that hold some.

One writer at a time changes a book: a sweep takes the book's lease (a claim on its next sequence number) and
writes the pages it changed, then the root. A sweep that cannot get the lease stores its changes as a delta
(``index/delta/``, a key of its own, so nothing is written over) and the next writer applies the deltas first: no
update is lost to overlapping sweeps, for finished jobs and event statuses too. A missing index (or one an earlier
version kept in ``index/jobs.json`` and ``index/events.json``) is rebuilt from the records, a slice per sweep within
its deadline; until it is complete, lists read the records themselves.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from . import book
from .book import Book, Key
from .ci.models import TERMINAL_STATES, Job
from .deadline import Deadline
from .errors import JobwatchError
from .events import public_event
from .records import Records, dumps
from .report import time_key

log = logging.getLogger("jobwatch.overview")

BOOKS = ("jobs", "events")
ROOTS = {"jobs": "index/jobs/root.json", "events": "index/events/root.json"}
LEGACY = ("index/jobs.json", "index/events.json")  # the single documents of an earlier version
DELTAS = "index/delta/"
LINE_FIELDS = ("type", "name", "state", "creationTime", "startTime", "endTime", "objects", "nonExistent", "bucket",
               "region", "failing", "retryOf")  # fmt: skip
REBUILD_SLICE = 2000  # records read per sweep while an index is rebuilt
DELTA_SLICE = 50  # deltas applied per sweep
DELTA_LINES = 2000  # lines per delta document (a delta stays well under 1 MiB)
ATTEMPTS_SHOWN = 10  # an event line keeps its newest attempts
DELIVERIES_SHOWN = 20  # a job line keeps the delivery status of its newest events


def line_of(record: dict[str, Any]) -> dict[str, Any]:
    """A job's summary line, from its record."""
    line = {k: record.get(k) for k in LINE_FIELDS if record.get(k) is not None}
    line["updatedAt"] = record.get("updatedAt")
    return line


def event_line(event: dict[str, Any]) -> dict[str, Any]:
    """An event as lists show it: as answers show it, without its body, with its newest attempts."""
    shown = {k: v for k, v in public_event(event).items() if k != "payload"}
    shown["attempts"] = list(shown.get("attempts") or [])[-ATTEMPTS_SHOWN:]
    # where its job's line is: the job's creation time, which the event's body carries
    shown["jobCreationTime"] = ((event.get("payload") or {}).get("data") or {}).get("creationTime")
    return shown


def _job_key(job_id: str, created: object) -> Key:
    return (time_key(created), job_id)


def _status(kind: str) -> Any:
    field = "state" if kind == "jobs" else "status"
    return lambda line: str(line.get(field))


def _event_rank(line: dict[str, Any]) -> tuple[int, int, str, bool]:
    """How far an event has gone: a line never replaces one that has gone further (overlapping writers)."""
    return (int(line.get("round") or 0), len(line.get("attempts") or []), str(line.get("replayedAt") or ""),
            line.get("status") != "pending")  # fmt: skip


def _job_fields(current: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` as they may change ``current``: a job that ended never shows as active again, and object counts
    never go back to older ones."""
    kept = dict(fields)
    if current.get("state") in TERMINAL_STATES and kept.get("state") not in (None, *TERMINAL_STATES):
        for name in ("state", "startTime", "endTime"):
            kept.pop(name, None)
    old, new = current.get("objects") or {}, kept.get("objects") or {}
    if new and str(new.get("updatedAt") or "") < str(old.get("updatedAt") or ""):
        kept.pop("objects")
    return kept


class Changes:
    """What one sweep (or a delta) changes in the books: job fields and event lines by id, and lines to remove."""

    def __init__(self) -> None:
        self.jobs: dict[str, tuple[Key, dict[str, Any]]] = {}
        self.events: dict[str, tuple[Key, dict[str, Any]]] = {}
        self.gone: dict[str, list[Key]] = {"jobs": [], "events": []}

    def job(self, key: Key, fields: dict[str, Any]) -> None:
        _, current = self.jobs.get(key[1], (key, {}))
        self.jobs[key[1]] = (key, {**current, **_job_fields(current, fields)})

    def event(self, key: Key, line: dict[str, Any]) -> None:
        current = self.events.get(key[1])
        if current is None or _event_rank(line) >= _event_rank(current[1]):
            self.events[key[1]] = (key, line)

    def add_event(self, event: dict[str, Any]) -> None:
        self.event((time_key(event.get("createdAt")), event["id"]), event_line(event))

    def then(self, later: Changes) -> None:
        """``later``'s changes on top of these."""
        for key, fields in later.jobs.values():
            self.job(key, fields)
        for key, line in later.events.values():
            self.event(key, line)
        for kind in BOOKS:
            self.gone[kind] += later.gone[kind]

    def empty(self) -> bool:
        return not (self.jobs or self.events or self.gone["jobs"] or self.gone["events"])

    def chunks(self) -> Iterator[dict[str, Any]]:
        """The changes as delta documents of at most ``DELTA_LINES`` lines each."""
        items: list[list[Any]] = [["jobs", list(k), v] for k, v in self.jobs.values()]
        items += [["events", list(k), v] for k, v in self.events.values()]
        items += [["gone-" + kind, list(key), {}] for kind in BOOKS for key in self.gone[kind]]
        for start in range(0, len(items), DELTA_LINES):
            yield {"items": items[start : start + DELTA_LINES]}

    @classmethod
    def of(cls, delta: dict[str, Any]) -> Changes:
        found = cls()
        for kind, key, line in delta.get("items", []):
            pair = (str(key[0]), str(key[1]))
            if kind == "jobs":
                found.job(pair, line)
            elif kind == "events":
                found.event(pair, line)
            elif kind in ("gone-jobs", "gone-events"):
                found.gone[kind[len("gone-") :]].append(pair)
        return found


class Overview:
    """Reads and maintains the indexes of one store."""

    def __init__(self, records: Records) -> None:
        self.records = records

    # --- reads --------------------------------------------------------------------------------

    def root(self, kind: str) -> dict[str, Any] | None:
        """A book's root when the index is complete (lists read it), else None (lists read the records)."""
        try:
            root = self.records.load(ROOTS[kind])
        except JobwatchError:
            return None
        return root if root is not None and (root.get("rebuild") or {}).get("complete") else None

    def present(self) -> bool:
        """Both books are complete and no delta waits: a quiet sweep has nothing to fold."""
        if next(iter(self.records.store.list(DELTAS)), None) is not None:
            return False
        return all(self.root(kind) is not None for kind in BOOKS)

    @staticmethod
    def lines(
        records: Records, root: dict[str, Any], after: Key | None, keep: Any, statuses: tuple[str, ...] = ()
    ) -> Iterator[tuple[Key, dict[str, Any] | None]]:
        return book.newest_first(records, root, after, keep, statuses)

    # --- maintenance (sweeps) -----------------------------------------------------------------

    def fold(
        self,
        observed: Iterable[Job],
        records: Iterable[dict[str, Any]],
        events: Iterable[dict[str, Any]],
        deadline: Deadline,
        now: datetime,
    ) -> None:
        """Fold one sweep's observations into the indexes (with what overlapping sweeps left as deltas)."""
        changes = Changes()
        for job in observed:
            data = job.scalars()
            fields = {k: data[k] for k in ("type", "name", "state", "creationTime", "startTime", "endTime")}
            changes.job(_job_key(job.job_id, data.get("creationTime")), fields)
        for record in records:
            changes.job(_job_key(record["jobId"], record.get("creationTime")), line_of(record))
        for event in events:
            changes.add_event(event)
        self.apply(changes, deadline, now)

    def forget(self, event_ids: list[tuple[str, str]], now: datetime, deadline: Deadline) -> None:
        """Drop deleted events (``(createdAt, id)`` pairs) from the events index (retention)."""
        changes = Changes()
        changes.gone["events"] = [(time_key(created), ident) for created, ident in event_ids]
        self.apply(changes, deadline, now)

    def forget_jobs(self, jobs: list[tuple[str, str]], now: datetime, deadline: Deadline) -> None:
        """Drop deleted jobs (``(creationTime, id)`` pairs) from the jobs index (retention)."""
        changes = Changes()
        changes.gone["jobs"] = [_job_key(ident, created) for created, ident in jobs]
        self.apply(changes, deadline, now)

    def apply(self, changes: Changes, deadline: Deadline, now: datetime) -> None:
        """Apply ``changes`` (and waiting deltas) as the books' writer, or store them as a delta for the next one."""
        roots = {kind: self._root(kind) for kind in BOOKS}
        fresh = {kind for kind in BOOKS if not roots[kind]["seq"] and self._nothing_else(kind, changes)}
        if self._settled(roots, changes):
            return  # nothing would change: no lease taken, nothing written
        held: list[tuple[str, int]] = []
        try:
            for kind in BOOKS:
                round_no = int(roots[kind].get("seq", 0)) + 1
                # the book's next sequence number; one whose holder died (before it saved the root, or the number
                # would have moved on) is taken over
                if not self.records.take_lease(f"index-{kind}", round_no, now, deadline):
                    break
                held.append((f"index-{kind}", round_no))
                current = self._root(kind)
                if int(current.get("seq", 0)) != round_no - 1:
                    break  # another writer saved since we read it: our changes wait as a delta
                roots[kind] = current
                if kind in fresh:
                    current["rebuild"]["complete"] = True  # a new store: these changes are all there is to index
            else:
                self._write(roots, changes, deadline, now)
                return
            if not changes.empty():
                for delta in changes.chunks():
                    stamp = now.strftime("%Y%m%d%H%M%S%f")
                    self.records.store.put(f"{DELTAS}{stamp}-{uuid.uuid4().hex[:8]}.json", dumps(delta))
        finally:
            for name, round_no in held:
                self.records.delete_claim(name, round_no)

    def _settled(self, roots: dict[str, dict[str, Any]], changes: Changes) -> bool:
        """The books are complete, no delta waits, and every change is already in its page (reads only)."""
        if any(not (roots[k].get("rebuild") or {}).get("complete") or roots[k].get("garbage") for k in BOOKS):
            return False
        if changes.gone["jobs"] or changes.gone["events"]:
            return False
        if any(True for _ in self.records.store.list(DELTAS)):
            return False
        books = {kind: Book(self.records, kind, roots[kind], _status(kind)) for kind in BOOKS}
        try:
            for key, line in changes.events.values():
                current = books["events"].page(books["events"].at(key))["lines"].get(key[1])
                if current is None or {k: v for k, v in current.items() if k != "_t"} != line:
                    return False
            for job_id, (key, fields) in changes.jobs.items():
                current = books["jobs"].page(books["jobs"].at(key))["lines"].get(job_id)
                if current is None or any(current.get(k) != v for k, v in _job_fields(current, fields).items()):
                    return False
        except JobwatchError:
            return False
        return True

    def _nothing_else(self, kind: str, changes: Changes) -> bool:
        """The store holds no record of ``kind`` but those ``changes`` carry (a listing of at most as many keys as they
        carry, plus one), and no index of an earlier version."""
        if any(True for _ in self.records.store.list(LEGACY[BOOKS.index(kind)])):
            return False
        carried = changes.jobs if kind == "jobs" else changes.events
        keys = {Records.job_key(i) if kind == "jobs" else Records.event_key(i) for i in carried}
        listed = itertools.islice(self.records.store.list(f"{kind}/"), len(keys) + 1)
        return all(key in keys for key in listed)  # a key these changes do not carry ends the listing

    def _root(self, kind: str) -> dict[str, Any]:
        try:
            root = self.records.load(ROOTS[kind])
        except JobwatchError:
            root = None  # unreadable: rebuilt
        return root or {"version": 2, "seq": 0, "metas": [], "rebuild": {"after": "", "complete": False}}

    def _write(self, roots: dict[str, dict[str, Any]], changes: Changes, deadline: Deadline, now: datetime) -> None:
        books = {
            kind: Book(self.records, kind, roots[kind], _status(kind), inline_head=kind == "jobs") for kind in BOOKS
        }
        found = Changes()
        for kind in BOOKS:
            if not (roots[kind].get("rebuild") or {}).get("complete"):
                self._rebuild(kind, roots[kind], found, deadline)
        applied: list[str] = []
        for key in self.records.store.list(DELTAS):  # oldest first: their stamps sort by time
            if len(applied) >= DELTA_SLICE or deadline.expired(5.0):
                break
            with contextlib.suppress(JobwatchError):  # a damaged delta is dropped: its lines come back with their
                found.then(Changes.of(self.records.load(key) or {}))  # records' next fold
            applied.append(key)
        found.then(changes)
        self._put(books, found)
        for kind in BOOKS:
            books[kind].save()
            roots[kind]["updatedAt"] = now.isoformat()
            garbage = [*roots[kind].get("garbage", []), *books[kind].garbage]
            roots[kind]["garbage"] = books[kind].garbage  # removed below; named until a later root drops them
            self.records.store.put(ROOTS[kind], dumps(roots[kind]))
            for key in garbage:
                self.records.store.delete(key)
        for key in applied:
            self.records.store.delete(key)

    @staticmethod
    def _put(books: dict[str, Book], changes: Changes) -> None:
        """Changes into pages; an event's delivery status also goes on its job's line."""
        jobs, events = books["jobs"], books["events"]
        statuses: dict[str, dict[str, Any]] = {}
        for key, line in changes.events.values():
            current = events.page(events.at(key))["lines"].get(key[1])
            if current is not None and _event_rank(current) > _event_rank(line):
                continue  # a writer before us saw it further along
            events.put(key, line)
            created = str(line.get("jobCreationTime") or "")
            statuses.setdefault(str(line.get("jobId")), {"created": created, "deliveries": {}})
            statuses[str(line.get("jobId"))]["deliveries"][key[1]] = line.get("status")
        for job_id, (key, fields) in changes.jobs.items():
            current = jobs.page(jobs.at(key))["lines"].get(job_id, {})
            line = {k: v for k, v in {**current, **_job_fields(current, fields)}.items() if k != "_t"}
            line["jobId"] = job_id
            deliveries = {**current.get("deliveries", {}), **statuses.pop(job_id, {}).get("deliveries", {})}
            if deliveries:
                line["deliveries"] = dict(list(deliveries.items())[-DELIVERIES_SHOWN:])
            jobs.put(key, line)
        for job_id, status in statuses.items():  # events of jobs this sweep did not otherwise touch
            key = _job_key(job_id, status["created"] or None)
            current = jobs.page(jobs.at(key))["lines"].get(job_id)
            if current is not None:
                deliveries = {**current.get("deliveries", {}), **status["deliveries"]}
                jobs.put(key, {**{k: v for k, v in current.items() if k != "_t"},
                               "deliveries": dict(list(deliveries.items())[-DELIVERIES_SHOWN:])})  # fmt: skip
        for kind in BOOKS:
            for key in changes.gone[kind]:
                books[kind].remove(key)

    def _rebuild(self, kind: str, root: dict[str, Any], found: Changes, deadline: Deadline) -> None:
        """Lines from the records, a slice per sweep, resumed where the last one stopped."""
        state = root.setdefault("rebuild", {"after": "", "complete": False})
        prefix = "jobs/" if kind == "jobs" else "events/"
        after, read = str(state.get("after") or ""), 0
        for key in self.records.store.list(prefix, start_after=after):
            if read >= REBUILD_SLICE or deadline.expired(5.0):
                break
            after, read = key, read + 1
            try:
                document = self.records.load(key)
            except JobwatchError:
                continue
            if document is None:
                continue
            if kind == "jobs" and "jobId" in document:
                found.job(_job_key(document["jobId"], document.get("creationTime")), line_of(document))
            elif kind == "events" and "id" in document:
                found.add_event(document)
        else:
            state["complete"], after = True, ""
            for legacy in LEGACY:
                self.records.store.delete(legacy)
        state["after"] = after
