"""Objects of a batch, end to end over real HTTP (emulator) on both stores: counts equal CI's truth, no terminal
event while an object is active, the event type follows the rule, the report lists every object once with its
reason and output, md5s match, and deadlines, overlapping sweeps and bad entries lose nothing."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timezone
from typing import Any

import pytest

from devkit.ciemu import CIEmulator, EmulatedJob
from devkit.ciemu import objects as emu_objects
from jobwatch.ci import CIClient
from jobwatch.config import Settings
from jobwatch.deadline import Deadline
from jobwatch.entry import Ports, handle
from jobwatch.records import Records
from jobwatch.report import md5_hex, read_rows
from jobwatch.store import ObjectStore
from jobwatch.sweep import Sweeper
from tests.conftest import load_event
from tests.functional.conftest import CREDENTIALS, concurrently
from tests.stored import stored_ids

CONTEXT = {"request_id": "objects-test", "time_limit_in_ms": 60_000}
TIMER = load_event("timer.json")


def make_ports(emulator: CIEmulator, store: ObjectStore, **env: str) -> Ports:
    settings = Settings.from_env({"JOBWATCH_CI_ENDPOINT": emulator.url, "JOBWATCH_CI_BUCKET": "demo-1250000000",
                                  "JOBWATCH_CI_REGION": "ap-guangzhou", **env})  # fmt: skip
    client = CIClient(emulator.url, CREDENTIALS, sleep=lambda s: None)
    return Ports(settings, ports_records(store), lambda: client,
                 clock=lambda: datetime.fromtimestamp(emulator.clock(), timezone.utc))  # fmt: skip


def ports_records(store: ObjectStore) -> Records:
    return Records(store)


def sweep(ports: Ports) -> dict[str, Any]:
    result = handle(TIMER, CONTEXT, ports=ports)
    assert "sweepId" in result, result
    return result


def truth(emulator: CIEmulator, job: EmulatedJob) -> list[emu_objects.EmulatedChild]:
    now = emulator.clock()
    found = []
    for stream in range(len(emu_objects.streams(job))):
        found += list(emu_objects.children(job, stream, now, None, None, False, None))
    return found


def terminal_events(ports: Ports, job_id: str) -> list[dict[str, Any]]:
    found = [ports.records.event(i) for i in stored_ids(ports.records, "events")]
    return [e for e in found if e and e["jobId"] == job_id and "progress" not in e["id"] and "stuck" not in e["id"]]


def batch(emulator: CIEmulator, kind: str, *, objects: int = 30, seed: int = 3, two_workflows: bool = False,
          failure_ratio: float = 0.2) -> EmulatedJob:  # fmt: skip
    (job,) = emulator.book.preload(1, seed=seed, job_type=kind, duration=(20, 20), objects=objects,
                                   object_failure_ratio=failure_ratio, object_duration=(5, 40))  # fmt: skip
    if two_workflows:
        job.operation["WorkflowIds"] += ",w2second0000000000000000000000000"
    return job


def run_until_finished(ports: Ports, emulator: CIEmulator, job: EmulatedJob, step: float = 7.0) -> dict[str, Any]:
    """Sweep every ``step`` seconds; check at each sweep that no terminal event exists while an object is active."""
    waited_on_objects = False
    for _ in range(60):
        emulator.clock.advance(step)
        sweep(ports)
        events = terminal_events(ports, job.job_id)
        states = [c.state for c in truth(emulator, job)]
        batch_done = job.state_at(emulator.clock())[0] in ("Success", "Failed", "Cancel")
        if not events:
            waited_on_objects |= batch_done and any(s in ("Submitted", "Running") for s in states)
            continue
        assert len(events) == 1
        assert not any(s in ("Submitted", "Running") for s in states), "terminal event while objects are active"
        return {"event": events[0], "waited": waited_on_objects}
    raise AssertionError("the batch never finished")


def check_report(ports: Ports, job: EmulatedJob, children: list[emu_objects.EmulatedChild], scope: str = "all") -> None:
    manifest = ports.records.manifest(job.job_id)
    assert manifest is not None and manifest["format"] == "jobwatch-objects-csv/2" and manifest["scope"] == scope
    rows: list[dict[str, str]] = []
    for part in manifest["parts"]:
        data = ports.records.store.get(part["key"])
        assert data is not None and md5_hex(data) == part["md5"]
        part_rows = read_rows(data)
        assert len(part_rows) == part["rows"]
        rows += part_rows
    expected = [c for c in children if scope == "all" or c.state in ("Failed", "Cancel")]
    assert len(rows) == len(expected) == len({r["childId"] for r in rows})  # every object exactly once
    by_id = {c.child_id: c for c in expected}
    for row in rows:
        child = by_id[row["childId"]]
        assert (row["object"], row["state"]) == (child.object, child.state)
        if child.state == "Failed":
            assert (row["code"], row["message"]) == (child.code, child.message)
        assert row["output"] == child.output
    keys = [(r["creationTime"], r["childId"]) for r in rows]
    assert keys == sorted(keys)  # creation order
    counts = Counter(c.state for c in children)
    assert manifest["objects"] == {"seen": len(children), "succeeded": counts["Success"], "failed": counts["Failed"],
                                   "cancelled": counts["Cancel"], "active": 0, "total": len(children)}  # fmt: skip


@pytest.mark.parametrize("mode", ["dispatched", "done"])
@pytest.mark.parametrize("kind", ["Workflow", "Job"])
def test_batch_finishes_truthfully(emulator: CIEmulator, store: ObjectStore, kind: str, mode: str) -> None:
    """Counts, event type, report and md5s agree with the emulator, for both types and both end modes."""
    emulator.book.batch_end = mode
    job = batch(emulator, kind, two_workflows=kind == "Workflow")
    ports = make_ports(emulator, store)
    sweep(ports)
    outcome = run_until_finished(ports, emulator, job)
    children = truth(emulator, job)
    assert len(children) == 30 * len(emu_objects.streams(job))
    failed = sum(c.state == "Failed" for c in children)
    event = outcome["event"]
    expected_type = "ci.batchjob.succeeded" if not failed else "ci.batchjob.failed"
    assert event["type"] == expected_type and event["payload"]["data"]["objects"]["total"] == len(children)
    assert event["payload"]["data"]["report"].endswith(f"reports/{job.job_id}/manifest.json")
    if mode == "dispatched":
        assert outcome["waited"], "CI ended the batch while objects ran; the event should have waited for them"
    record = ports.records.job(job.job_id)
    assert record is not None and record["objects"]["total"] == len(children) and record["objects"]["active"] == 0
    check_report(ports, job, children)
    assert not list(ports.records.store.list(f"tracks/{job.job_id}/"))  # no report segment outlives the batch


def test_all_objects_succeeded_is_succeeded(emulator: CIEmulator, store: ObjectStore) -> None:
    """A Success batch whose every object succeeded sends ci.batchjob.succeeded."""
    job = batch(emulator, "Job", failure_ratio=0.0)
    job.final = "Success"
    ports = make_ports(emulator, store)
    sweep(ports)
    assert run_until_finished(ports, emulator, job)["event"]["type"] == "ci.batchjob.succeeded"


def test_cancelled_batch(emulator: CIEmulator, store: ObjectStore) -> None:
    """A cancelled batch is ci.batchjob.cancelled once its running objects are cancelled too."""
    job = batch(emulator, "Workflow")
    ports = make_ports(emulator, store)
    sweep(ports)
    emulator.clock.advance(10)
    sweep(ports)
    assert emulator.book.cancel(job.job_id) == "ok"
    outcome = run_until_finished(ports, emulator, job)
    assert outcome["event"]["type"] == "ci.batchjob.cancelled"
    check_report(ports, job, truth(emulator, job))


def test_report_scope_failed(emulator: CIEmulator, store: ObjectStore) -> None:
    """JOBWATCH_REPORT_SCOPE=failed lists only failed objects; the counts still cover all."""
    job = batch(emulator, "Job", failure_ratio=0.4)
    ports = make_ports(emulator, store, JOBWATCH_REPORT_SCOPE="failed")
    sweep(ports)
    run_until_finished(ports, emulator, job)
    check_report(ports, job, truth(emulator, job), scope="failed")


def test_deadline_cut_resumes_without_duplicates(emulator: CIEmulator, store: ObjectStore) -> None:
    """Object work cut short by the deadline resumes next sweep: every object exactly once in the report."""
    job = batch(emulator, "Job", objects=250, seed=21)
    ports = make_ports(emulator, store)
    sweep(ports)
    emulator.clock.advance(60)  # every object dispatched and done: one sweep would list 3 pages
    # The deadline passes once two object pages have been fetched: mid-listing.
    short = Deadline(at=100.0, clock=lambda: 0.0 if emulator.served["list_media_jobs"] < 2 else 1000.0)
    cut = Sweeper(ports.settings, ports.ci, ports.records, margin=1.0, now=ports.clock).run(short)
    assert not terminal_events(ports, job.job_id) and cut["objects"]["batches"] == 1
    assert emulator.served["list_media_jobs"] == 2
    record = ports.records.job(job.job_id)
    assert record is not None and 0 < record["objects"]["seen"] < 250
    run_until_finished(ports, emulator, job, step=1.0)
    check_report(ports, job, truth(emulator, job))


def test_overlapping_sweeps_make_one_report(emulator: CIEmulator, store: ObjectStore) -> None:
    """Sweeps running two at a time produce one event and a report with every object exactly once."""
    job = batch(emulator, "Workflow", objects=120, seed=22)
    ports = make_ports(emulator, store)
    sweep(ports)
    for _ in range(40):
        emulator.clock.advance(5)
        concurrently(lambda _: handle(TIMER, CONTEXT, ports=ports), [0, 1])
        if terminal_events(ports, job.job_id):
            break
    for _ in range(5):  # a sweep that lost every claim race leaves the rest to the next
        emulator.clock.advance(5)
        sweep(ports)
    assert len(terminal_events(ports, job.job_id)) == 1
    check_report(ports, job, truth(emulator, job))


def test_progress_events_with_notify_all(emulator: CIEmulator, store: ObjectStore) -> None:
    """With JOBWATCH_NOTIFY_ON=all, progress events carry counts, at most one per batch per 5 minutes."""
    job = batch(emulator, "Job", objects=60, seed=23)
    ports = make_ports(emulator, store, JOBWATCH_NOTIFY_ON="all")
    sweep(ports)
    for _ in range(6):
        emulator.clock.advance(4)
        sweep(ports)
    progress = [
        e for e in (ports.records.event(i) for i in stored_ids(ports.records, "events")) if e and "progress" in e["id"]
    ]
    assert len(progress) == 1 and progress[0]["type"] == "ci.batchjob.progress"
    assert progress[0]["jobId"] == job.job_id and progress[0]["payload"]["data"]["objects"]["seen"] > 0
    emulator.clock.advance(301)
    sweep(ports)
    progress = [
        e for e in (ports.records.event(i) for i in stored_ids(ports.records, "events")) if e and "progress" in e["id"]
    ]
    assert len(progress) in (1, 2)  # a second one only if the counts moved


def test_entry_without_state_costs_that_entry(emulator: CIEmulator, store: ObjectStore) -> None:
    """A child entry without a State is skipped and counted in the sweep's errors; the rest is followed."""
    job = batch(emulator, "Workflow", objects=20, seed=24)
    emulator.options.child_without_state = {emu_objects.child_id(job, 0, 5)}
    other = batch(emulator, "Job", objects=10, seed=25)
    ports = make_ports(emulator, store)
    sweep(ports)
    emulator.clock.advance(60)
    result = sweep(ports)
    assert any("BadObjectEntries" in e and job.job_id in e for e in result["errors"])
    record = ports.records.job(job.job_id)
    assert record is not None and record["objects"]["seen"] == 19
    assert terminal_events(ports, other.job_id)  # the other batch finished in the same sweep


