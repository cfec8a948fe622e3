"""The sweep: find what changed in CI since last time, record it, and create each event exactly once.

The previous summary (``sweeps/latest.json``) says which jobs were active and in which state (``known``) and
since when to list history. A sweep reads a job's record only when CI's state differs from ``known``, writes a
record only when it changed, and creates an event (conditional create) *before* writing the record, so a crash
in between is healed by the next sweep without a duplicate. Cut short by the deadline, it persists what it did
and leaves the rest in ``known`` for the next sweep.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from . import events as ev
from . import history, leavers, retention, scrubber, times
from .ci import windows
from .ci.models import ACTIVE_STATES, JOB_TYPES, DescribeResult, Job
from .ci.windows import WindowDone
from .config import Settings
from .deadline import Deadline
from .errors import JobwatchError, StoreError
from .fanout import Fanout
from .leavers import Leavers
from .listing import ObjectSource
from .overview import Overview
from .pipeline import Outcome, Pipeline
from .records import Records
from .targets import Target
from .tracker import Tracker

log = logging.getLogger("jobwatch.sweep")

HISTORY_MARGIN = timedelta(minutes=1)
HEARTBEAT = timedelta(minutes=10)  # a quiet sweep stores no summary unless the stored one is older than this
EARLY_DESCRIBES = 16  # describes of jobs that left the list, in flight while the listing goes on
EARLY_BATCH = 10  # job IDs per such describe (one request)


class CISource(ObjectSource, Protocol):
    """The part of the CI client a sweep uses (object tracking included)."""

    requests_sent: Counter[str]
    skipped_entries: set[str]

    def list_jobs(
        self,
        *,
        job_types: Sequence[str] = ...,
        edges: Mapping[str, Sequence[datetime]] | None = None,
        on_window: WindowDone | None = None,
        **filters: Any,
    ) -> list[Job]: ...

    def describe(
        self,
        job_ids: Iterable[str],
        *,
        deadline: Deadline | None = None,
        on_jobs: Callable[[Sequence[Job]], None] | None = None,
    ) -> DescribeResult: ...


class Notifier(Protocol):
    """Delivers events: (attempts that succeeded, that failed, whether due deliveries were left for the deadline)."""

    def dispatch(
        self,
        events: list[dict[str, Any]],
        deadline: Deadline,
        changed: list[dict[str, Any]] | None = None,
        settled: list[str] | None = None,
        part: tuple[int, int] | None = None,
    ) -> tuple[int, int, bool]: ...


def target_line(summary: dict[str, Any]) -> dict[str, Any]:
    """A target as a summary's ``targets`` shows it, from its sweep's summary: ok, its first error, active jobs."""
    errors = summary.get("errors") or []
    return {"ok": not errors, "error": errors[0] if errors else None, "jobs": int(summary.get("activeJobs") or 0)}


@dataclass
class Part:
    """One target's share of a sweep over many: its bucket, the state its last sweep left, the watches and open
    batch tracks that are its own."""

    target: Target
    prev: dict[str, Any]
    watches: Mapping[str, dict[str, Any]]
    opened: list[str]


@dataclass
class Work:
    """One sweep's working state, passed from phase to phase."""

    started: datetime
    sent_before: Counter[str]
    prev: dict[str, Any]
    known: dict[str, str]
    stuck_reported: set[str]
    prev_born: dict[str, int]  # each known job's creation time (epoch seconds)
    watches: Mapping[str, dict[str, Any]]
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    errors: list[str] = field(default_factory=list)
    observed: dict[str, Job] = field(default_factory=dict)
    missing: tuple[str, ...] = ()
    discovered: bool = False
    complete: bool = False
    outcomes: list[Outcome] = field(default_factory=list)
    new_events: list[dict[str, Any]] = field(default_factory=list)
    written: list[dict[str, Any]] = field(default_factory=list)
    objects: dict[str, Any] = field(default_factory=dict)
    objects_offset: int = 0
    bad_entries: list[str] = field(default_factory=list)


