"""The index documents sweeps keep: lists and page views read at most 3 stored objects, whatever the store holds;
missing indexes are rebuilt; lost lines heal; dead letters and replays show up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devkit.ciemu import CIEmulator
from devkit.counting import CountingStore
from jobwatch.entry import Ports, handle
from jobwatch.overview import EVENTS_KEY, JOBS_KEY
from jobwatch.store import FileStore
from tests.functional.apitools import build_ports, call


@pytest.fixture
def counted(emulator: CIEmulator, tmp_path: Path) -> tuple[Ports, CountingStore]:
    """40 jobs swept to their end with a webhook that always fails (dead letters), and a store that counts reads."""
    emulator.book.preload(40, seed=51, duration=(5, 10))
    ports = build_ports(emulator, tmp_path / "store", JOBWATCH_WEBHOOK_URL="https://hooks.example.com/x")
    store = CountingStore(FileStore(tmp_path / "store"))
    ports.records.store = store  # type: ignore[assignment]
    handle({"action": "sweep"}, {}, ports=ports)
    emulator.clock.advance(60)
    handle({"action": "sweep"}, {}, ports=ports)
    return ports, store


def view(ports: Ports, store: CountingStore) -> tuple[int, dict[str, Any], dict[str, Any]]:
    """A page view's data calls: the newest jobs with counts, and the dead letters with counts."""
    store.calls.clear()
    _, jobs, _ = call(ports, "GET", "/jobs", query={"limit": "50"})
    _, dead, _ = call(ports, "GET", "/events", query={"status": "failed", "limit": "50"})
    return store.calls["get"] + store.calls["list"], jobs, dead


def test_page_view_reads_at_most_three_objects(counted: tuple[Ports, CountingStore]) -> None:
    """Jobs (with counts by state) and dead letters (with counts by status) cost at most 3 store reads."""
    ports, store = counted
    reads, jobs, dead = view(ports, store)
    assert reads <= 3, store.calls
    assert jobs["total"] == 40 and sum(jobs["counts"].values()) == 40 and len(jobs["jobs"]) == 40
    assert "counts" in dead


def test_index_lines_equal_the_records(counted: tuple[Ports, CountingStore]) -> None:
    """Each index line says what the job's record says (state, times, name), newest first."""
    ports, store = counted
    _, jobs, _ = view(ports, store)
    for line in jobs["jobs"]:
        record = ports.records.job(line["jobId"])
        assert record is not None
        assert {k: line.get(k) for k in ("state", "name", "type", "endTime")} == {
            k: record.get(k) for k in ("state", "name", "type", "endTime")
        }
    created = [j["creationTime"] for j in jobs["jobs"]]
    assert created == sorted(created, reverse=True)


def test_search_and_filters(counted: tuple[Ports, CountingStore]) -> None:
    """search matches part of an ID or name; state and type filter; cursor pages cover everything once."""
    ports, _ = counted
    _, everything, _ = call(ports, "GET", "/jobs", query={"limit": "100"})
    first = everything["jobs"][0]
    _, by_id, _ = call(ports, "GET", "/jobs", query={"search": first["jobId"][3:12]})
    assert [j["jobId"] for j in by_id["jobs"]] == [first["jobId"]]
    _, by_name, _ = call(ports, "GET", "/jobs", query={"search": first["name"].upper()})
    assert first["jobId"] in [j["jobId"] for j in by_name["jobs"]]
    _, failed, _ = call(ports, "GET", "/jobs", query={"state": "Failed", "type": "Job"})
    assert all(j["state"] == "Failed" and j["type"] == "Job" for j in failed["jobs"])
    seen, cursor = [], ""
    while True:
        _, page, _ = call(ports, "GET", "/jobs", query={"limit": "7", **({"cursor": cursor} if cursor else {})})
        seen += [j["jobId"] for j in page["jobs"]]
        if not page["nextCursor"]:
            break
        cursor = page["nextCursor"]
    assert len(seen) == len(set(seen)) == 40


