"""Following a batch's objects across sweeps: counts, a truthful "finished", and the completion report.

Per batch a track (``tracks/<jobId>.json``) keeps, for each child stream (a workflow of a Workflow batch, or the Job
batch's media jobs), a creation-time watermark with the ids seen at its second; the objects still active; the
counts; and the report rows not yet written. Each sweep, per stream: list what was created since the watermark
(oldest first), then list the ended children between the oldest active one and the watermark, so an object already
known to have ended is never listed as new again. Failed workflow executions get their reason from their detail.

Rows are written in creation order as soon as no older object can still change: to small segments, which become
CSV parts of at most 100,000 rows, so finishing a batch of a million objects needs no giant pass at the end. A
batch is finished when CI says it is terminal, every stream has been listed to its end since, and no object is
active; then the manifest is written (once, last) and the terminal event is created.

A sweep works on a batch only while it holds that track's next version (a conditional create in ``claims/``, leased
until its invocation's deadline), so overlapping sweeps never write an object twice nor lose one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from . import events as ev
from . import report, times
from .ci.children import Child, ChildPage
from .ci.models import TERMINAL_STATES, Job
from .config import Settings
from .deadline import Deadline
from .errors import JobwatchError, StoreError
from .records import Records

log = logging.getLogger("jobwatch.objects")

REQUESTS_PER_SWEEP = 1000  # CI requests for objects per sweep, shared fairly across batches
MIN_REQUESTS_PER_BATCH = 2  # a new-objects page and an ended-objects page
PROGRESS_INTERVAL = timedelta(minutes=5)
WORKERS = 8
EPOCH = "1970-01-01T00:00:00+00:00"

CreateEvent = Callable[..., list[dict[str, Any]]]


class ObjectSource(Protocol):
    """The part of the CI client object tracking uses."""

    def list_children_page(
        self,
        *,
        batch_id: str,
        workflow_id: str | None = None,
        tag: str | None = None,
        queue_id: str | None = None,
        states: Sequence[str] = (),
        start_creation_time: datetime | None = None,
        end_creation_time: datetime | None = None,
        order: str = "Asc",
        size: int = 100,
        next_token: str = "",
        deadline: Deadline | None = None,
    ) -> ChildPage: ...

    def execution_failure(self, run_id: str, *, deadline: Deadline | None = None) -> tuple[str, str, str]: ...


@dataclass
class TrackOutcome:
    job_id: str
    events: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    finished: bool = False
    skipped: bool = False
    bad_entries: int = 0
    record: dict[str, Any] | None = None  # the job record, when its counts were written


class Allowance:
    """CI requests one batch may still make this sweep, within the deadline."""

    def __init__(self, limit: int, deadline: Deadline, margin: float) -> None:
        self.left, self.deadline, self.margin = limit, deadline, margin

    def take(self) -> bool:
        if self.left <= 0 or self.deadline.expired(self.margin):
            return False
        self.left -= 1
        return True


def new_track(job_id: str, job_type: str, operation: dict[str, Any], created: str | None) -> dict[str, Any]:
    """An empty track: one stream per workflow (Workflow) or one for the media jobs (Job)."""
    streams: dict[str, dict[str, Any]] = {}
    if job_type == "Workflow":
        for workflow in [w.strip() for w in str(operation.get("WorkflowIds") or "").split(",") if w.strip()]:
            streams[workflow] = {"query": {"workflow_id": workflow}}
    elif operation.get("Tag"):
        query = {"tag": str(operation["Tag"])}
        if operation.get("QueueId"):
            query["queue_id"] = str(operation["QueueId"])
        streams["jobs"] = {"query": query}
    for stream in streams.values():
        stream.update(watermark=created or EPOCH, edge=[], reachedEnd=False)
    return {
        "jobId": job_id, "type": job_type, "version": 0, "streams": streams, "active": {}, "rows": [],
        "counts": {"seen": 0, "succeeded": 0, "failed": 0, "cancelled": 0, "active": 0},
        "segments": [], "parts": [], "badEntries": 0, "finished": False, "progressSeq": 0, "lastProgressAt": None,
    }  # fmt: skip


class Tracker:
    """One sweep's object work over the batches it is given."""

    def __init__(
        self,
        settings: Settings,
        ci: ObjectSource,
        records: Records,
        create_event: CreateEvent,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        margin: float = 3.0,
        budget: int = REQUESTS_PER_SWEEP,
    ) -> None:
        self.settings, self.ci, self.records = settings, ci, records
        self.create_event, self.now, self.margin, self.budget = create_event, now, margin, budget

    def run(
        self, batches: dict[str, Job | None], deadline: Deadline, offset: int = 0
    ) -> tuple[list[TrackOutcome], int]:
        """Work on as many batches as the budget allows, starting at ``offset`` (rotating fairly across sweeps);
        returns the outcomes and the next offset."""
        ids = sorted(batches)
        if not ids:
            return [], 0
        start = offset % len(ids)
        share = max(MIN_REQUESTS_PER_BATCH, self.budget // len(ids))
        chosen = (ids[start:] + ids[:start])[: max(1, self.budget // share)]

        def one(job_id: str) -> TrackOutcome:
            try:
                return self._one(job_id, batches[job_id], share, deadline)
            except JobwatchError as exc:
                log.warning("objects of %s not followed this sweep: %s", job_id, exc)
                return TrackOutcome(job_id, error=f"{exc.code}: objects of {job_id}: {exc}")

        with ThreadPoolExecutor(min(WORKERS, len(chosen)), thread_name_prefix="objects") as pool:
            outcomes = list(pool.map(one, chosen))
        return outcomes, (start + len(chosen)) % len(ids)

    # --- one batch ------------------------------------------------------------------------------

    def _one(self, job_id: str, job: Job | None, share: int, deadline: Deadline) -> TrackOutcome:
        record = None
        if job is None or job.terminal:
            record = self.records.job(job_id)
            if record is None or record.get("nonExistent"):
                self.records.delete_open(job_id)  # nothing left to follow
                return TrackOutcome(job_id, finished=True)
        track = self.records.track(job_id)
        if track is None:
            basis = job.to_dict() if job is not None else record or {}
            track = new_track(job_id, str(basis.get("type")), dict(basis.get("operation") or {}),
                              basis.get("creationTime"))  # fmt: skip
            self.records.put_open(job_id)
            if not self.records.create_track(track):
                track = self.records.track(job_id) or track  # another sweep started it first: follow theirs
        if track.get("finished"):  # a sweep finished it and died before tidying up
            self._collect(track)
            self.records.delete_open(job_id)
            return TrackOutcome(job_id, finished=True)
        version = int(track["version"]) + 1
        now = self.now()
        if not self.records.lease(f"track-{job_id}", version, now, deadline):
            self._maybe_take_over(job_id, version, now)
            return TrackOutcome(job_id, skipped=True)
        try:
            current = self.records.track(job_id)  # our copy may be stale: another sweep may have moved it on
            if current is None or int(current["version"]) + 1 != version:
                return TrackOutcome(job_id, skipped=True)
            state = job.state if job is not None else str((record or {}).get("state"))
            outcome = self._work(current, state, Allowance(share, deadline, self.margin), deadline)
            current["version"] = version
            self.records.put_track(current)
            if outcome.finished:  # saved as finished: no later sweep works on it, so its leftovers go now
                self._collect(current)
                self.records.delete_open(job_id)
            return outcome
        finally:
            self.records.delete_claim(f"track-{job_id}", version)

    def _maybe_take_over(self, job_id: str, version: int, now: datetime) -> None:
        """The holder of ``version`` died if its lease ran out: skip that version so the next sweep can go on."""
        if not self.records.lapsed(f"track-{job_id}", version, now):
            return
        current = self.records.track(job_id)
        if current is not None and int(current["version"]) + 1 == version:
            current["version"] = version
            self.records.put_track(current)
            self.records.delete_claim(f"track-{job_id}", version)

    def _collect(self, track: dict[str, Any]) -> None:
        """Delete the segments a part replaced; only ever for a track version that was saved naming that part."""
        for key in track.get("garbage", []):
            self.records.store.delete(key)
        track["garbage"] = []

    def _work(self, track: dict[str, Any], state: str, allowance: Allowance, deadline: Deadline) -> TrackOutcome:
        job_id = track["jobId"]
        terminal = state in TERMINAL_STATES
        outcome = TrackOutcome(job_id)
        self._collect(track)
        bad_before = int(track.get("badEntries", 0))
        for name, stream in track["streams"].items():
            self._list_new(track, name, stream, allowance, deadline)
            self._recheck(track, name, stream, allowance, deadline)
        self._find_reasons(track, allowance, deadline)
        outcome.bad_entries = int(track.get("badEntries", 0)) - bad_before
        finished = (
            terminal and not track["active"] and all(s["reachedEnd"] for s in track["streams"].values())
            and not any(r.get("needsReason") for r in track["rows"])
        )  # fmt: skip
        self._flush(track, finished)
        counts = self._counts(track, finished)
        record = self._update_record(track, counts, need=finished or self.settings.notify_on == "all")
        outcome.record = record
        if finished and (record is None or record.get("state") not in TERMINAL_STATES):
            finished = False  # CI ended the batch but its record has not (that write failed): finish once it has
        if finished:
            outcome.events += self._finish(track, record, counts)
            outcome.finished = True
        elif self.settings.notify_on == "all" and record is not None:
            outcome.events += self._progress(track, record, counts)
        return outcome

    # --- listing --------------------------------------------------------------------------------

    def _list_new(
        self, track: dict[str, Any], name: str, stream: dict[str, Any], allowance: Allowance, deadline: Deadline
    ) -> None:
        """Children created since the watermark, oldest first, to the end of the list or of the allowance."""
        stream["reachedEnd"] = False
        start, token = times.at(stream["watermark"]), ""
        while allowance.take():
            page = self.ci.list_children_page(batch_id=track["jobId"], **stream["query"], start_creation_time=start,
                                              order="Asc", next_token=token, deadline=deadline)  # fmt: skip
            track["badEntries"] = int(track.get("badEntries", 0)) + page.skipped
            for child in page.children:
                self._see(track, name, stream, child)
            token = page.next_token
            if not token or not page.children:
                stream["reachedEnd"] = True
                return

    def _see(self, track: dict[str, Any], name: str, stream: dict[str, Any], child: Child) -> None:
        created = child.creation_time.isoformat() if child.creation_time else stream["watermark"]
        if child.child_id in stream["edge"] or child.child_id in track["active"]:
            return  # listed before, at the watermark's own second
        if times.at(created) > times.at(stream["watermark"]):
            stream["watermark"], stream["edge"] = created, [child.child_id]
        else:
            stream["edge"].append(child.child_id)
        track["counts"]["seen"] += 1
        if child.terminal:
            self._ended(track, child, name)
        else:
            track["active"][child.child_id] = {"object": child.object, "state": child.state, "stream": name,
                                               "creationTime": created}  # fmt: skip

    def _recheck(
        self, track: dict[str, Any], name: str, stream: dict[str, Any], allowance: Allowance, deadline: Deadline
    ) -> None:
        """Children that ended between the oldest active one and the watermark."""
        active = [a for a in track["active"].values() if a["stream"] == name]
        if not active:
            return
        start = min(times.at(a["creationTime"]) for a in active)
        end = max(times.at(a["creationTime"]) for a in active)  # nothing after the newest active one can matter
        token = ""
        while track["active"] and allowance.take():
            page = self.ci.list_children_page(batch_id=track["jobId"], **stream["query"], states=("Success", "Failed",
                                              "Cancel"), start_creation_time=start,
                                              end_creation_time=end, order="Asc",
                                              next_token=token, deadline=deadline)  # fmt: skip
            track["badEntries"] = int(track.get("badEntries", 0)) + page.skipped
            for child in page.children:
                if child.child_id in track["active"] and child.terminal:
                    del track["active"][child.child_id]
                    self._ended(track, child, name)
            token = page.next_token
            if not token or not page.children:
                return

    def _ended(self, track: dict[str, Any], child: Child, stream: str) -> None:
        row = report.row_of(child)
        if child.state == "Failed" and track["type"] == "Workflow" and not child.code:
            row["needsReason"] = True  # an execution's list entry does not say why: its detail does
        key = {"Success": "succeeded", "Failed": "failed", "Cancel": "cancelled"}[child.state]
        track["counts"][key] += 1
        track["rows"].append(row)

    def _find_reasons(self, track: dict[str, Any], allowance: Allowance, deadline: Deadline) -> None:
        for row in track["rows"]:
            if row.get("needsReason") and allowance.take():
                code, message, _ = self.ci.execution_failure(row["childId"], deadline=deadline)
                row.update(code=code or "Failed", message=message)
                del row["needsReason"]

    # --- rows, parts, report --------------------------------------------------------------------

    def _flush(self, track: dict[str, Any], finished: bool) -> None:
        """Write, in creation order, the rows no older object can come before any more."""
        if finished:
            ready, track["rows"] = track["rows"], []
        else:
            bounds = [a["creationTime"] for a in track["active"].values()]
            bounds += [s["watermark"] for s in track["streams"].values()]
            bounds += [r["creationTime"] or EPOCH for r in track["rows"] if r.get("needsReason")]
            frontier = min((times.at(b) for b in bounds), default=None)
            ready = [r for r in track["rows"] if frontier is None or times.at(r["creationTime"]) < frontier]
            track["rows"] = [r for r in track["rows"] if not (frontier is None or times.at(r["creationTime"]) <
                                                                frontier)]  # fmt: skip
        ready.sort(key=report.order_key)
        rows = [r for r in ready if report.in_scope(r, self.settings.report_scope)]
        # A part holds at most MAX_PART_ROWS rows and MAX_PART_BYTES bytes (one SCF answer), header included.
        room_bytes = report.MAX_PART_BYTES - len(report.csv_bytes([], header=True))
        open_rows = sum(int(s["rows"]) for s in track["segments"])
        open_bytes = sum(int(s.get("bytes", 0)) for s in track["segments"])
        chunk: list[bytes] = []
        for row in rows:
            line = report.csv_bytes([row], header=False)
            full = open_rows + len(chunk) >= report.MAX_PART_ROWS or open_bytes + len(line) > room_bytes
            if full and (chunk or track["segments"]):
                self._segment(track, chunk)
                self._assemble(track)
                chunk, open_rows, open_bytes = [], 0, 0
            chunk.append(line)
            open_bytes += len(line)
        self._segment(track, chunk)
        if finished and track["segments"]:
            self._assemble(track)

    def _segment(self, track: dict[str, Any], lines: list[bytes]) -> None:
        """Rows (CSV lines) waiting to become part of the next part, stored on their own."""
        if not lines:
            return
        number = int(track.get("segmentSeq", 0)) + 1
        key = self.records.segment_key(track["jobId"], number)
        data = b"".join(lines)
        self.records.store.put(key, data)
        track["segmentSeq"] = number
        track["segments"].append({"key": key, "rows": len(lines), "bytes": len(data)})

    def _assemble(self, track: dict[str, Any]) -> None:
        """The open segments become the next part (header + their rows); the segments are then removed."""
        bodies = []
        for segment in track["segments"]:
            data = self.records.store.get(segment["key"])
            if data is None:
                raise StoreError(f"report segment {segment['key']} is missing")
            bodies.append(data)
        data = report.csv_bytes([], header=True) + b"".join(bodies)
        number = len(track["parts"]) + 1
        key = report.part_key(track["jobId"], number)
        self.records.store.put(key, data)
        track["parts"].append({"key": key, "rows": sum(int(s["rows"]) for s in track["segments"]),
                               "md5": report.md5_hex(data)})  # fmt: skip
        # Deleted only once a track naming the part is saved (next sweep): a crash before leaves them usable.
        track.setdefault("garbage", []).extend(s["key"] for s in track["segments"])
        track["segments"] = []

    def _counts(self, track: dict[str, Any], finished: bool) -> dict[str, Any]:
        counts = dict(track["counts"])
        counts["active"] = len(track["active"])
        track["counts"] = counts
        return {**counts, "total": counts["seen"] if finished else None}

    def _update_record(self, track: dict[str, Any], counts: dict[str, Any], need: bool) -> dict[str, Any] | None:
        """Put the counts on the job record when they moved (no read at all when they did not and none is needed)."""
        if track.get("recorded") == counts and not need:
            return None
        record = self.records.job(track["jobId"])
        if record is None:
            return None
        shown = {k: v for k, v in (record.get("objects") or {}).items() if k != "updatedAt"}
        if shown != counts:
            record["objects"] = {**counts, "updatedAt": self.now().isoformat()}
            self.records.put_job(record)
        track["recorded"] = counts
        return record

    def _finish(self, track: dict[str, Any], record: dict[str, Any] | None, counts: dict[str, Any]) -> list[Any]:
        job_id = track["jobId"]
        now = self.now()
        document = report.manifest(job_id, now, self.settings.report_scope, counts, track["parts"])
        self.records.create_manifest(document)  # once: a second finisher finds it there
        track["finished"] = True
        created: list[dict[str, Any]] = []
        if record is not None and record.get("state") in TERMINAL_STATES:
            history = record.get("history") or []
            previous = history[-2]["state"] if len(history) >= 2 else None
            kind = ev.finished_type(str(record["state"]), counts)
            watch = self.records.watch(job_id) or self.records.finished_watch(job_id)
            extra = {"objects": counts, "report": self.records.store.url(self.records.manifest_key(job_id))}
            created = self.create_event(kind, record, previous, len(history), watch, now, extra=extra)
        return created

    def _progress(self, track: dict[str, Any], record: dict[str, Any], counts: dict[str, Any]) -> list[Any]:
        now = self.now()
        last = track.get("lastProgressAt")
        if not counts["seen"] or track.get("progressCounts") == counts:
            return []
        if last and now - times.at(last) < PROGRESS_INTERVAL:
            return []
        track["progressSeq"] = int(track.get("progressSeq", 0)) + 1
        track.update(lastProgressAt=now.isoformat(), progressCounts=counts)
        watch = self.records.watch(track["jobId"]) or self.records.finished_watch(track["jobId"])
        history = record.get("history") or []
        previous = history[-2]["state"] if len(history) >= 2 else None
        return self.create_event(ev.PROGRESS, record, previous, track["progressSeq"], watch, now,
                                 extra={"objects": counts})  # fmt: skip


def tracked_rows(records: Records, job_id: str) -> Iterator[dict[str, Any]]:
    """Every object tracked so far, as report rows: written parts and segments, then ended rows not yet written,
    then the active ones (state as last seen)."""
    track = records.track(job_id)
    if track is None:
        return
    header = report.csv_bytes([], header=True)
    for item, headed in [
        *((p, True) for p in track.get("parts", [])),
        *((s, False) for s in track.get("segments", [])),
    ]:
        data = records.store.get(item["key"])
        if data is not None:  # segments are stored without the header row
            yield from report.read_rows(data if headed else header + data)
    yield from sorted(({k: v for k, v in r.items() if k != "needsReason"} for r in track.get("rows", [])),
                      key=report.order_key)  # fmt: skip
    for child_id, active in sorted(track.get("active", {}).items(), key=lambda kv: (kv[1]["creationTime"], kv[0])):
        yield {"object": active["object"], "state": active["state"], "code": "", "message": "", "childId": child_id,
               "output": "", "creationTime": active["creationTime"], "startTime": None, "endTime": None}  # fmt: skip