class Sweeper:
    """One sweep over the watched bucket; construct per invocation, ``run(deadline)`` once."""

    def __init__(
        self,
        settings: Settings,
        ci: CISource,
        records: Records,
        *,
        notifier: Notifier | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        margin: float = 3.0,
        part: Part | None = None,
        fanout: Fanout | None = None,
    ) -> None:
        self.settings = settings
        self.ci = ci
        self.records = records
        self.notifier = notifier
        self.now = now
        self.margin = margin
        self.part = part
        self.fanout = fanout  # the one-bucket form's: delivery shards (the many-bucket form's is the fleet's)
        self.deliveries: tuple[int, int] | None = None  # the slice of the due deliveries this sweep takes (None: all)

    def run(self, deadline: Deadline, extra_ids: Sequence[str] = ()) -> dict[str, Any]:
        """One sweep; ``extra_ids`` are described too (batch jobs a CI callback named)."""
        work, summary = self.look(deadline, extra_ids)
        if self.settings.ci_bucket:  # the one-bucket form names its target: a switch to many hands it this state
            key = Target(self.settings.ci_bucket, self.settings.ci_region or "").key
            summary["target"] = key
            summary["targets"] = {key: target_line(summary)}
        self.upkeep(summary, work.prev, deadline)
        if self.fanout is not None and self.fanout.enabled:
            self.fanout.gather(summary)
            self.deliveries = self.fanout.split_deliveries(work.prev, summary, deadline)
        return self.finish(work, summary, deadline)

    def look(self, deadline: Deadline, extra_ids: Sequence[str] = ()) -> tuple[Work, dict[str, Any]]:
        """The target's part of a sweep: list, describe, record, follow objects; its summary (not stored yet)."""
        work = self._begin()
        self._look(work, extra_ids, deadline)
        self._settle(work)
        if self.settings.track_objects:
            self._follow_objects(work, deadline)
        self._advance(work)
        return work, self._summary(work)

    def upkeep(self, summary: dict[str, Any], prev: dict[str, Any], deadline: Deadline) -> None:
        """The store's part of a sweep, once however many targets: retention and redaction slices."""
        days = (self.settings.retain_days, self.settings.report_retain_days)
        retention.run_slice(self.records, summary, prev, self.now(), days, deadline)
        scrubber.run_slice(self.records, summary, prev, deadline)

    def _begin(self) -> Work:
        """What the previous sweep left: the jobs it knew active, what was reported, since when to list history."""
        prev = self.part.prev if self.part else self.records.latest_summary() or {}
        known, born, stuck = leavers.unpack_known(prev)
        return Work(
            started=self.now(),
            sent_before=Counter(self.ci.requests_sent),
            prev=prev,
            known=known,
            stuck_reported=stuck,
            prev_born=born,
            watches=self.part.watches if self.part else self.records.watches(),
        )

    def _look(self, work: Work, extra_ids: Sequence[str], deadline: Deadline) -> None:
        """List and describe; each job CI shows goes through the pipeline (diff, record, events) as it arrives."""
        prev, known = work.prev, work.known
        baselined = bool(prev.get("baselined"))
        history_from = prev.get("historyFrom") if baselined else None
        with Pipeline(self._observe, self._stuck_due, self.now(), self.margin, known, work.stuck_reported,
                      work.watches, baselined, deadline) as pipeline:  # fmt: skip
            try:
                edges = windows.edges_from(prev.get("listEdges"))
                born = {i: t for i, t in work.prev_born.items() if i in known}
                ids = [*known, *work.watches, *extra_ids]
                work.observed, work.missing, work.discovered = self._find(
                    pipeline, ids, history_from, edges, born, deadline
                )
            except JobwatchError as exc:
                work.errors.append(f"{exc.code}: {exc}")
                log.warning("sweep discovery failed: %s", exc)
            work.observed.update(pipeline.fed)  # the described jobs (fed batch by batch, even before one failed)
            work.outcomes = pipeline.outcomes()
            work.now = pipeline.now

    def _settle(self, work: Work) -> None:
        """Entries CI sent that could not be used (told once), IDs CI says do not exist, and whether the sweep saw
        everything it set out to."""
        reported_bad = set(work.prev.get("badEntries") or [])
        new_bad = sorted(set(getattr(self.ci, "skipped_entries", ())) - reported_bad)
        if new_bad:  # told once, not every sweep
            work.errors.append(f"BadJobEntries: {len(new_bad)} listed job(s) without a State or a usable JobId "
                               f"skipped: {', '.join(new_bad[:10])}")  # fmt: skip
        work.bad_entries = sorted(reported_bad | set(new_bad))[-1000:]
        work.outcomes += self._record_missing(work.missing, work.watches, work.now)
        work.complete = work.discovered and not any(o.skipped or o.error for o in work.outcomes)
        work.new_events = [e for o in work.outcomes for e in o.events]
        work.written = [o.record for o in work.outcomes if o.record is not None]

    def _follow_objects(self, work: Work, deadline: Deadline) -> None:
        """Each batch's objects, within the per-sweep budget; their events and records join the sweep's."""
        work.objects, work.objects_offset = self._objects(
            work.observed, work.outcomes, int(work.prev.get("objectsOffset") or 0), deadline
        )
        work.new_events += work.objects.pop("events")
        work.errors += work.objects.pop("errors")
        work.written += work.objects.pop("records")

    def _advance(self, work: Work) -> None:
        """Which jobs the next sweep knows active, and which were reported stuck."""
        for o in work.outcomes:
            if o.error:
                work.errors.append(o.error)
            if o.terminal:
                work.known.pop(o.job_id, None)
                work.stuck_reported.discard(o.job_id)
            elif o.state is not None:
                work.known[o.job_id] = o.state
            if o.stuck:
                work.stuck_reported.add(o.job_id)

    def _summary(self, work: Work) -> dict[str, Any]:
        """The sweep's summary: its figures, and what the next sweep starts from."""
        prev, known, outcomes = work.prev, work.known, work.outcomes
        return {
            "sweepId": uuid.uuid4().hex[:12],
            "startedAt": work.started.isoformat(),
            "complete": work.complete,
            "jobsSeen": len(work.observed),
            "transitions": sum(o.transition for o in outcomes),
            "recordsWritten": sum(o.written for o in outcomes),
            "eventsEmitted": len(work.new_events),
            "eventIds": [e["id"] for e in work.new_events],
            "deliveries": {"ok": 0, "failed": 0},
            "nonExistJobIds": list(work.missing),
            "activeJobs": len(known),
            **({"objects": work.objects} if work.objects else {}),
            "errors": work.errors,
            # what the next sweep starts from
            "baselined": bool(prev.get("baselined")) or work.complete,
            "historyFrom": work.started.isoformat() if work.complete else prev.get("historyFrom"),
            # each known job's state, creation time (a listing window that covers it without listing it has seen it
            # leave) and whether it was reported stuck, in one short string
            "known": leavers.pack_known(
                known, leavers.born_for(known, work.prev_born, work.observed), work.stuck_reported
            ),
            "objectsOffset": work.objects_offset,
            "badEntries": work.bad_entries,
            # where the next sweep cuts its listing of active jobs into windows fetched side by side
            "listEdges": windows.stored_edges(work.observed.values())
            if work.discovered
            else prev.get("listEdges") or {},
        }

    def finish(self, work: Work, summary: dict[str, Any], deadline: Deadline) -> dict[str, Any]:
        """Store the summary, deliver, fold the indexes, and store the summary again when that changed it."""
        # Stored before delivering: a sweep killed during slow deliveries keeps what the next sweep starts from.
        # A quiet sweep (nothing new since the stored summary, which is recent) stores nothing at all.
        quiet = self.quiet(summary, work.prev, work.written)
        if not quiet:
            self._store(summary, work.sent_before)
        changed, index_failed = self.deliver_and_fold(work, summary, deadline)
        backlog = (summary.get("deliveries") or {}).get("backlog")
        if changed or index_failed or backlog != (work.prev.get("deliveries") or {}).get("backlog"):
            self._store(summary, work.sent_before)  # the deliveries' outcome (and late news) join the stored summary
        elif quiet:
            self._store(summary, work.sent_before, persist=False)
        return summary

    def deliver_and_fold(self, work: Work, summary: dict[str, Any], deadline: Deadline) -> tuple[bool, bool]:
        """Deliver new and due events, then fold what the sweep saw, wrote and delivered into the indexes: (whether
        a delivery round changed an event, whether the index could not be updated)."""
        changed: list[dict[str, Any]] = []
        settled: list[str] = []  # outbox markers of settled events: deleted once the index has their status
        if self.notifier is not None:  # new events now, and due retries of earlier ones even if CI is down
            delivered, failed, backlog = self.notifier.dispatch(work.new_events, deadline, changed, settled,
                                                                part=self.deliveries)  # fmt: skip
            summary["deliveries"] = {"ok": delivered, "failed": failed, **({"backlog": True} if backlog else {})}
        index_failed = False
        news = [work.observed[o.job_id] for o in work.outcomes
                if (o.written or o.transition) and o.job_id in work.observed]  # fmt: skip
        try:  # the indexes pages and lists read: what this sweep saw, wrote and delivered (a quiet sweep: nothing)
            overview = Overview(self.records)
            if news or work.written or work.new_events or changed or not overview.present():
                overview.fold(news, work.written, [*work.new_events, *changed], deadline, self.now())
        except JobwatchError as exc:
            summary["errors"].append(f"{exc.code}: the index was not updated: {exc}")
            index_failed = True
        for marker in [] if index_failed else settled:
            with contextlib.suppress(JobwatchError):  # left: the next sweep finds it and folds the event again
                self.records.store.delete(marker)
        return bool(changed), index_failed

    def quiet(self, summary: dict[str, Any], prev: dict[str, Any], written: list[Any]) -> bool:
        """Nothing to keep: the sweep completed, changed no record, made no event, met no error, and the stored
        summary it would replace says the same and is younger than ``HEARTBEAT`` (so the latest summary still
        tells that sweeps run, and the "created since" window stays short)."""
        if not prev or not summary["complete"] or written or summary["eventIds"] or summary["errors"]:
            return False
        if any((summary.get("retention") or {}).values()) or summary.get("fanout"):  # deleted, or handed out
            return False
        same = ("known", "baselined", "objectsOffset", "badEntries", "nonExistJobIds", "activeJobs", "listEdges",
                "retentionAt", "scrubCursor", "targets")  # fmt: skip
        if any(summary.get(k) != prev.get(k) for k in same):
            return False
        return times.within(prev.get("startedAt"), self.now(), HEARTBEAT)

    def _store(self, summary: dict[str, Any], sent_before: Counter[str], persist: bool = True) -> None:
        """Finish the summary's figures and store it (the latest, and under its day) unless ``persist`` is off."""
        finished = self.now()
        sent = Counter(self.ci.requests_sent)
        sent.subtract(sent_before)
        summary.update(
            finishedAt=finished.isoformat(),
            durationSeconds=round((finished - datetime.fromisoformat(summary["startedAt"])).total_seconds(), 3),
            ciRequests={**{k: v for k, v in sent.items() if v}, "total": sum(max(v, 0) for v in sent.values())},
        )
        summary["errors"] = summary["errors"][:50]
        if not persist:
            summary["stored"] = False
            return
        try:
            self.records.put_summary(summary)
        except JobwatchError as exc:
            summary["errors"].append(f"{exc.code}: could not store the summary: {exc}")
            summary["complete"] = False

    def _objects(
        self, observed: dict[str, Job], outcomes: list[Outcome], offset: int, deadline: Deadline
    ) -> tuple[dict[str, Any], int]:
        """Follow the objects of every active batch and of every batch whose end waits for its objects."""
        try:
            opened = self.part.opened if self.part else self.records.open_tracks()
            batches: dict[str, Job | None] = {job_id: None for job_id in opened}
        except JobwatchError as exc:
            return {"events": [], "errors": [f"{exc.code}: open tracks unreadable: {exc}"], "records": []}, offset
        deferred = {o.job_id for o in outcomes if o.deferred}
        for job in observed.values():
            if job.state in ACTIVE_STATES or job.job_id in deferred or job.job_id in batches:
                batches[job.job_id] = job
        tracker = Tracker(self.settings, self.ci, self.records, self.create_event, now=self.now, margin=self.margin)
        done, offset = tracker.run(batches, deadline, offset)
        errors = [o.error for o in done if o.error]
        errors += [f"BadObjectEntries: {o.job_id}: {o.bad_entries} entries without an id or a state skipped"
                   for o in done if o.bad_entries]  # fmt: skip
        summary = {
            "batches": len(batches), "followed": sum(not o.skipped and not o.error for o in done),
            "finished": sum(o.finished for o in done), "skipped": sum(o.skipped for o in done),
            "events": [e for o in done for e in o.events], "errors": errors,
            "records": [o.record for o in done if o.record is not None],
        }  # fmt: skip
        return summary, offset

    def _find(
        self,
        pipeline: Pipeline,
        wanted: list[str],
        history_from: str | None,
        edges: dict[str, list[datetime]],
        born: dict[str, int],
        deadline: Deadline,
    ) -> tuple[dict[str, Job], tuple[str, ...], bool]:
        """List, and describe the ``wanted`` jobs the listing did not show: (listed jobs, the IDs CI says do not
        exist, whether every wanted job was found). Each window's jobs go to the pipeline as it arrives, and the
        known jobs a window shows to have left the list are described while the listing goes on."""
        since = datetime.fromisoformat(history_from) - HISTORY_MARGIN if history_from else None
        leavers = Leavers(born, JOB_TYPES, before=since)
        early: list[tuple[list[str], Future[DescribeResult]]] = []
        with ThreadPoolExecutor(EARLY_DESCRIBES, thread_name_prefix="leavers") as pool:

            def active(kind: str, start: datetime | None, end: datetime | None, jobs: list[Job]) -> None:
                pipeline.feed(jobs)
                left = leavers.window(kind, start, end, jobs)
                for i in range(0, len(left), EARLY_BATCH):  # a describe request each, all at once (the pacer limits)
                    if deadline.expired(self.margin):
                        break
                    ids = left[i : i + EARLY_BATCH]
                    early.append((ids, pool.submit(self.ci.describe, ids, deadline=deadline, on_jobs=pipeline.feed)))

            listed = self._discover(since, edges, deadline, active, lambda *window: pipeline.feed(window[3]))
        described: set[str] = set()
        missing: list[str] = []
        for ids, future in early:
            try:
                result = future.result()
            except JobwatchError as exc:  # described again below, with the rest
                log.info("describe of %d jobs that left the list failed: %s", len(ids), exc)
                continue
            described.update(ids)
            missing += result.non_exist_job_ids
        pending = [i for i in wanted if i not in listed and i not in described]
        if pending:
            if deadline.expired(self.margin):  # the describe waits for the next sweep; this one stays incomplete
                return listed, tuple(missing), False
            result = self.ci.describe(dict.fromkeys(pending), deadline=deadline, on_jobs=pipeline.feed)
            missing += result.non_exist_job_ids
        return listed, tuple(missing), True

    def _discover(
        self,
        since: datetime | None,
        edges: dict[str, list[datetime]],
        deadline: Deadline,
        on_active: WindowDone,
        on_recent: WindowDone,
    ) -> dict[str, Job]:
        """Active jobs of both types (in creation-time windows, side by side), plus every job created ``since``."""
        if not self.settings.watch_all:
            return {}
        calls: list[Callable[[], list[Job]]] = [
            lambda: self.ci.list_jobs(states=ACTIVE_STATES, edges=edges, deadline=deadline, on_window=on_active)
        ]
        if since is not None:
            calls.append(lambda: self.ci.list_jobs(start_creation_time=since, deadline=deadline, on_window=on_recent))
        with ThreadPoolExecutor(len(calls), thread_name_prefix="discover") as pool:
            results = list(pool.map(lambda call: call(), calls))
        return {job.job_id: job for jobs in results for job in jobs}

    def _observe(
        self,
        job: Job,
        known_state: str | None,
        watch: dict[str, Any] | None,
        stuck_due: bool,
        baselined: bool,
        now: datetime,
    ) -> Outcome:
        if known_state == job.state and watch is None and not stuck_due:
            return Outcome(job.job_id, state=job.state)  # unchanged since the last sweep: no read, no write
        try:
            stored = self.records.job(job.job_id)
        except StoreError as exc:
            log.warning("record of %s unreadable, rebuilt: %s", job.job_id, exc)
            stored = None
        seen = history.observe(stored, job, now, self._place())
        out = Outcome(job.job_id, state=job.state, terminal=job.terminal, transition=seen.transition)
        # The first sweep takes the bucket as it is and reports no history, except for jobs someone watches.
        report = seen.transition and (baselined or stored is not None or watch is not None)
        kind = ev.event_type(job.state, self.settings.notify_on) if report else None
        if kind in ev.TERMINAL_TYPES.values() and self.settings.track_objects:
            # A batch is finished only when its objects are: the tracker creates this event then. The marker goes
            # before the record, so a crash in between cannot lose the batch's end.
            self.records.put_open(job.job_id)
            out.deferred = True
        elif kind:
            out.events += self.create_event(kind, seen.record, seen.previous_state, seen.sequence, watch, now)
        elif watch is not None and job.terminal and not seen.transition:
            # The job had ended (and been recorded) before this watch was registered: its own targets hear of it
            # now, in an event of their own, so the targets that were told before are not told twice.
            kind = ev.TERMINAL_TYPES[job.state]
            out.events += self.create_event(
                kind, seen.record, seen.previous_state, seen.sequence, watch, now, late_watch=True
            )
        if stuck_due:
            # The first sweep takes the bucket as it is: jobs already long-running are marked as told, not told
            # (a first look at a busy bucket must not send one stuck event per job). Watched jobs are told.
            if baselined or watch is not None:
                out.events += self.create_event(ev.STUCK, seen.record, seen.previous_state, 0, watch, now)
            out.stuck = True
        if seen.changed:
            self.records.put_job(seen.record)
            out.written, out.record = True, seen.record
        if watch is not None and job.terminal:
            self.records.finish_watch({**watch, "finishedAt": now.isoformat(), "finalState": job.state})
        return out

    def _place(self) -> dict[str, str]:
        """Where the sweep's jobs live, as their records say it (nothing when the region is not known)."""
        if self.part is not None:
            return {"bucket": self.part.target.bucket, "region": self.part.target.region}
        if self.settings.ci_bucket and self.settings.ci_region:
            return {"bucket": self.settings.ci_bucket, "region": self.settings.ci_region}
        return {}

    def _stuck_due(self, job: Job, now: datetime) -> bool:
        if job.terminal or job.creation_time is None:
            return False
        return (now - job.creation_time).total_seconds() > self.settings.stuck_after

    def create_event(
        self,
        kind: str,
        record: dict[str, Any],
        previous: str | None,
        sequence: int,
        watch: dict[str, Any] | None,
        now: datetime,
        late_watch: bool = False,
        extra: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        event = ev.build_event(
            kind,
            record,
            previous,
            sequence,
            bucket=self.part.target.bucket if self.part else self.settings.ci_bucket,
            region=self.part.target.region if self.part else self.settings.ci_region,
            metadata=(watch or {}).get("metadata"),
            record_url=self.records.job_url(record["jobId"]),
            now=now,
            extra=extra,
        )
        if late_watch and watch is not None:
            stamp = "".join(c for c in str(watch.get("createdAt", "")) if c.isdigit())
            event["id"] = f"{event['id']}-w{stamp}"
            event["targets"] = ev.delivery_targets(None, None, watch, now)
        else:
            event["targets"] = ev.delivery_targets(self.settings.webhook_url, self.settings.chain_function, watch, now)
        if event["targets"]:
            # The marker goes first: an event never exists without one while it has deliveries to make.
            self.records.put_outbox(event["id"], event["nextAttemptAt"])
        else:
            event.update(status="delivered", nextAttemptAt=None)
        # Conditional create: of two overlapping sweeps exactly one creates it.
        return [event] if self.records.create_event(event) else []

    def _record_missing(
        self, job_ids: Sequence[str], watches: Mapping[str, dict[str, Any]], now: datetime
    ) -> list[Outcome]:
        outcomes = []
        for job_id in job_ids:
            try:
                record = history.nonexistent_record(job_id, self.records.job(job_id), now)
                if record is not None:
                    self.records.put_job(record)
                if job_id in watches:
                    self.records.finish_watch({**watches[job_id], "finishedAt": now.isoformat(), "nonExistent": True})
                outcomes.append(Outcome(job_id, terminal=True, written=record is not None))
            except JobwatchError as exc:
                outcomes.append(Outcome(job_id, error=f"{exc.code}: {job_id}: {exc}"))
        return outcomes
