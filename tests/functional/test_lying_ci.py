"""A CI answer that lies costs nothing: over real HTTP, a CI that answers empty, rootless, trickled, oversized or
oddly timed answers loses no event, marks no job wrongly, names the problem in the summary, and keeps the deadline."""

from __future__ import annotations

import json
import time
from collections import deque
from pathlib import Path
from typing import Any

import pytest

from devkit.ciemu import CIEmulator
from jobwatch.entry import Ports, handle
from jobwatch.store import FileStore
from tests.functional.test_sweep import events_of, job, make_ports, sweep

API_TOKEN = "lying-ci-api-token-0123456789"


@pytest.fixture
def ports(emulator: CIEmulator, tmp_path: Path) -> Ports:
    return make_ports(emulator, FileStore(tmp_path / "store"), JOBWATCH_API_TOKEN=API_TOKEN)


def attempt(ports: Ports) -> dict[str, Any]:
    """A timer sweep whose summary may say it went wrong."""
    return handle({"Type": "Timer"}, {"time_limit_in_ms": 60_000}, ports=ports)  # type: ignore[no-any-return]


def lie(emulator: CIEmulator, op: str, how: str, times: int = 40) -> None:
    emulator.faults.by_op[op] = deque([how] * times)


def terminal_events(ports: Ports, job_id: str) -> list[dict[str, Any]]:
    return [e for e in events_of(ports) if e["jobId"] == job_id and e["type"] != "ci.batchjob.state_changed"]


@pytest.mark.parametrize("how", ["empty", "rootless"])
def test_describe_answer_without_jobs_marks_nothing_nonexistent(emulator: CIEmulator, ports: Ports, how: str) -> None:
    """A describe answered 200 with no usable body is an error: the job is not marked nonexistent, and once CI
    answers again its terminal event is created and its record keeps its history."""
    ended = job(emulator, running=330, created_offset=-300)  # older than the history listing's margin: described
    sweep(ports)
    sweep(ports)
    first_history = (ports.records.job(ended.job_id) or {})["history"]
    emulator.clock.advance(40)
    lie(emulator, "describe", how)
    summary = attempt(ports)
    assert summary["ok"] is False and any("CIBadResponse" in e for e in summary["errors"]), summary["errors"]
    assert summary["nonExistJobIds"] == [] and not summary["complete"]
    record = ports.records.job(ended.job_id) or {}
    assert not record.get("nonExistent") and record["state"] == "Running"
    emulator.faults.by_op.clear()
    summary = sweep(ports)
    record = ports.records.job(ended.job_id) or {}
    assert record["state"] == "Success" and record["history"][: len(first_history)] == first_history
    assert [e["type"] for e in terminal_events(ports, ended.job_id)] == ["ci.batchjob.succeeded"]


def test_empty_list_moves_no_history_window(emulator: CIEmulator, ports: Ports) -> None:
    """A list answered 200 with an empty body is an error and keeps the history window: a job created and ended
    while CI lied is still reported once CI answers again."""
    sweep(ports)
    sweep(ports)
    before = json.loads(ports.records.store.get("sweeps/latest.json") or b"{}")["historyFrom"]
    quick = job(emulator, running=2)
    emulator.clock.advance(20)  # created and ended between two sweeps
    lie(emulator, "list", "empty")
    summary = attempt(ports)
    after = json.loads(ports.records.store.get("sweeps/latest.json") or b"{}")["historyFrom"]
    assert any("CIBadResponse" in e for e in summary["errors"]) and after == before
    emulator.faults.by_op.clear()
    sweep(ports)
    assert [e["type"] for e in terminal_events(ports, quick.job_id)] == ["ci.batchjob.succeeded"]


def test_trickled_answer_keeps_the_sweep_deadline(emulator: CIEmulator, ports: Ports) -> None:
    """A list trickled one byte every 0.2 s (a read timeout that restarts with each byte) cannot keep a sweep with
    6 s left past its deadline; the summary names the problem."""
    job(emulator, running=100)
    lie(emulator, "list", "trickle:0.2", times=100)
    started = time.monotonic()
    result = handle({"Type": "Timer"}, {"get_remaining_time_in_millis": lambda: 6000}, ports=ports)
    took = time.monotonic() - started
    assert took < 6.5, took
    assert not result["ok"] and any("CIConnection" in e for e in result["errors"]), result["errors"]


