"""Reads of a job's story that the HTTP API and the direct invoke share: its record with everything around it, its
objects page by page, and its completion report."""

from __future__ import annotations

import re
from typing import Any

from . import objectpages, report, watches
from .errors import InvalidInputError, NotFoundError, StoreError
from .events import public_event
from .records import Records

OBJECT_STATES = ("active", "Submitted", "Running", "Pause", "Success", "Failed", "Cancel")
PART_RE = re.compile(r"objects-[0-9]{5}\.csv")
MAX_PART_BYTES = 5 * 1024 * 1024  # SCF answers a synchronous call with at most 6 MB
PROGRESS_SHOWN = 10  # a job's story shows its newest progress events


def job_story(records: Records, job_id: str) -> dict[str, Any]:
    """What happened to a job, in one answer: its record, its watch, its events with every attempt (of its progress
    events, the newest ``PROGRESS_SHOWN``), its report."""
    record = records.job(job_id)
    if record is None:
        raise NotFoundError(f"no record of job {job_id}: jobwatch has not seen it")
    watch = records.watch(job_id) or records.finished_watch(job_id)
    found = []
    keys = list(records.store.list(f"events/evt-{job_id}-"))
    progress = [k for k in keys if k.startswith(f"events/evt-{job_id}-progress-")]
    shown = [k for k in keys if "-progress-" not in k[len(f"events/evt-{job_id}") :]]
    shown += progress[-PROGRESS_SHOWN:]  # a batch that runs for days makes hundreds
    for key in shown:
        event = records.load(key)
        if event is not None and event.get("jobId") == job_id:
            found.append(public_event(event))
    return {
        "record": {k: v for k, v in record.items() if k != "raw"},
        "watch": watches.public_watch(watch) if watch else None,
        "events": found,
        "report": records.manifest(job_id),
    }


def objects_page(records: Records, job_id: str, state: str, limit: int, after: str) -> dict[str, Any]:
    """The batch's objects tracked so far, in creation order (``state=failed`` or any object state filters), after
    the key ``after`` (``creationTime|childId``; "" from the start); ``next`` is where the next page starts (None
    after the last)."""
    if state and state.lower() != "failed" and state not in OBJECT_STATES:
        raise InvalidInputError(f"state must be failed or one of {', '.join(OBJECT_STATES)}")
    named = {"failed": ("Failed",), "active": ("Submitted", "Running", "Pause")}
    wanted = named.get(state.lower(), (state,)) if state else ()
    time, _, child = after.partition("|")
    cursor: report.Key = (time, child)
    for attempt in (1, 2):
        track = records.track(job_id)
        if track is None:
            if records.job(job_id) is None:
                raise NotFoundError(f"no record of job {job_id}: jobwatch has not seen it")
            return {"objects": [], "next": None}
        try:
            items, last = objectpages.objects_after(records, track, wanted, limit, cursor)
        except StoreError:
            if attempt == 2:
                raise
            continue  # another sweep saved a newer track while this page read the old one's spans
        return {"objects": items, "next": None if last is None else "|".join(last)}
    raise AssertionError("unreachable")


def report_manifest(records: Records, job_id: str) -> dict[str, Any]:
    manifest = records.manifest(job_id)
    if manifest is None:
        raise NotFoundError(f"job {job_id} has no completion report yet: it is written when the batch is finished")
    return manifest


def report_part(records: Records, job_id: str, part: str) -> bytes:
    """One CSV part of the report, by its file name (``objects-00001.csv``)."""
    if not PART_RE.fullmatch(part):
        raise InvalidInputError("a part is named objects-NNNNN.csv")
    manifest = report_manifest(records, job_id)
    key = f"reports/{job_id}/{part}"
    if key not in {p["key"] for p in manifest.get("parts", [])}:
        raise NotFoundError(f"the report of job {job_id} has no part {part}")
    data = records.store.get(key)
    if data is None:
        raise NotFoundError(f"part {part} of job {job_id} is missing from the store")
    if len(data) > MAX_PART_BYTES:
        raise InvalidInputError(f"part {part} is {len(data)} bytes, over what a function may answer: read {key} "
                                "from the store")  # fmt: skip
    return data
