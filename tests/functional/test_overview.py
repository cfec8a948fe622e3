"""The indexes sweeps keep: lists and page views read at most 3 stored objects and 1 MiB, whatever the store holds
(a million events included); missing indexes are rebuilt; an update an overlapping sweep could not write comes back;
dead letters and replays show up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devkit.ciemu import CIEmulator
from devkit.counting import CountingStore
from jobwatch import overview
from jobwatch.book import Book
from jobwatch.entry import Ports, handle
from jobwatch.overview import ROOTS
from jobwatch.records import Records, dumps
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
    for key in list(store.inner.list("index/")):
        store.inner.delete(key)
    _, jobs, _ = call(ports, "GET", "/jobs", query={"limit": "100"})
    assert len(jobs["jobs"]) == 40 and "counts" not in jobs  # the slow path still answers
    handle({"action": "sweep"}, {}, ports=ports)
    reads, jobs, dead = view(ports, store)
    assert reads <= 3 and jobs["total"] == 40 and dead["counts"]["pending"] + dead["counts"]["failed"] >= 1


def test_an_update_an_overlapping_sweep_could_not_write_comes_back(emulator: CIEmulator, tmp_path: Path) -> None:
    """While another writer holds the index, a sweep that sees a job finish stores its change as a delta; the next
    sweep, which sees nothing new, applies it: the finished job's line says how it ended."""
    (job,) = emulator.book.preload(1, seed=52, duration=(50, 60))
    ports = build_ports(emulator, tmp_path / "store")
    handle({"action": "sweep"}, {}, ports=ports)
    root = ports.records.load(ROOTS["jobs"])
    assert root is not None and root["head"]["lines"][job.job_id]["state"] in ("Submitted", "Running")
    held = ports.records.claim_key("index-jobs", int(root["seq"]) + 1)
    ports.records.store.put(held, b'{"at": "2026-01-01T00:00:00+00:00", "expiresAt": "2999-01-01T00:00:00+00:00"}')
    emulator.clock.advance(120)  # the job ends; the index is held by another writer
    handle({"action": "sweep"}, {}, ports=ports)
    stale = ports.records.load(ROOTS["jobs"])
    assert stale is not None and stale["head"]["lines"][job.job_id]["state"] in ("Submitted", "Running")
    assert list(ports.records.store.list("index/delta/"))
    ports.records.store.delete(held)  # the other writer is done
    emulator.clock.advance(30)
    handle({"action": "sweep"}, {}, ports=ports)
    healed = ports.records.load(ROOTS["jobs"])
    record = ports.records.job(job.job_id)
    assert record is not None and record["state"] in ("Success", "Failed", "Cancel")
    assert healed is not None and healed["head"]["lines"][job.job_id]["state"] == record["state"]
    assert not list(ports.records.store.list("index/delta/"))


def test_a_million_events_page_view(emulator: CIEmulator, tmp_path: Path) -> None:
    """An events index of 1,000,000 lines (written directly, not by sweeping): the newest events with the counts,
    and the dead letters, each cost at most 3 reads and 1 MiB; no index document passes 1 MiB."""
    store = CountingStore(FileStore(tmp_path / "store"))
    records = Records(store)  # type: ignore[arg-type]
    root: dict[str, Any] = {"version": 2, "seq": 0, "metas": [], "rebuild": {"after": "", "complete": True}}
    for start in range(0, 1_000_000, 50_000):
        pages = Book(records, "events", root, lambda line: str(line["status"]))
        for n in range(start, start + 50_000):
            status = "failed" if n % 100_000 == 7 else "delivered"
            created = f"2023-11-{14 + n // 200_000:02d}T{(n // 3600) % 24:02d}:{(n // 60) % 60:02d}:{n % 60:02d}+00:00"
            event_id = f"evt-b{n:031d}-success"
            pages.put(
                (created, event_id),
                {
                    "id": event_id,
                    "type": "ci.batchjob.succeeded",
                    "jobId": f"b{n:031d}",
                    "status": status,
                    "createdAt": created,
                    "targets": {},
                    "attempts": [],
                },
            )
        pages.save()
        records.store.put(ROOTS["events"], dumps(root))
    assert sum(root["counts"].values()) == 1_000_000 and root["counts"]["failed"] == 10
    largest = max(p.stat().st_size for p in (tmp_path / "store" / "index").rglob("*.json"))
    assert largest <= 1024 * 1024
    ports = build_ports(emulator, tmp_path / "store")
    ports.records.store = store  # type: ignore[assignment]

    def listed(query: dict[str, str]) -> dict[str, Any]:
        store.calls.clear()
        store.bytes_read = 0
        _, page, _ = call(ports, "GET", "/events", query=query)
        assert store.calls["get"] + store.calls["list"] <= 3 and store.bytes_read <= 1024 * 1024, store.calls
        return page

    newest = listed({"limit": "50"})
    dead = listed({"status": "failed", "limit": "50"})
    assert len(newest["events"]) == 50 and newest["counts"]["delivered"] == 999_990
    assert dead["events"] and all(e["status"] == "failed" for e in dead["events"])
    seen = len(dead["events"])
    cursor = dead["nextCursor"]
    while cursor:
        more = listed({"status": "failed", "limit": "50", "cursor": cursor})
        seen, cursor = seen + len(more["events"]), more["nextCursor"]
    assert seen == 10


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


def test_an_index_writer_that_died_is_taken_over(emulator: CIEmulator, tmp_path: Path) -> None:
    """A claim on the index's next sequence whose lease ran out (its sweep died before saving the root) does not
    stop the indexes: the next sweep takes it over and writes them."""
    (job,) = emulator.book.preload(1, seed=54, duration=(50, 60))
    ports = build_ports(emulator, tmp_path / "store")
    handle({"action": "sweep"}, {}, ports=ports)
    root = ports.records.load(ROOTS["jobs"])
    assert root is not None
    dead = ports.records.claim_key("index-jobs", int(root["seq"]) + 1)
    ports.records.store.put(dead, b'{"at": "2020-01-01T00:00:00+00:00", "expiresAt": "2020-01-01T00:01:00+00:00"}')
    emulator.clock.advance(120)  # the job ends
    handle({"action": "sweep"}, {}, ports=ports)
    written = ports.records.load(ROOTS["jobs"])
    record = ports.records.job(job.job_id)
    assert written is not None and record is not None and int(written["seq"]) > int(root["seq"])
    assert written["head"]["lines"][job.job_id]["state"] == record["state"]
    assert not list(ports.records.store.list("index/delta/"))


def test_a_new_store_needs_no_rebuild(emulator: CIEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A store's first sweep indexes what it records and marks both indexes complete: nothing to rebuild from the
    records it has just written, however small the rebuild's slice (a store with records the index lacks is rebuilt:
    test_missing_index_is_rebuilt)."""
    monkeypatch.setattr(overview, "REBUILD_SLICE", 5)
    emulator.book.preload(40, seed=55, duration=(500, 600))
    ports = build_ports(emulator, tmp_path / "store")
    handle({"action": "sweep"}, {}, ports=ports)
    jobs, events = ports.records.load(ROOTS["jobs"]), ports.records.load(ROOTS["events"])
    assert jobs is not None and events is not None
    assert jobs["rebuild"]["complete"] and events["rebuild"]["complete"] and sum(jobs["counts"].values()) == 40
