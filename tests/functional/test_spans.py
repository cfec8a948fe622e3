"""A batch's objects in spans, over real HTTP on both stores: a span whose objects have all ended is never listed
again; every object lands in the report exactly once across many spans, cut and overlapping sweeps; a track an
earlier version wrote (every object inside it) moves to spans with nothing lost or sent twice; a sweep that finds
nothing new writes nothing, with objects tracked."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest

from devkit.ciemu import CIEmulator
from jobwatch import parts, report, spans
from jobwatch.deadline import Deadline
from jobwatch.entry import handle
from jobwatch.records import Records
from jobwatch.store import ObjectStore
from jobwatch.sweep import Sweeper
from tests.functional.conftest import concurrently
from tests.functional.test_objects import (
    CONTEXT,
    TIMER,
    batch,
    check_report,
    make_ports,
    run_until_finished,
    sweep,
    terminal_events,
    truth,
)


@pytest.fixture(autouse=True)
def small_spans(monkeypatch: pytest.MonkeyPatch) -> None:
    """Spans of four objects, so a batch of tens of objects has many."""
    monkeypatch.setattr(spans, "SPAN_OBJECTS", 4)


def span_docs(records: Records, track: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for stream in track["streams"].values():
        for line in stream["spans"]:
            document = records.load(line["key"]) if line.get("key") else None
            yield line, document or {"active": {}, "rows": []}


def key_of(child: Any) -> tuple[str, str]:
    """A child's report order key, from its whole-second creation time as CI reports it."""
    created = datetime.fromtimestamp(int(child.created_at), timezone.utc).isoformat()
    return report.order_key({"creationTime": created, "childId": child.child_id})


def test_closed_spans_are_never_listed_again(emulator: CIEmulator, store: ObjectStore) -> None:
    """Objects 5 s apart ending out of order: no ended-objects listing returns an object of a span that was closed
    (or already written to the report) when the sweep began."""
    (job,) = emulator.book.preload(1, seed=8, job_type="Job", duration=(200, 200), objects=40,
                                   object_failure_ratio=0.2, object_duration=(5, 150))  # fmt: skip
    ports = make_ports(emulator, store)
    listed: list[str] = []
    real = ports.ci.list_children_page

    def recording(**kwargs: Any) -> Any:
        page = real(**kwargs)
        if kwargs.get("states"):
            listed.extend(c.child_id for c in page.children)
        return page

    ports.ci.list_children_page = recording  # type: ignore[method-assign]
    sweep(ports)
    checked = 0
    for _ in range(80):
        emulator.clock.advance(7)
        track = ports.records.track(job.job_id) or {}
        assert len(track.get("garbage", [])) <= 24  # only the last sweep's leftovers are named: the track stays small
        closed: set[str] = set()
        for _line, document in span_docs(ports.records, track) if track else []:
            if not document["active"]:
                closed |= {r["childId"] for r in document["rows"]}
        flushed = tuple(track.get("flushed") or ("", ""))
        written = {c.child_id for c in truth(emulator, job) if key_of(c) <= flushed}
        listed.clear()
        sweep(ports)
        assert not (closed | written) & set(listed), "an object of a closed span was listed again"
        checked += bool(closed) + bool(written)
        if terminal_events(ports, job.job_id):
            break
    assert len(terminal_events(ports, job.job_id)) == 1 and checked
    check_report(ports, job, truth(emulator, job))


def test_many_spans_cut_and_overlapping_sweeps_report_each_object_once(
    emulator: CIEmulator, store: ObjectStore
) -> None:
    """120 objects in spans of four, through sweeps cut short mid-listing and sweeps two at a time: one event,
    and every object exactly once in the report, in creation order."""
    job = batch(emulator, "Workflow", objects=120, seed=31, two_workflows=True)
    ports = make_ports(emulator, store)
    sweep(ports)
    for round_no in range(60):
        emulator.clock.advance(3)
        if round_no % 3 == 0:  # cut short after a few object pages
            limit = sum(emulator.served.values()) + 6
            short = Deadline(at=100.0, clock=lambda limit=limit: 0.0 if sum(emulator.served.values()) < limit else 1e3)
            Sweeper(ports.settings, ports.ci, ports.records, margin=1.0, now=ports.clock).run(short)
        else:
            concurrently(lambda _: handle(TIMER, CONTEXT, ports=ports), [0, 1])
        if terminal_events(ports, job.job_id):
            break
    for _ in range(5):
        emulator.clock.advance(5)
        sweep(ports)
    assert len(terminal_events(ports, job.job_id)) == 1
    check_report(ports, job, truth(emulator, job))
    assert not list(ports.records.store.list(f"tracks/{job.job_id}/"))  # no span or segment outlives the batch


def to_layout_1(records: Records, job_id: str) -> None:
    """Rewrite a track as the earlier version kept it: every active object and unwritten row inside the track."""
    track = records.track(job_id)
    assert track is not None
    active: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    for name, stream in track["streams"].items():
        for line in stream["spans"]:
            document = records.load(line["key"]) if line.get("key") else None
            for child_id, entry in (document or {}).get("active", {}).items():
                active[child_id] = {**entry, "stream": name}
            rows += (document or {}).get("rows", [])
            if line.get("key"):
                records.store.delete(line["key"])
        stream.pop("spans")
        stream.pop("resume", None)
        stream["reachedEnd"] = False
    for key in ("layout", "flushed", "spanSeq"):
        track.pop(key, None)
    track.update(active=active, rows=rows)
    records.put_track(track)


