"""The objects of an emulated batch: one child per object (a workflow execution per workflow, or a media job).

Children are never stored: child ``i`` of stream ``s`` is a pure function of the batch, ``s``, ``i`` and the clock
(creation time spread over the batch's dispatch, a duration and an outcome drawn once per batch into compact arrays),
so a batch of a million objects costs about 10 MB, and listing a creation-time window finds its index range by
bisection.
"""

from __future__ import annotations

import hashlib
import random
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .jobs import EmulatedJob

FAILURES = (
    ("InvalidInput", "the input is not a valid media file"),
    ("NoSuchKey", "the input object does not exist"),
    ("TranscodeFailed", "transcoding failed: unsupported codec hevc_main12"),
    ("TaskTimeout", "the task exceeded its time limit of 7200 s"),
    ("AccessDenied", "CI may not write to the output bucket"),
)


@dataclass(frozen=True)
class EmulatedChild:
    """One object's workflow execution or media job, as of a moment."""

    child_id: str
    stream: int
    index: int
    object: str
    created_at: float
    started_at: float
    ended_at: float  # when it ends (or ended); the state says whether it has
    state: str
    code: str
    message: str
    output: str


def streams(job: EmulatedJob) -> list[str]:
    """The batch's child streams: each workflow of ``WorkflowIds`` (Workflow), or the one media-job stream."""
    if job.type == "Workflow":
        return [w for w in str(job.operation.get("WorkflowIds", "")).split(",") if w] or [""]
    return [""]


def dispatch_end(job: EmulatedJob) -> float:
    """When the last object is dispatched: the batch dispatches evenly while it runs."""
    return job.started_at + job.running_for


def created_at(job: EmulatedJob, index: int) -> float:
    return job.started_at + job.running_for * (index + 0.5) / job.objects


_TABLES: dict[tuple[object, ...], tuple[array, bytearray, bytearray]] = {}


def _table(job: EmulatedJob, stream: int) -> tuple[array, bytearray, bytearray]:
    """Every object's run time, whether it fails and why, drawn once per batch and stream from one seeded generator:
    a batch of a million objects costs about half a second and 10 MB, and a list page no draw at all."""
    low, high = job.object_duration
    key = (job.job_id, stream, job.objects, low, high, job.object_failure_ratio)
    found = _TABLES.get(key)
    if found is None:
        seed = int.from_bytes(hashlib.blake2b(f"{job.job_id}:{stream}".encode(), digest_size=8).digest(), "big")
        rng = random.Random(seed)
        span, ratio, draw = high - low, job.object_failure_ratio, rng.random
        durations = array("d", (low + span * draw() for _ in range(job.objects)))
        failed = bytearray(draw() < ratio for _ in range(job.objects))
        reasons = bytearray(int(draw() * len(FAILURES)) for _ in range(job.objects))
        if len(_TABLES) > 64:
            _TABLES.clear()
        found = _TABLES[key] = (durations, failed, reasons)
    return found


def state_at(job: EmulatedJob, stream: int, index: int, now: float) -> str:
    """Child ``index``'s state at ``now`` (it exists), without building it."""
    created = created_at(job, index)
    ended = created + 0.5 + _table(job, stream)[0][index]
    if job.cancelled_at is not None and job.cancelled_at < ended:
        return "Cancel" if now >= job.cancelled_at else ("Running" if now >= created + 0.5 else "Submitted")
    if now >= ended:
        return "Failed" if _table(job, stream)[1][index] else "Success"
    return "Running" if now >= created + 0.5 else "Submitted"


def batch_key(job: EmulatedJob) -> str:
    """16 hex characters that name the batch inside its children's ids (a hash: IDs may share any prefix)."""
    return hashlib.blake2b(job.job_id.encode(), digest_size=8).hexdigest()


def child_id(job: EmulatedJob, stream: int, index: int) -> str:
    """``i…`` (a RunId) or ``j…`` (a media JobId) that encodes where the child is, for detail lookups."""
    return ("i" if job.type == "Workflow" else "j") + batch_key(job) + f"{stream:02x}{index:08x}"


def locate(child: str) -> tuple[str, int, int] | None:
    """(batch key, stream, index) of a child id, or None if it is not one of ours."""
    if len(child) != 27 or child[0] not in "ij":
        return None
    try:
        return child[1:17], int(child[17:19], 16), int(child[19:], 16)
    except ValueError:
        return None


def child_at(job: EmulatedJob, stream: int, index: int, now: float) -> EmulatedChild | None:
    """Child ``index`` of ``stream`` as it is at ``now``; None when it does not exist (yet, or ever)."""
    if not 0 <= index < job.objects or not 0 <= stream < len(streams(job)):
        return None
    created = created_at(job, index)
    if created > now or (job.cancelled_at is not None and created > job.cancelled_at):
        return None
    durations, fails, reasons = _table(job, stream)
    started = created + 0.5
    ended = started + durations[index]
    failed = bool(fails[index])
    code, message = FAILURES[reasons[index]] if failed else ("", "")
    stem = str(job.input.get("Prefix") or "input/")
    key = job.keys[index] if job.keys else f"{stem}obj-{index:07d}.mp4"
    if job.cancelled_at is not None and job.cancelled_at < ended:
        ended = job.cancelled_at
        state = "Cancel" if now >= ended else ("Running" if now >= started else "Submitted")
        code, message = ("", "") if state != "Cancel" else ("Cancelled", "the batch job was cancelled")
    elif now >= ended:
        state = "Failed" if failed else "Success"
    else:
        state = "Running" if now >= started else "Submitted"
        code, message = "", ""
    output = f"output/{key.rsplit('/', 1)[-1]}" if state == "Success" and job.type == "Job" else ""
    return EmulatedChild(child_id(job, stream, index), stream, index, key, created, started, ended, state, code,
                         message, output)  # fmt: skip


def index_range(job: EmulatedJob, now: float, since: int | None, until: int | None) -> tuple[int, int]:
    """[first, last) indexes of children created (whole seconds, as CI compares) within [since, until] by now."""
    if job.objects <= 0:
        return 0, 0
    limit = min(now, job.cancelled_at if job.cancelled_at is not None else now)

    def first_at_or_after(predicate_true_from: float, whole: bool) -> int:
        lo, hi = 0, job.objects
        while lo < hi:
            mid = (lo + hi) // 2
            value = created_at(job, mid)
            if (int(value) if whole else value) >= predicate_true_from:
                hi = mid
            else:
                lo = mid + 1
        return lo

    first = first_at_or_after(since, True) if since is not None else 0
    last = first_at_or_after(limit + 1e-9, False)  # created <= limit
    if until is not None:
        last = min(last, first_at_or_after(until + 1, True))
    return first, max(first, last)


def children(job: EmulatedJob, stream: int, now: float, since: int | None, until: int | None, descending: bool,
             start: int | None, states: frozenset[str] = frozenset()) -> Iterator[EmulatedChild]:  # fmt: skip
    """Children of one stream in creation order (or reversed), from index ``start`` on; only those in ``states``
    when it is given (told apart without building the others)."""
    first, last = index_range(job, now, since, until)
    if descending:
        indexes = range(min(last - 1, start if start is not None else last - 1), first - 1, -1)
    else:
        indexes = range(max(first, start if start is not None else first), last)
    for index in indexes:
        if states and state_at(job, stream, index, now) not in states:
            continue
        child = child_at(job, stream, index, now)
        if child is not None:
            yield child
