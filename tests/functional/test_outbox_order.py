"""The outbox is ordered by due time, over real sockets on both stores: a sweep reads only the deliveries that are
due (a long queue of later retries costs it nothing), the earliest due first; markers an earlier version wrote
move to their due time and are delivered once."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest

from devkit.ciemu import CIEmulator
from jobwatch import book
from jobwatch import events as ev
from jobwatch.entry import handle
from jobwatch.overview import Overview
from jobwatch.records import Records
from jobwatch.store import ObjectStore
from tests.functional.test_delivery import CONTEXT, TIMER, Receiver, make_ports, sweep
from tests.functional.test_spans import CountingStore

if TYPE_CHECKING:
    from pytest_httpserver import HTTPServer


class ReadCounting(CountingStore):
    """Counts the reads of events too."""

    def __init__(self, inner: ObjectStore) -> None:
        super().__init__(inner)
        self.reads: Counter[str] = Counter()

    def get(self, key: str) -> bytes | None:
        self.reads[key] += 1
        return self.inner.get(key)


def pending_event(records: Records, number: int, due: datetime, url: str) -> str:
    """A stored pending event with one webhook target due at ``due``, and its marker."""
    record = {"jobId": f"b{number:032d}", "type": "Job", "name": "queued", "state": "Success", "history": []}
    event = ev.build_event(ev.TERMINAL_TYPES["Success"], record, "Running", 1, bucket="demo-1250000000",
                           region="ap-guangzhou", metadata=None, record_url="file:x", now=due)  # fmt: skip
    event["targets"] = ev.delivery_targets(url, None, None, due)
    records.put_outbox(event["id"], event["nextAttemptAt"])
    assert records.create_event(event)
    return str(event["id"])


def test_a_sweep_reads_only_due_deliveries(emulator: CIEmulator, store: ObjectStore, httpserver: HTTPServer) -> None:
    """300 events due tomorrow and 5 due now: the sweep delivers the 5, reads none of the 300 and leaves their
    markers; the 5 markers are gone."""
    receiver = Receiver(httpserver)
    counting = ReadCounting(store)
    ports = make_ports(emulator, counting, webhook=receiver.url)  # type: ignore[arg-type]
    sweep(ports)  # the store's first sweep (indexes, retention's first slice) goes before the queue is planted
    now = ports.clock()
    later = [pending_event(ports.records, i, now + timedelta(days=1), receiver.url) for i in range(300)]
    due = [pending_event(ports.records, 1000 + i, now - timedelta(minutes=i), receiver.url) for i in range(5)]
    counting.reads.clear()
    summary = sweep(ports)
    assert summary["deliveries"]["ok"] == 5
    assert sorted(receiver.ids()) == sorted(due)
    assert not any(counting.reads[Records.event_key(i)] for i in later)
    markers = list(ports.records.store.list("outbox/"))
    assert len(markers) == 300 and all(not any(i in m for i in due) for m in markers)


def test_due_deliveries_go_earliest_first(emulator: CIEmulator, store: ObjectStore, httpserver: HTTPServer) -> None:
    """With more due than a sweep's deadline allows, the earliest due are delivered first; the rest next sweep."""
    order: list[str] = []
    receiver = Receiver(httpserver)
    ports = make_ports(emulator, store, webhook=receiver.url)
    now = ports.clock()
    due = [pending_event(ports.records, i, now - timedelta(minutes=100 - i), receiver.url) for i in range(40)]
    real = ports.notifier._round  # type: ignore[union-attr]

    def recording(event: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        order.append(event["id"])
        return real(event, *args, **kwargs)

    ports.notifier._round = recording  # type: ignore[union-attr]
    sweep(ports)
    assert sorted(receiver.ids()) == sorted(due)
    chunks = [order[i : i + 32] for i in range(0, len(order), 32)]  # a chunk of due markers is read at a time
    assert set(chunks[0]) == set(due[:32]) and set(chunks[1]) == set(due[32:])


def test_markers_of_an_earlier_version_move_and_deliver_once(
    emulator: CIEmulator, store: ObjectStore, httpserver: HTTPServer
) -> None:
    """``outbox/<eventId>.json`` markers (an earlier version's) are moved to their due time: a due event is
    delivered once, a later one waits under its due time, a settled one loses its marker."""
    receiver = Receiver(httpserver)
    ports = make_ports(emulator, store, webhook=receiver.url)
    now = ports.clock()
    due = pending_event(ports.records, 1, now - timedelta(minutes=1), receiver.url)
    later = pending_event(ports.records, 2, now + timedelta(hours=2), receiver.url)
    settled = pending_event(ports.records, 3, now, receiver.url)
    done = ports.records.event(settled)
    assert done is not None
    ports.records.put_event({**done, "status": "delivered", "nextAttemptAt": None})
    for key in list(ports.records.store.list("outbox/")):
        ports.records.store.delete(key)
    for event_id in (due, later, settled):
        ports.records.store.put(f"outbox/{event_id}.json", b"{}")
    sweep(ports)
    sweep(ports)
    assert receiver.ids() == Counter({due: 1})
    assert list(ports.records.store.list("outbox/")) == [Records.outbox_key(later, now + timedelta(hours=2))]


def test_marker_key_sorts_by_due_time() -> None:
    """Marker names sort as their due times do (ten digits of epoch seconds), whatever the event id."""
    base = datetime(2026, 1, 1, tzinfo=timezone.utc)
    keys = [Records.outbox_key(f"evt-{name}", base + timedelta(seconds=s)) for name, s in [("z", 1), ("a", 2)]]
    assert keys == sorted(keys) and keys[0].startswith("outbox/1767225601-")


def test_a_sweep_killed_before_its_fold_leaves_the_status_to_the_next(
    emulator: CIEmulator, store: ObjectStore, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sweep delivers its events and dies before the index hears of it: the outbox markers stay, and the next
    sweep puts "delivered" on the events' index lines (sends nothing twice) and only then drops the markers."""
    receiver = Receiver(httpserver)
    ports = make_ports(emulator, store, webhook=receiver.url)
    emulator.book.preload(3, seed=61, duration=(5, 10))
    sweep(ports)
    emulator.clock.advance(60)
    real = Overview.fold

    def killed(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt("the function's timeout killed the invocation")

    monkeypatch.setattr(Overview, "fold", killed)
    with pytest.raises(KeyboardInterrupt):
        handle(TIMER, CONTEXT, ports=ports)
    sent = receiver.ids()
    assert len(sent) == 3 and len(list(store.list("outbox/"))) == 3
    monkeypatch.setattr(Overview, "fold", real)
    sweep(ports)
    root = Overview(ports.records).root("events")
    assert root is not None
    lines = [line for _, line in book.newest_first(ports.records, root, None, lambda line: True) if line]
    assert sorted(line["id"] for line in lines) == sorted(sent) and {line["status"] for line in lines} == {"delivered"}
    assert receiver.ids() == sent and not list(store.list("outbox/"))
