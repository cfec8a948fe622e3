"""Following a batch's objects across sweeps: counts, a truthful "finished", and the completion report.

Per batch a track (``tracks/<jobId>.json``, small at any size) keeps, for each child stream (a workflow of a Workflow
batch, or the Job batch's media jobs), a creation-time watermark with the ids seen at its second and a line per span
(``spans.py``: the stream's objects in creation order, a document each); the counts; and where the report stands.
Each sweep, per stream:
- list what was created since the watermark, oldest first: each object is listed as new once;
- refresh the open spans (those holding active objects), oldest first, each run of adjacent open spans with one
  listing of the ended children between its oldest and newest active object, resuming where the last sweep's budget
  ran out; a span whose objects have all ended is never listed again;
- ask why failed workflow executions failed (their detail).
Rows are written in creation order as soon as no older object can still change (``parts.py``), at most
``FLUSH_ROWS`` a sweep. A batch is finished when CI says it is terminal, every stream has been listed to its end since,
no object is active and every row is written; then the manifest is written (once, last) and the terminal event made.

A sweep that changes nothing writes nothing. One that does takes the track's next version first (a conditional create
in ``claims/``, leased until its invocation's deadline) and checks the track did not move meanwhile, so overlapping
sweeps never write an object twice nor lose one; span documents are written copy-on-write, so a sweep that dies
halfway leaves the saved track whole.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from . import events as ev
from . import failing, report, spans, times
from .ci.models import TERMINAL_STATES, Job
from .config import Settings
from .deadline import Deadline
from .errors import CITransientError, JobwatchError, StoreError
from .listing import Allowance, Lister, ObjectSource
from .parts import PartWriter
from .records import Records, dumps
from .spans import Spans

log = logging.getLogger("jobwatch.objects")

REQUESTS_PER_SWEEP = 1000  # CI requests for objects per sweep, shared fairly across batches
MIN_REQUESTS_PER_BATCH = 2  # a new-objects page and an ended-objects page
FLUSH_ROWS = 100_000  # report rows one batch writes per sweep (five parts)
PROGRESS_INTERVAL = timedelta(minutes=5)
WORKERS = 8
LAYOUT = 2  # tracks of layout 1 kept every active object and unwritten row in the track itself

CreateEvent = Callable[..., list[dict[str, Any]]]


@dataclass
class TrackOutcome:
    job_id: str
    events: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    finished: bool = False
    skipped: bool = False
    bad_entries: int = 0
    record: dict[str, Any] | None = None  # the job record, when its counts were written


def _previous(record: dict[str, Any]) -> str | None:
    """The state a job was in before its latest (an event's ``previousState``)."""
    history = record.get("history") or []
    return str(history[-2]["state"]) if len(history) >= 2 else None


class _Busy(Exception):
    """Another sweep holds (or moved) this track: this sweep leaves the batch alone."""


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
        stream.update(watermark=created or times.EPOCH.isoformat(), edge=[], spans=[])
    return {
        "jobId": job_id, "type": job_type, "layout": LAYOUT, "version": 0, "streams": streams,
        "counts": {"seen": 0, "succeeded": 0, "failed": 0, "cancelled": 0, "active": 0},
        "segments": [], "parts": [], "flushed": None, "badEntries": 0, "finished": False, "progressSeq": 0,
        "lastProgressAt": None,
    }  # fmt: skip


def migrate(track: dict[str, Any], spans_: Spans) -> None:
    """A layout-1 track (every active object and unwritten row inside it) moved into spans, in memory."""
    if "active" not in track and "rows" not in track:
        return
    first = next(iter(track["streams"]), None)
    entries = [(report.order_key({**a, "childId": i}), a.get("stream") or first, i, a, False)
               for i, a in track.pop("active", {}).items()]  # fmt: skip
    entries += [(report.order_key(r), first, r.get("childId"), r, True) for r in track.pop("rows", [])]
    for key, stream, child_id, item, is_row in sorted(entries, key=lambda e: e[0]):
        if stream is None or stream not in track["streams"]:
            continue
        item = dict(item)
        size = len(dumps(item))
        line = spans_.place(stream, key, size)
        document = spans_.doc(line)
        if is_row:
            document["rows"].append(item)
        else:
            item.pop("stream", None)
            document["active"][child_id] = item
        spans_.grow(line, size)
        spans_.touch(line)
    for stream in track["streams"].values():
        stream.pop("reachedEnd", None)
        stream.setdefault("spans", [])
    track.update(layout=LAYOUT, flushed=track.get("flushed"))


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
            self._tidy(track)  # (its garbage included)
            self.records.delete_open(job_id)
            return TrackOutcome(job_id, finished=True)
        version = int(track["version"]) + 1
        held: list[int] = []
        now = self.now()

        def hold() -> int:
            """Take the track's next version before the first write; ``_Busy`` when another sweep has it."""
            if not held:
                if not self.records.lease(f"track-{job_id}", version, now, deadline):
                    self._maybe_take_over(job_id, version, now)
                    raise _Busy
                held.append(version)
                current = self.records.track(job_id)
                if current is None or int(current["version"]) + 1 != version:
                    raise _Busy  # it moved since we read it: our work is on a stale copy
            return version

        named = track.pop("garbage", [])  # what the saved track says is left to delete (deleted when we write)
        before = dumps(track)
        spans_ = Spans(self.records, track, hold)
        try:
            state = job.state if job is not None else str((record or {}).get("state"))
            outcome = self._work(track, spans_, state, Allowance(share, deadline, self.margin), deadline, hold)
            if spans_.changed or dumps(track) != before:
                hold()
                for key in named:  # a saved track named them: no reader needs them (deleted again after a crash)
                    self.records.store.delete(key)
                spans_.save()
                # the saved track names only this sweep's leftovers, deleted right after it: the list stays short
                track["garbage"] = [*track.get("garbage", []), *spans_.garbage]
                track["version"] = version
                self.records.put_track(track)
                self._collect(track)
            if outcome.finished:  # saved as finished: no later sweep works on it, so its leftovers go now
                self._tidy(track)
                self.records.delete_open(job_id)
            return outcome
        except _Busy:
            return TrackOutcome(job_id, skipped=True)
        except StoreError:
            if self._moved(job_id, version):
                return TrackOutcome(job_id, skipped=True)  # another sweep saved a newer track (and removed spans)
            raise
        finally:
            if held:
                self.records.delete_claim(f"track-{job_id}", version)

    def _moved(self, job_id: str, version: int) -> bool:
        current = self.records.track(job_id)
        return current is not None and int(current["version"]) + 1 != version

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
        """Delete what the saved track no longer names (old span versions, segments a part replaced)."""
        for key in track.get("garbage", []):
            self.records.store.delete(key)
        track["garbage"] = []

    def _tidy(self, track: dict[str, Any]) -> None:
        """A finished batch keeps its track (counts, parts) and nothing else under ``tracks/<jobId>/``."""
        self._collect(track)
        for key in list(self.records.store.list(f"tracks/{track['jobId']}/")):
            self.records.store.delete(key)

    def _work(
        self,
        track: dict[str, Any],
        spans_: Spans,
        state: str,
        allowance: Allowance,
        deadline: Deadline,
        hold: Callable[[], int],
    ) -> TrackOutcome:
        job_id = track["jobId"]
        outcome = TrackOutcome(job_id)
        migrate(track, spans_)
        bad_before = int(track.get("badEntries", 0))
        lister = Lister(self.ci, track, spans_, allowance, deadline, self.now())
        ended = []
        for name, stream in track["streams"].items():
            ended.append(lister.list_new(name, stream))
            lister.refresh(name, stream)
        lister.find_reasons()
        outcome.bad_entries = int(track.get("badEntries", 0)) - bad_before
        spans_.settle()
        lines = [line for s in track["streams"].values() for line in s["spans"]]
        settled = state in TERMINAL_STATES and all(ended) and not any(x["active"] or x["reasons"] for x in lines)
        finished = self._flush(track, spans_, settled, deadline, hold) and settled
        counts = self._counts(track, finished)
        if finished or track.get("recorded") != counts:
            hold()  # the record and events follow the track: only the sweep that writes it makes them
        record = self._update_record(track, counts, need=finished or self.settings.notify_on == "all")
        outcome.record = record
        if finished and (record is None or record.get("state") not in TERMINAL_STATES):
            finished = False  # CI ended the batch but its record has not (that write failed): finish once it has
        if finished:
            outcome.events += self._finish(track, record, counts)
            outcome.finished = True
        else:
            outcome.events += self._failing(track, record, counts, state, hold, outcome, deadline)
            if self.settings.notify_on == "all" and record is not None:
                outcome.events += self._progress(track, record, counts, hold)
        return outcome

    # --- failing batches ------------------------------------------------------------------------

    def _failing(
        self,
        track: dict[str, Any],
        record: dict[str, Any] | None,
        counts: dict[str, Any],
        state: str,
        hold: Callable[[], int],
        outcome: TrackOutcome,
        deadline: Deadline,
    ) -> list[Any]:
        """Once a batch not finished yet is failing: one ``ci.batchjob.failing`` event, and with
        ``JOBWATCH_CANCEL_WHEN_FAILING`` its cancellation (tried again on later sweeps until CI took it or the batch
        ended; never sent again once it did)."""
        settings = self.settings
        mark = track.get("failing")
        if mark is not None:
            if mark.get("action") == "cancelPending" and state not in TERMINAL_STATES:
                hold()
                self._cancel(track, mark, outcome, deadline)
                shown = record or self.records.job(track["jobId"])
                if mark["action"] != "cancelPending" and shown is not None and shown.get("failing"):
                    shown["failing"]["action"] = mark["action"]  # the record (and the page) say how it went
                    self.records.put_job(shown)
                    outcome.record = shown
            return []
        if not failing.is_failing(counts, settings.failing_min, settings.failing_ratio):
            return []
        hold()
        now = self.now()
        mark = track["failing"] = {"at": now.isoformat(), "objects": counts,
                                   "failureCodes": failing.top_codes(track.get("codes") or {})}  # fmt: skip
        if settings.cancel_when_failing and state not in TERMINAL_STATES:
            mark["action"] = "cancelPending"
            self._cancel(track, mark, outcome, deadline)
        record = record or self.records.job(track["jobId"])
        if record is None:
            return []
        record["failing"] = {k: mark[k] for k in ("at", "failureCodes") if k in mark} | (
            {"action": mark["action"]} if "action" in mark else {}
        )
        self.records.put_job(record)
        outcome.record = record
        watch = self.records.any_watch(track["jobId"])
        previous = _previous(record)
        extra = {"objects": counts, "failureCodes": mark["failureCodes"],
                 **({"action": mark["action"]} if "action" in mark else {})}  # fmt: skip
        return self.create_event(ev.FAILING, record, previous, 0, watch, now, extra=extra)

    def _cancel(self, track: dict[str, Any], mark: dict[str, Any], outcome: TrackOutcome, deadline: Deadline) -> None:
        """``PUT …?cancel`` of a failing batch: "cancelled" once CI took it; a refusal is told, a failure retried."""
        try:
            self.ci.cancel(track["jobId"], deadline=deadline)
        except CITransientError as exc:
            outcome.error = (
                f"{exc.code}: cancelling failing batch {track['jobId']} failed, tried again next sweep: {exc}"
            )
            return
        except JobwatchError as exc:  # CI refused it (it ended meanwhile, or the role may not cancel): not repeated
            mark.update(action="cancelRefused", error=f"{exc.code}: {exc}")
            outcome.error = f"{exc.code}: CI refused to cancel failing batch {track['jobId']}: {exc}"
            return
        mark["action"] = "cancelled"

    # --- rows, parts, report --------------------------------------------------------------------

    def _flush(
        self, track: dict[str, Any], spans_: Spans, settled: bool, deadline: Deadline, hold: Callable[[], int]
    ) -> bool:
        """Write, in creation order, the rows no older object can come before any more (at most ``FLUSH_ROWS``);
        True when every row of a settled batch is written."""
        frontier = spans.frontier(track, settled)
        after: report.Key = tuple(track.get("flushed") or ("", ""))
        visited: list[tuple[str, dict[str, Any]]] = []
        merged = heapq.merge(
            *(spans_.rows_before(name, frontier, after, visited) for name in track["streams"]), key=lambda kr: kr[0]
        )
        writer = PartWriter(self.records, track, self.settings.report_scope, hold)
        last, count, complete = after, 0, True
        for key, row in merged:
            if count >= FLUSH_ROWS or deadline.expired(self.margin):
                complete = False
                break
            writer.add(row)
            last, count = key, count + 1
        if count:
            track["flushed"] = list(last)
        for name, line in visited:  # what was written leaves its span; an emptied span goes
            document = spans_.doc(line)
            kept = [r for r in document["rows"] if report.order_key(r) > last]
            if len(kept) != len(document["rows"]):
                document["rows"] = kept
                spans_.touch(line)
            spans_.settle()
            if not line["active"] and not line["rows"] and line in spans_.lines(name):
                spans_.drop(name, line)
        remaining = any(s["spans"] for s in track["streams"].values())
        writer.close(settled and complete and not remaining)
        return complete and not remaining

    def _counts(self, track: dict[str, Any], finished: bool) -> dict[str, Any]:
        counts = dict(track["counts"])
        counts["active"] = sum(int(x["active"]) for s in track["streams"].values() for x in s["spans"])
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
            previous = _previous(record)
            kind = ev.finished_type(str(record["state"]), counts)
            watch = self.records.any_watch(job_id)
            extra = {"objects": counts, "report": self.records.store.url(self.records.manifest_key(job_id))}
            created = self.create_event(kind, record, previous, len(record.get("history") or []), watch, now,
                                        extra=extra)  # fmt: skip
        return created

    def _progress(
        self, track: dict[str, Any], record: dict[str, Any], counts: dict[str, Any], hold: Callable[[], int]
    ) -> list[Any]:
        now = self.now()
        last = track.get("lastProgressAt")
        if not counts["seen"] or track.get("progressCounts") == counts:
            return []
        if last and now - times.at(last) < PROGRESS_INTERVAL:
            return []
        hold()
        track["progressSeq"] = int(track.get("progressSeq", 0)) + 1
        track.update(lastProgressAt=now.isoformat(), progressCounts=counts)
        watch = self.records.any_watch(track["jobId"])
        previous = _previous(record)
        return self.create_event(ev.PROGRESS, record, previous, track["progressSeq"], watch, now,
                                 extra={"objects": counts})  # fmt: skip