def test_missing_index_is_rebuilt(counted: tuple[Ports, CountingStore], emulator: CIEmulator) -> None:
    """Without indexes, lists fall back to reading records; the next sweep rebuilds both."""
    ports, store = counted
    store.inner.delete(JOBS_KEY)
    store.inner.delete(EVENTS_KEY)
    _, jobs, _ = call(ports, "GET", "/jobs", query={"limit": "100"})
    assert len(jobs["jobs"]) == 40 and "counts" not in jobs  # the slow path still answers
    handle({"action": "sweep"}, {}, ports=ports)
    reads, jobs, dead = view(ports, store)
    assert reads <= 3 and jobs["total"] == 40 and dead["counts"]["pending"] + dead["counts"]["failed"] >= 1


def test_lost_line_heals(emulator: CIEmulator, tmp_path: Path) -> None:
    """A line lost to an overlapping sweep's write comes back with the next sweep that observes the job."""
    (job,) = emulator.book.preload(1, seed=52, duration=(500, 600))
    ports = build_ports(emulator, tmp_path / "store")
    handle({"action": "sweep"}, {}, ports=ports)
    index = ports.records.load(JOBS_KEY)
    assert index is not None and job.job_id in index["jobs"]
    del index["jobs"][job.job_id]
    ports.records.store.put(JOBS_KEY, __import__("json").dumps(index).encode())
    emulator.clock.advance(30)
    handle({"action": "sweep"}, {}, ports=ports)
    healed = ports.records.load(JOBS_KEY)
    assert healed is not None and healed["jobs"][job.job_id]["state"] == "Running"


def test_fold_reads_what_another_writer_stored(emulator: CIEmulator, tmp_path: Path) -> None:
    """A warm instance reuses the index it wrote only while the store holds those bytes: another writer's change is
    folded into, not written over."""
    (job,) = emulator.book.preload(1, seed=53, duration=(50, 60))
    ports = build_ports(emulator, tmp_path / "store")
    handle({"action": "sweep"}, {}, ports=ports)
    index = ports.records.load(JOBS_KEY)
    assert index is not None
    index["jobs"]["bOtherWriter"] = {"state": "Running", "name": "theirs"}
    ports.records.store.put(JOBS_KEY, __import__("json").dumps(index).encode())
    emulator.clock.advance(120)  # the job ends: this sweep writes the index again
    handle({"action": "sweep"}, {}, ports=ports)
    folded = ports.records.load(JOBS_KEY)
    assert folded is not None and folded["jobs"][job.job_id]["state"] in ("Success", "Failed", "Cancel")
    assert folded["jobs"]["bOtherWriter"]["name"] == "theirs"


def test_dead_letters_and_replay_in_the_index(counted: tuple[Ports, CountingStore], emulator: CIEmulator) -> None:
    """Events that ran out of retries are listed as failed from the index; a replay moves one back to pending."""
    ports, _ = counted
    for _ in range(9):  # past every retry (5 s … 10 h)
        emulator.clock.advance(40_000)
        handle({"action": "sweep"}, {}, ports=ports)
    _, dead, _ = call(ports, "GET", "/events", query={"status": "failed", "limit": "100"})
    assert dead["events"] and dead["counts"]["failed"] == len(dead["events"])
    first = dead["events"][0]["id"]
    assert call(ports, "POST", f"/events/{first}/replay")[0] == 202
    _, pending, _ = call(ports, "GET", "/events", query={"status": "pending", "limit": "100"})
    assert first in [e["id"] for e in pending["events"]]


def test_recent_events_from_the_index(counted: tuple[Ports, CountingStore]) -> None:
    """GET /events and ?status=delivered list the newest events from the index, newest first, in a few reads."""
    ports, store = counted
    store.calls.clear()
    _, everything, _ = call(ports, "GET", "/events", query={"limit": "100"})
    assert store.calls["get"] + store.calls["list"] <= 3
    created = [e["createdAt"] for e in everything["events"]]
    assert created == sorted(created, reverse=True) and len(created) == sum(everything["counts"].values())
    assert all("url" not in t for e in everything["events"] for t in e["targets"].values())
