"""The sweep's store side: each observed job is recorded on a pool of store workers as soon as it is known (the
listed ones while the jobs that left the list are described, each described batch as it arrives), and unchanged
jobs cost no read, no write and no thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .ci.models import Job
from .deadline import Deadline
from .errors import JobwatchError

log = logging.getLogger("jobwatch.sweep")

STORE_WORKERS = 8


@dataclass
class Outcome:
    """What a sweep did with one observed job."""

    job_id: str
    state: str | None = None  # None: leave ``known`` as it was (skipped or failed)
    terminal: bool = False
    transition: bool = False
    written: bool = False
    events: list[dict[str, Any]] = field(default_factory=list)
    stuck: bool = False
    skipped: bool = False  # the deadline came first; the next sweep does it
    error: str | None = None
    deferred: bool = False  # terminal in CI, but its event waits until every object has ended
    record: dict[str, Any] | None = None  # the record as written, when it was
    idle: bool = False  # unchanged since the last sweep: nothing was read or written for it


# (job, known state, watch, stuck due, baselined, now) → what was done
Observe = Callable[[Job, str | None, dict[str, Any] | None, bool, bool, datetime], Outcome]


class Pipeline:
    """Observed jobs go to the store workers as soon as they are known: the listed ones while the jobs that left
    the list are described, and each described batch as it arrives. Unchanged jobs cost no thread."""

    def __init__(
        self,
        observe: Observe,
        stuck_due: Callable[[Job, datetime], bool],
        now: datetime,
        margin: float,
        known: dict[str, str],
        stuck_reported: set[str],
        watches: Mapping[str, dict[str, Any]],
        baselined: bool,
        deadline: Deadline,
    ) -> None:
        self.now, self._observe, self._stuck_due, self._margin = now, observe, stuck_due, margin
        self._known, self._stuck, self._watches = known, stuck_reported, watches
        self._baselined, self._deadline = baselined, deadline
        self._pool = ThreadPoolExecutor(STORE_WORKERS, thread_name_prefix="store")
        self._lock = threading.Lock()
        self._futures: list[Future[Outcome]] = []
        self._idle: list[Outcome] = []
        self.fed: dict[str, Job] = {}

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True)

    def feed(self, jobs: Iterable[Job]) -> None:
        judged = []
        for job in jobs:
            due = job.job_id not in self._stuck and self._stuck_due(job, self.now)
            # a watched job that did not change needs nothing either: its watch is read when something happens
            idle = self._known.get(job.job_id) == job.state and not due
            judged.append((job, due, idle))
        with self._lock:  # once per batch: a listed window holds a hundred jobs
            for job, due, idle in judged:
                if job.job_id in self.fed:
                    continue
                self.fed[job.job_id] = job
                if idle:  # unchanged since the last sweep: no read, no write
                    self._idle.append(Outcome(job.job_id, state=job.state, idle=True))
                    continue
                self._futures.append(self._pool.submit(self._one, job, due))

    def _one(self, job: Job, due: bool) -> Outcome:
        if self._deadline.expired(self._margin):
            return Outcome(job.job_id, skipped=True)
        try:
            watch = self._watches.get(job.job_id)
            return self._observe(job, self._known.get(job.job_id), watch, due, self._baselined, self.now)
        except JobwatchError as exc:
            log.warning("job %s not recorded: %s", job.job_id, exc)
            return Outcome(job.job_id, error=f"{exc.code}: {job.job_id}: {exc}")

    def outcomes(self) -> list[Outcome]:
        with self._lock:
            futures, idle = list(self._futures), list(self._idle)
        return idle + [future.result() for future in futures]