def test_a_track_of_the_earlier_layout_moves_to_spans(emulator: CIEmulator, store: ObjectStore) -> None:
    """A batch half followed by the earlier version (its track holding every object) is finished by this one:
    one event, every object exactly once, no layout-1 field left."""
    job = batch(emulator, "Job", objects=60, seed=33)
    ports = make_ports(emulator, store)
    sweep(ports)
    emulator.clock.advance(14)
    sweep(ports)
    track = ports.records.track(job.job_id)
    assert track is not None and track["counts"]["seen"] and track["counts"]["active"]
    to_layout_1(ports.records, job.job_id)
    old = ports.records.track(job.job_id)
    assert old is not None and old["active"] and "spans" not in next(iter(old["streams"].values()))
    emulator.clock.advance(3)
    sweep(ports)
    moved = ports.records.track(job.job_id)
    assert moved is not None and "active" not in moved and "rows" not in moved and moved["layout"] == 2
    run_until_finished(ports, emulator, job, step=5.0)
    assert len(terminal_events(ports, job.job_id)) == 1
    check_report(ports, job, truth(emulator, job))


class CountingStore:
    """A store that counts every write it is asked for."""

    def __init__(self, inner: ObjectStore) -> None:
        self.inner = inner
        self.writes: list[tuple[str, str]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def put(self, key: str, data: bytes) -> None:
        self.writes.append(("put", key))
        self.inner.put(key, data)

    def create(self, key: str, data: bytes) -> bool:
        self.writes.append(("create", key))
        return self.inner.create(key, data)

    def delete(self, key: str) -> None:
        self.writes.append(("delete", key))
        self.inner.delete(key)


def test_a_quiet_sweep_writes_nothing_with_objects_tracked(emulator: CIEmulator, store: ObjectStore) -> None:
    """A batch whose objects are all dispatched and none has ended (CI ended the batch, its objects run on): once
    followed, a sweep writes nothing at all (no claim made and removed, no track, no span, no summary)."""
    (job,) = emulator.book.preload(1, seed=9, job_type="Workflow", duration=(100, 100), objects=30,
                                   object_duration=(10**5, 10**5))  # fmt: skip
    counting = CountingStore(store)
    ports = make_ports(emulator, counting)  # type: ignore[arg-type]
    sweep(ports)
    emulator.clock.advance(job.submitted_for + 101)  # every object dispatched
    for _ in range(3):
        sweep(ports)
    counting.writes.clear()
    emulator.clock.advance(2)
    summary = sweep(ports)
    assert summary["objects"]["followed"] == 1 and not summary["errors"]
    assert counting.writes == [], counting.writes
    record = ports.records.job(job.job_id)
    assert record is not None and record["objects"]["active"] == record["objects"]["seen"] > 0


def test_grown_spans_are_cut_in_two_and_segments_stay_small(
    emulator: CIEmulator, store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Spans whose rows grow past the split limit (3 KB here) are cut in two, and segments stay within theirs (2 KB
    here): one event, every object exactly once in creation order, no segment over its limit."""
    monkeypatch.setattr(spans, "SPAN_OBJECTS", 1000)
    monkeypatch.setattr(spans, "SPLIT_BYTES", 3000)
    monkeypatch.setattr(parts, "SEGMENT_BYTES", 2048)
    sizes: list[tuple[str, int]] = []
    real_put = store.put

    def put(key: str, data: bytes) -> None:
        sizes.append((key, len(data)))
        real_put(key, data)

    monkeypatch.setattr(store, "put", put)
    job = batch(emulator, "Job", objects=120, seed=35)
    ports = make_ports(emulator, store)
    sweep(ports)
    most = 0
    for _ in range(60):
        emulator.clock.advance(4)
        sweep(ports)
        track = ports.records.track(job.job_id) or {"streams": {}}
        most = max(most, sum(len(s["spans"]) for s in track["streams"].values()))
        if terminal_events(ports, job.job_id):
            break
    assert len(terminal_events(ports, job.job_id)) == 1 and most > 2  # one span of 120 objects was cut up
    check_report(ports, job, truth(emulator, job))
    segments = [size for key, size in sizes if "/segment-" in key]
    assert segments and max(segments) <= 2048  # a segment is written before the row that would pass the limit


def test_a_quiet_sweep_costs_two_requests_when_many_objects_share_a_second(
    emulator: CIEmulator, store: ObjectStore
) -> None:
    """3,000 objects dispatched in ten seconds (300 a second), all still running: once the newest second is a minute
    old, a sweep with nothing new costs the batch 2 object requests (new ones, ended ones), not one per 100 objects
    of that second listed again."""
    (job,) = emulator.book.preload(1, seed=10, job_type="Job", duration=(10, 10), objects=3000,
                                   object_duration=(10**6, 10**6))  # fmt: skip
    ports = make_ports(emulator, store)
    sweep(ports)
    emulator.clock.advance(job.submitted_for + 11)  # every object dispatched, the batch ended
    for _ in range(3):
        sweep(ports)
    emulator.clock.advance(120)  # the newest second is two minutes old
    sweep(ports)
    emulator.clock.advance(60)
    before = emulator.served["list_media_jobs"]
    sweep(ports)
    assert emulator.served["list_media_jobs"] - before <= 2
    record = ports.records.job(job.job_id)
    assert record is not None and record["objects"]["seen"] == record["objects"]["active"] == 3000