def test_unreadable_child_page_costs_that_batch_this_sweep(emulator: CIEmulator, store: ObjectStore) -> None:
    """A child page that stays unreadable fails that batch's object work this sweep, not the sweep; it resumes."""
    job = batch(emulator, "Job", objects=10, seed=26)
    ports = make_ports(emulator, store)
    sweep(ports)
    emulator.clock.advance(60)
    emulator.options.child_faults = ["malformed"] * 5  # every retry of one listing
    result = sweep(ports)
    assert result["jobsSeen"] >= 1 and any("objects of" in e for e in result["errors"])
    run_until_finished(ports, emulator, job, step=1.0)
    check_report(ports, job, truth(emulator, job))


def test_objects_untracked_when_off(emulator: CIEmulator, store: ObjectStore) -> None:
    """JOBWATCH_TRACK_OBJECTS=false: the batch event comes from CI's state alone; no object request is made."""
    job = batch(emulator, "Job")
    ports = make_ports(emulator, store, JOBWATCH_TRACK_OBJECTS="false")
    sweep(ports)
    emulator.clock.advance(25)
    result = sweep(ports)
    assert terminal_events(ports, job.job_id) and "objects" not in json.dumps(result["ciRequests"])
    assert "list_media_jobs" not in emulator.served


def test_parts_split_at_the_byte_limit(
    emulator: CIEmulator, store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parts also split at the byte limit (5 MiB, here 1 KiB): each part fits it, and every object is in one part once."""
    from jobwatch import report

    monkeypatch.setattr(report, "MAX_PART_BYTES", 1024)
    job = batch(emulator, "Job", objects=40, seed=28)
    ports = make_ports(emulator, store)
    run_until_finished(ports, emulator, job, step=5.0)
    manifest = ports.records.manifest(job.job_id)
    assert manifest is not None and len(manifest["parts"]) > 1
    seen: list[str] = []
    for part in manifest["parts"]:
        data = ports.records.store.get(part["key"]) or b""
        assert len(data) <= 1024 and report.md5_hex(data) == part["md5"]
        seen += [r["childId"] for r in report.read_rows(data)]
    assert len(seen) == len(set(seen)) == 40


def test_small_parts_and_a_crash_between_part_and_track(
    emulator: CIEmulator, store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parts split at the row limit; a sweep dying after writing a part but before saving its track loses nothing."""
    from jobwatch import report

    monkeypatch.setattr(report, "MAX_PART_ROWS", 7)
    job = batch(emulator, "Job", objects=40, seed=27)
    ports = make_ports(emulator, store)
    sweep(ports)
    emulator.clock.advance(70)  # every object has ended: this sweep writes the parts and finishes
    real_put = ports.records.put_track
    crashed: list[int] = []

    def dying_put(track: dict[str, Any]) -> None:
        if track.get("parts") and not crashed:
            crashed.append(track["version"])
            raise RuntimeError("the function was killed")
        real_put(track)

    monkeypatch.setattr(ports.records, "put_track", dying_put)
    assert handle(TIMER, CONTEXT, ports=ports)["ok"] is False  # the invocation dies; its claim is released
    assert crashed
    run_until_finished(ports, emulator, job, step=5.0)
    manifest = ports.records.manifest(job.job_id)
    assert manifest is not None and len(manifest["parts"]) == -(-40 // 7)
    assert all(p["rows"] == 7 for p in manifest["parts"][:-1])
    check_report(ports, job, truth(emulator, job))
    assert not list(ports.records.store.list(f"tracks/{job.job_id}/"))  # every replaced segment was deleted


def test_failed_record_write_at_the_end_loses_no_event(
    emulator: CIEmulator, store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CI ends a batch whose objects have all ended, and the write of its terminal record fails in that sweep: the
    objects are not declared finished on a stale record (which would never send the event); a later sweep
    sends exactly one terminal event."""
    from jobwatch.errors import StoreUnavailableError

    job = batch(emulator, "Job", objects=6, seed=29)
    ports = make_ports(emulator, store)
    sweep(ports)
    emulator.clock.advance(200)  # the batch and every object have ended
    real_put = ports.records.put_job
    failed: list[str] = []

    def failing_put(record: dict[str, Any]) -> None:
        if record.get("state") in ("Success", "Failed", "Cancel") and not failed:
            failed.append(record["jobId"])
            raise StoreUnavailableError("injected: the store answered 503")
        real_put(record)

    monkeypatch.setattr(ports.records, "put_job", failing_put)
    handle(TIMER, CONTEXT, ports=ports)
    assert failed == [job.job_id] and not terminal_events(ports, job.job_id)
    for _ in range(5):
        emulator.clock.advance(30)
        sweep(ports)
    assert len(terminal_events(ports, job.job_id)) == 1
