"""Delivery claims outlive no sweep they protect: a round's lease lasts as long as the invocation that claimed it
(never shorter), so a long-timeout sweep's live round is never taken over; a dead holder's is, once it has passed."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from devkit.ciemu import CIEmulator
from jobwatch.deadline import Deadline
from jobwatch.entry import Ports
from jobwatch.notify.outbox import SCHEDULE
from jobwatch.store import ObjectStore
from tests.functional.test_delivery import Receiver, event_docs, finished_jobs, make_ports, sweep

if TYPE_CHECKING:
    from pytest_httpserver import HTTPServer


def retry_due(
    emulator: CIEmulator, store: ObjectStore, httpserver: HTTPServer
) -> tuple[Ports, Receiver, dict[str, Any]]:
    """One event whose first delivery failed (503), with its retry now due."""
    receiver = Receiver(httpserver, [503])
    ports = make_ports(emulator, store, webhook=receiver.url)
    finished_jobs(emulator, ports, 1)
    sweep(ports)
    (event,) = event_docs(ports)
    emulator.clock.advance(SCHEDULE[0] + 1)
    return ports, receiver, event


def test_lease_covers_the_holders_whole_invocation(
    emulator: CIEmulator, store: ObjectStore, httpserver: HTTPServer
) -> None:
    """A sweep with 15 minutes to run leases its round for at least that long (a fixed 3 minutes would not)."""
    ports, _, event = retry_due(emulator, store, httpserver)
    leases: list[tuple[str, int, dict]] = []  # type: ignore[type-arg]
    real = ports.records.create_claim

    def spy(event_id: str, round_no: int, claim: dict) -> bool:  # type: ignore[type-arg]
        leases.append((event_id, round_no, claim))
        return real(event_id, round_no, claim)

    ports.records.create_claim = spy  # type: ignore[method-assign]
    ports.notifier.dispatch([], Deadline.after(15 * 60))  # type: ignore[union-attr]
    ((event_id, round_no, lease),) = leases
    held = datetime.fromisoformat(lease["expiresAt"]) - datetime.fromisoformat(lease["at"])
    assert held >= timedelta(minutes=15)
    # the lease is the due retry's: this event's next round, which was made, and its claim released after it
    assert event_id == event["id"] and round_no == int(event.get("round", 0)) + 1
    after = ports.records.event(event_id) or {}
    assert len(after.get("attempts") or []) == len(event["attempts"]) + 1
    assert ports.records.claim(event_id, round_no) is None


def test_live_long_round_is_not_taken_over(emulator: CIEmulator, store: ObjectStore, httpserver: HTTPServer) -> None:
    """Ten minutes into a 15-minute holder's round, another sweep leaves it alone (nothing sent twice)."""
    ports, receiver, event = retry_due(emulator, store, httpserver)
    now = ports.clock()
    holder = {"at": now.isoformat(), "expiresAt": (now + timedelta(minutes=15, seconds=5)).isoformat()}
    assert ports.records.create_claim(event["id"], 2, holder)
    emulator.clock.advance(10 * 60)
    sweep(ports)
    assert len(receiver.requests) == 1
    (event,) = event_docs(ports)
    assert event["round"] == 1 and not any("never finished" in str(a["error"]) for a in event["attempts"])
