"""A store the previous version wrote keeps working: its tracks (every object inside the track), its index documents
(index/jobs.json, index/events.json) and its outbox markers (outbox/<eventId>.json) are read and moved to the new
layout by the sweeps, with no event sent twice or lost and every object once in each report."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from devkit.ciemu import CIEmulator
from jobwatch.records import dumps
from jobwatch.store import ObjectStore
from tests.functional.test_delivery import Receiver, make_ports, sweep
from tests.functional.test_objects import check_report, terminal_events, truth
from tests.functional.test_spans import to_layout_1

if TYPE_CHECKING:
    from pytest_httpserver import HTTPServer

    from jobwatch.entry import Ports


def to_previous_version(ports: Ports) -> None:
    """Rewrite the store as the previous version kept it: layout-1 tracks, single index documents, outbox markers
    named by event id."""
    store = ports.records.store
    for key in list(store.list("tracks/")):
        if key.count("/") == 1 and key.endswith(".json"):
            to_layout_1(ports.records, key[len("tracks/") : -len(".json")])
    jobs: dict[str, Any] = {}
    statuses: dict[str, str] = {}
    for key in list(store.list("index/")):
        store.delete(key)
    for key in store.list("jobs/"):
        record = ports.records.load(key) or {}
        jobs[record["jobId"]] = {k: record.get(k) for k in ("type", "name", "state", "creationTime")}
    for key in store.list("events/"):
        event = ports.records.load(key) or {}
        statuses[event["id"]] = str(event.get("status"))
    store.put("index/jobs.json", dumps({"version": 1, "jobs": jobs, "complete": True, "after": ""}))
    store.put("index/events.json", dumps({"version": 1, "statuses": statuses, "open": {}, "recent": [],
                                          "complete": True, "after": ""}))  # fmt: skip
    for key in list(store.list("outbox/")):
        store.delete(key)
        store.put(f"outbox/{key.split('-', 1)[1]}", b"{}")


def test_a_store_of_the_previous_version_is_moved_on(
    emulator: CIEmulator, store: ObjectStore, httpserver: HTTPServer
) -> None:
    """Batches half followed and events waiting to be retried under the previous layout: the sweeps finish every
    batch with one terminal event each, deliver each event once, and leave no layout-1 document behind."""
    receiver = Receiver(httpserver, [503] * 6)  # the first deliveries fail: events wait in the outbox
    ports = make_ports(emulator, store, webhook=receiver.url, JOBWATCH_TRACK_OBJECTS="true")
    batches = emulator.book.preload(3, seed=71, job_type="Job", duration=(40, 60), objects=50, object_duration=(5, 60))
    done = emulator.book.preload(2, seed=72, duration=(5, 10))
    sweep(ports)
    for _ in range(3):
        emulator.clock.advance(9)
        sweep(ports)
    assert list(ports.records.store.list("outbox/")), "some deliveries wait for a retry"
    to_previous_version(ports)
    for _ in range(60):
        emulator.clock.advance(20)
        sweep(ports)
        if all(terminal_events(ports, b.job_id) for b in batches) and not list(ports.records.store.list("outbox/")):
            break
    for job in batches:
        assert len(terminal_events(ports, job.job_id)) == 1
        check_report(ports, job, truth(emulator, job))
    delivered = receiver.ids(200)
    assert all(n == 1 for n in delivered.values()), delivered
    events = [ports.records.event(k[len("events/") : -len(".json")]) for k in ports.records.store.list("events/")]
    assert {e["id"] for e in events if e} == set(delivered), "every event delivered once"
    assert {j.job_id for j in done} <= {e["jobId"] for e in events if e}
    keys = list(ports.records.store.list(""))
    assert not [k for k in keys if k in ("index/jobs.json", "index/events.json")]
    assert not [k for k in keys if k.startswith("outbox/evt-")]
    for key in keys:
        if key.startswith("tracks/") and key.count("/") == 1:
            track = ports.records.load(key) or {}  # a finished one is only read: it keeps its (empty) fields
            assert track.get("finished") or ("active" not in track and "rows" not in track), key
