"""The emulator's state: batch jobs that move Submitted → Running (→ Pause → Running) → Success/Failed/Cancel.

A job's state is a pure function of the emulator clock and its schedule, so runs are reproducible from a seed,
and tests move time with ``EmuClock.advance`` instead of sleeping.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

CST = timezone(timedelta(hours=8))  # CI answers in China Standard Time
TAGS = ("Transcode", "Snapshot", "Animation", "MediaInfo", "PicProcess")


class EmuClock:
    """Wall time plus an offset that tests and demos can advance."""

    def __init__(self, start: float | None = None) -> None:
        self._offset = 0.0 if start is None else start - time.time()
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds


@dataclass
class EmulatedJob:
    """One batch job and the schedule it follows."""

    job_id: str
    type: str
    name: str
    created_at: float
    input: dict[str, Any]
    operation: dict[str, Any]
    submitted_for: float = 1.0
    running_for: float = 10.0
    pause_after: float | None = None  # seconds into Running when it pauses
    pause_for: float = 0.0
    final: str = "Success"
    cancelled_at: float | None = None
    failure: tuple[str, str] = ("InternalError", "the workflow failed on 3 objects")
    objects: int = 0  # children it dispatches while Running (see objects.py)
    object_failure_ratio: float = 0.1
    object_duration: tuple[float, float] = (2.0, 20.0)
    wait_for_objects: bool = False  # True: the batch ends once its objects are done, not once dispatched
    keys: list[str] | None = None  # its objects' keys (a UrlFile's list, or a test's); None: input/obj-NNNNNNN.mp4

    @property
    def started_at(self) -> float:
        return self.created_at + self.submitted_for

    @property
    def ended_at(self) -> float:
        natural = self.started_at + self.running_for + (self.pause_for if self.pause_after is not None else 0.0)
        if self.wait_for_objects and self.objects:
            natural += self.object_duration[1] + 1.0
        if self.cancelled_at is not None and self.cancelled_at < natural:
            return self.cancelled_at
        return natural

    def state_at(self, now: float) -> tuple[str, float | None, float | None]:
        """(state, start time, end time) at ``now``."""
        if now >= self.ended_at:
            cancelled = self.cancelled_at is not None and self.cancelled_at <= self.ended_at
            started = self.started_at if self.ended_at >= self.started_at else None
            return ("Cancel" if cancelled else self.final), started, self.ended_at
        if now < self.started_at:
            return "Submitted", None, None
        if self.pause_after is not None:
            pause_start = self.started_at + self.pause_after
            if pause_start <= now < pause_start + self.pause_for:
                return "Pause", self.started_at, None
        return "Running", self.started_at, None


def new_job_id() -> str:
    """``b`` + 32 lowercase hex characters, like CI's (a UUIDv1 without dashes)."""
    return "b" + uuid.uuid1().hex


def sample_job(
    rng: random.Random, created_at: float, *, job_type: str | None = None, duration: tuple[float, float] = (5, 60)
) -> EmulatedJob:
    """A plausible job of either type with a random schedule drawn from ``rng``."""
    kind = job_type or rng.choice(("Workflow", "Job"))
    number = rng.randrange(1_000_000)
    if kind == "Workflow":
        operation: dict[str, Any] = {"WorkflowIds": "w" + f"{rng.getrandbits(128):032x}"}
    else:
        operation = {
            "Tag": rng.choice(TAGS),
            "QueueId": "p" + f"{rng.getrandbits(128):032x}",
            "JobParam": {"TemplateId": "t1" + f"{rng.getrandbits(128):032x}"},
            "Output": {"Region": "ap-guangzhou", "Bucket": "out-1250000000", "Object": "out/${InputName}.mp4"},
            "JobLevel": "0",
        }
    roll = rng.random()
    job = EmulatedJob(
        job_id="b" + f"{rng.getrandbits(128):032x}",
        type=kind,
        name=f"{kind.lower()}-{number:06d}",
        created_at=created_at,
        input={"Prefix": f"input/{number:06d}/"},
        operation=operation,
        submitted_for=rng.uniform(0.5, 3.0),
        running_for=rng.uniform(*duration),
        final="Failed" if roll < 0.15 else "Success",
    )
    if 0.15 <= roll < 0.25:
        job.pause_after = job.running_for / 3
        job.pause_for = rng.uniform(2.0, 6.0)
    return job


@dataclass
class JobBook:
    """All jobs of the emulated bucket; thread-safe."""

    clock: EmuClock = field(default_factory=EmuClock)
    jobs: dict[str, EmulatedJob] = field(default_factory=dict)
    batch_end: str = "dispatched"  # when a batch with objects ends: "dispatched" (CI's hard case) or "done"

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def add(self, job: EmulatedJob) -> EmulatedJob:
        if self.batch_end == "done":
            job.wait_for_objects = True
        with self._lock:
            self.jobs[job.job_id] = job
        return job

    def get(self, job_id: str) -> EmulatedJob | None:
        with self._lock:
            return self.jobs.get(job_id)

    def all(self) -> list[EmulatedJob]:
        with self._lock:
            return list(self.jobs.values())

    def preload(
        self,
        count: int,
        *,
        seed: int = 1,
        spread: float = 0.0,
        duration: tuple[float, float] = (5, 60),
        job_type: str | None = None,
        objects: int | tuple[int, int] = 0,
        object_failure_ratio: float = 0.1,
        object_duration: tuple[float, float] = (2.0, 20.0),
    ) -> list[EmulatedJob]:
        """Add ``count`` seeded jobs created over the last ``spread`` seconds (all now when 0), each dispatching
        ``objects`` children (a number, or a range to draw from)."""
        rng = random.Random(seed)
        now = self.clock()
        made = [
            sample_job(rng, now - rng.uniform(0, spread), job_type=job_type, duration=duration) for _ in range(count)
        ]
        for job in made:
            job.objects = objects if isinstance(objects, int) else rng.randint(*objects)
            job.object_failure_ratio, job.object_duration = object_failure_ratio, object_duration
        for job in made:
            self.add(job)
        return made

    def cancel(self, job_id: str) -> str:
        """Cancel a job; returns "ok", "unknown" or "finished"."""
        now = self.clock()
        with self._lock:
            job = self.jobs.get(job_id)
            if job is None:
                return "unknown"
            if now >= job.ended_at:
                return "finished"
            job.cancelled_at = now
            return "ok"


def ci_time(epoch: float | None) -> str:
    """CI's time format, or ``-`` for an unset time."""
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(int(epoch), tz=CST).strftime("%Y-%m-%dT%H:%M:%S%z")