def test_trickled_describe_keeps_the_api_deadline(emulator: CIEmulator, ports: Ports) -> None:
    """``GET /jobs/{id}`` with 3 s left answers within them, with an error, when CI trickles its answer."""
    running = job(emulator, running=100)
    lie(emulator, "describe", "trickle:0.2", times=100)
    event = {"httpMethod": "GET", "path": f"/jobs/{running.job_id}", "headers": {"authorization": f"Bearer {API_TOKEN}"},
             "queryString": {}, "body": None}  # fmt: skip
    started = time.monotonic()
    answer = handle(event, {"get_remaining_time_in_millis": lambda: 3000}, ports=ports)
    assert time.monotonic() - started < 3.5
    assert answer["statusCode"] >= 500 and "Traceback" not in answer["body"]


def test_huge_message_is_stored_cut(emulator: CIEmulator, ports: Ports, tmp_path: Path) -> None:
    """A 2 MB failure Message makes a record far under 1 MiB that says it was cut, and a small event."""
    failing = job(emulator, running=3, final="Failed")
    failing.failure = ("InternalError", "boom " * 400_000)
    sweep(ports)
    emulator.clock.advance(30)
    sweep(ports)
    data = ports.records.store.get(f"jobs/{failing.job_id}.json") or b""
    record = json.loads(data)
    assert record["state"] == "Failed" and record.get("cut") is True and "cut by jobwatch" in record["message"]
    assert len(data) < 64 * 1024
    (event,) = terminal_events(ports, failing.job_id)
    assert len(json.dumps(event["payload"])) < 20 * 1024


@pytest.mark.parametrize("form", ["ms", "naive"])
def test_other_time_forms_are_read(emulator: CIEmulator, ports: Ports, form: str) -> None:
    """A CreationTime with milliseconds, or without an offset (CI's own zone), is stored, not null."""
    made = job(emulator, running=100)
    emulator.options.creation_time_form[made.job_id] = form
    sweep(ports)
    record = ports.records.job(made.job_id) or {}
    assert record["creationTime"] is not None and record["creationTime"].endswith("+08:00")
    assert record["creationTime"][:19] == emulator_time(made.created_at)


def emulator_time(epoch: float) -> str:
    from devkit.ciemu.jobs import ci_time

    return ci_time(epoch)[:19]


def test_empty_time_never_replaces_a_stored_one(emulator: CIEmulator, ports: Ports) -> None:
    """A CreationTime that turns empty later keeps the time already stored."""
    made = job(emulator, running=10)
    sweep(ports)
    stored = (ports.records.job(made.job_id) or {})["creationTime"]
    emulator.options.creation_time_form[made.job_id] = "empty"
    emulator.clock.advance(5)
    sweep(ports)
    record = ports.records.job(made.job_id) or {}
    assert record["state"] == "Running" and stored is not None and record["creationTime"] == stored


@pytest.mark.parametrize(
    "context",
    [
        {"get_remaining_time_in_millis": lambda: 1 / 0},
        {"get_remaining_time_in_millis": lambda: float("nan")},
        {"get_remaining_time_in_millis": lambda: float("inf")},
        {"time_limit_in_ms": float("inf")},
        {"time_limit_in_ms": 1e18},
    ],
)
def test_odd_context_falls_back(emulator: CIEmulator, ports: Ports, context: dict[str, Any]) -> None:
    """A context whose remaining time raises or is not a usable figure runs the sweep on the default budget."""
    job(emulator, running=10)
    assert handle({"Type": "Timer"}, context, ports=ports)["ok"] is True
    event = {"httpMethod": "GET", "path": "/jobs", "headers": {"authorization": f"Bearer {API_TOKEN}"},
             "queryString": {}, "body": None}  # fmt: skip
    assert handle(event, context, ports=ports)["statusCode"] == 200
