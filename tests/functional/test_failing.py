"""Failing batches over real HTTP (emulator): one ``ci.batchjob.failing`` event while the batch still runs, with its
counts and the failure codes the emulator's truth has, for both batch types and whatever JOBWATCH_NOTIFY_ON says;
none for a healthy batch; with JOBWATCH_CANCEL_WHEN_FAILING the batch is cancelled once, and the event says so."""

from __future__ import annotations

from collections import Counter, deque
from typing import Any

import pytest

from devkit.ciemu import CIEmulator, EmulatedJob
from jobwatch import service
from jobwatch.entry import Ports
from jobwatch.events import TERMINAL_TYPES
from jobwatch.store import ObjectStore
from tests.functional.conftest import concurrently
from tests.functional.test_objects import batch, make_ports, sweep, truth
from tests.stored import stored_ids

FAILING_ENV = {"JOBWATCH_FAILING_MIN": "10", "JOBWATCH_FAILING_RATIO": "0.5"}


def events_of(ports: Ports, job_id: str, *kinds: str) -> list[dict[str, Any]]:
    found = [ports.records.event(i) for i in stored_ids(ports.records, "events")]
    return [e for e in found if e and e["jobId"] == job_id and e["type"] in kinds]


def failing_events(ports: Ports, job_id: str) -> list[dict[str, Any]]:
    return events_of(ports, job_id, "ci.batchjob.failing")


def terminal_events(ports: Ports, job_id: str) -> list[dict[str, Any]]:
    return events_of(ports, job_id, *TERMINAL_TYPES.values())


def sweep_until_ended(ports: Ports, emulator: CIEmulator, job: EmulatedJob) -> list[tuple[bool, int]]:
    """Sweeps ten emulated seconds apart until the batch's terminal event exists; at each sweep, whether CI still
    ran the batch and how many failing events existed."""
    seen = []
    for _ in range(40):
        emulator.clock.advance(10)
        sweep(ports)
        running = job.state_at(emulator.clock())[0] in ("Submitted", "Running")
        seen.append((running, len(failing_events(ports, job.job_id))))
        if terminal_events(ports, job.job_id):
            break
    return seen


@pytest.mark.parametrize("kind", ["Workflow", "Job"])
def test_one_failing_event_while_it_runs(emulator: CIEmulator, store: ObjectStore, kind: str) -> None:
    """A batch failing 80% of its objects: one failing event, created while CI still runs it, whose codes are
    codes of its failed objects (most frequent first, counts within the truth's) and whose counts pass the bar."""
    job = batch(emulator, kind, objects=60, failure_ratio=0.8)
    job.running_for = 200.0
    ports = make_ports(emulator, store, **FAILING_ENV)  # JOBWATCH_NOTIFY_ON stays "terminal"
    seen = sweep_until_ended(ports, emulator, job)
    (event,) = failing_events(ports, job.job_id)
    first = next(i for i, (_, count) in enumerate(seen) if count)
    assert seen[first][0], "the failing event came only after CI had ended the batch"
    data = event["payload"]["data"]
    ended = data["objects"]["failed"] + data["objects"]["succeeded"] + data["objects"]["cancelled"]
    assert ended >= 10 and data["objects"]["failed"] >= 0.5 * ended
    actual = Counter(c.code for c in truth(emulator, job) if c.state == "Failed")
    codes = data["failureCodes"]
    assert codes and [c["count"] for c in codes] == sorted((c["count"] for c in codes), reverse=True)
    assert all(c["code"] in actual and c["count"] <= actual[c["code"]] for c in codes)
    assert "action" not in data and ports.records.job(job.job_id)["failing"]["failureCodes"] == codes  # type: ignore[index]
    listed = service.list_jobs(ports, "", "", 10, "")
    assert listed["failing"] == 1 and listed["jobs"][0]["failing"]["failureCodes"] == codes  # the page's mark and count


def test_no_failing_event_for_a_healthy_batch(emulator: CIEmulator, store: ObjectStore) -> None:
    """A batch whose objects all succeed ends without a failing event."""
    job = batch(emulator, "Job", objects=40, failure_ratio=0.0)
    ports = make_ports(emulator, store, **FAILING_ENV)
    sweep_until_ended(ports, emulator, job)
    assert terminal_events(ports, job.job_id) and not failing_events(ports, job.job_id)


def test_cancel_when_failing(emulator: CIEmulator, store: ObjectStore) -> None:
    """With JOBWATCH_CANCEL_WHEN_FAILING, the failing batch is cancelled with one request, the event says so, and
    the batch ends cancelled; a first cancel that fails is tried again on the next sweep."""
    job = batch(emulator, "Job", objects=60, failure_ratio=0.9)
    job.running_for = 400.0
    ports = make_ports(emulator, store, **FAILING_ENV, JOBWATCH_CANCEL_WHEN_FAILING="true")
    emulator.faults.by_op["cancel"] = deque(["503"] * 5)  # the first attempt's retries all fail
    sweep_until_ended(ports, emulator, job)
    (event,) = failing_events(ports, job.job_id)
    assert event["payload"]["data"]["action"] in ("cancelled", "cancelPending")
    assert job.state_at(emulator.clock())[0] == "Cancel"
    assert emulator.served["cancel"] == 6  # five refused, then the one CI took; never again after
    assert ports.records.track(job.job_id)["failing"]["action"] == "cancelled"  # type: ignore[index]
    assert ports.records.job(job.job_id)["failing"]["action"] == "cancelled"  # type: ignore[index]


def test_one_failing_event_across_overlapping_sweeps(emulator: CIEmulator, store: ObjectStore) -> None:
    """Two sweeps at once, every step: the batch still gets exactly one failing event."""
    job = batch(emulator, "Job", objects=60, failure_ratio=0.8)
    job.running_for = 200.0
    ports = make_ports(emulator, store, **FAILING_ENV)
    for _ in range(40):
        emulator.clock.advance(10)
        concurrently(lambda _: sweep(ports), [1, 2])
        if terminal_events(ports, job.job_id):
            break
    assert len(failing_events(ports, job.job_id)) == 1
