"""The fault matrix over real HTTP: each fault strikes one sweep (CI, the store, the receiver, the deadline); that
sweep still ends in a summary, nothing is lost, and later clean sweeps complete the work: every ended job has exactly
one terminal event, every event reaches the receiver, every stored document parses, no temporary file is left."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from devkit.ciemu import CIEmulator, EmulatedJob
from devkit.receiver import WebhookReceiver, new_secret
from devkit.s3proxy import FailingProxy
from jobwatch.ci import CIClient
from jobwatch.config import Credentials, Settings
from jobwatch.entry import Ports, handle
from jobwatch.events import TERMINAL_TYPES
from jobwatch.notify.guard import AddressGuard
from jobwatch.notify.outbox import Dispatcher
from jobwatch.notify.webhook import WebhookSender
from jobwatch.records import Records
from jobwatch.store import FileStore, ObjectStore
from jobwatch.store import file as file_store
from jobwatch.store.s3 import S3Store
from tests.functional.conftest import CREDENTIALS, s3_client

TERMINAL = frozenset(TERMINAL_TYPES.values())  # the three terminal event types
TIMER = {"Type": "Timer", "TriggerName": "fault-matrix"}


@dataclass
class World:
    """One CI emulator, one store, one receiver, and the ports a sweep uses."""

    emulator: CIEmulator
    store: ObjectStore
    receiver: WebhookReceiver
    ports: Ports
    jobs: list[EmulatedJob] = field(default_factory=list)

    def sweep(self, limit_ms: int = 30_000) -> dict[str, Any]:
        return handle(TIMER, {"request_id": "matrix", "time_limit_in_ms": limit_ms}, ports=self.ports)

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(self.store.get(key) or b"") for key in self.store.list("events/")]

    def settled(self) -> bool:
        ended = all(j.state_at(self.emulator.clock())[0] in ("Success", "Failed", "Cancel") for j in self.jobs)
        terminal = {e["jobId"] for e in self.events() if e["type"] in TERMINAL}
        return (
            ended and terminal == {j.job_id for j in self.jobs} and all(e["status"] != "pending" for e in self.events())
        )

    def finish(self) -> None:
        """Clean sweeps, retries coming due, until every job has ended and no delivery is pending; dead letters
        (a receiver that said 410 Gone) are then replayed once, as an operator would."""
        for _ in range(40):
            self.emulator.clock.advance(400)  # past the first retries' schedule (5 s, 5 min)
            result = self.sweep()
            assert result.get("ok"), result
            if self.settled():
                break
        for event in self.events():
            if event["status"] == "failed":
                self.ports.notifier.replay(event["id"])  # type: ignore[union-attr]
        self.sweep()


def build(emulator: CIEmulator, store: ObjectStore, receiver: WebhookReceiver) -> World:
    settings = Settings.from_env({
        "JOBWATCH_CI_ENDPOINT": emulator.url, "JOBWATCH_CI_BUCKET": "demo-1250000000",
        "JOBWATCH_WEBHOOK_URL": receiver.url, "JOBWATCH_WEBHOOK_SECRET": receiver.secret,
        "JOBWATCH_CALLBACK_ALLOW_NETS": "127.0.0.1/32",
    })  # fmt: skip
    clock: Callable[[], datetime] = lambda: datetime.fromtimestamp(emulator.clock(), timezone.utc)  # noqa: E731
    records = Records(store)
    guard = AddressGuard(settings.callback_allow_nets)
    sender = WebhookSender(guard, timeout=1.0, connect_timeout=1.0, total_timeout=1.5)
    notifier = Dispatcher(records, settings.webhook_secrets, webhooks=sender, now=clock, rng=lambda: 0.5)
    client = CIClient(emulator.url, CREDENTIALS, sleep=lambda s: None, read_timeout=1.0)
    ports = Ports(settings, records, lambda: client, notifier=notifier, clock=clock, guard=guard)
    world = World(emulator, store, receiver, ports)
    world.jobs = emulator.book.preload(8, seed=5, duration=(5, 20), objects=(0, 3), object_duration=(0.5, 2))
    return world


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver(new_secret()).start()
    yield r
    r.stop()


@pytest.fixture
def proxy(moto_endpoint: str) -> Iterator[FailingProxy]:
    p = FailingProxy(moto_endpoint).start()
    yield p
    p.stop()


def proxied_store(moto_endpoint: str, proxy: FailingProxy) -> S3Store:
    """An S3Store whose every request crosses the failing proxy; botocore retries nothing, so every injected fault
    reaches jobwatch (the stricter case: the deployed client retries three times first)."""
    import boto3
    from botocore.config import Config

    bucket = f"matrix-{uuid.uuid4().hex[:12]}"
    s3_client(moto_endpoint).create_bucket(Bucket=bucket)
    config = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1, "mode": "standard"},
                    connect_timeout=2, read_timeout=5)  # fmt: skip
    client = boto3.client("s3", endpoint_url=proxy.url, region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="test", config=config)  # fmt: skip
    return S3Store(bucket, "watch", client=client, credentials=Credentials("test", "test"))


def assert_whole(world: World, duplicates_allowed: int = 0) -> None:
    """The promise: one terminal event per ended job, each event delivered, every document parses, nothing left."""
    events = world.events()
    terminal = Counter(e["jobId"] for e in events if e["type"] in TERMINAL)
    assert terminal == Counter({j.job_id: 1 for j in world.jobs})
    assert all(e["status"] == "delivered" for e in events), [(e["id"], e["status"]) for e in events]
    assert all(world.receiver.seen[e["id"]] >= 1 for e in events)
    assert world.receiver.duplicates <= duplicates_allowed and world.receiver.rejected == 0
    for key in world.store.list(""):
        if key.endswith(".json"):
            json.loads(world.store.get(key) or b"")


def start(world: World) -> None:
    """A healthy first sweep (the bucket as it is), then time passes: most jobs end before the faulted sweep."""
    assert world.sweep()["ok"]
    world.emulator.clock.advance(12)


CI_FAULTS: dict[str, Callable[[CIEmulator], None]] = {
    "5xx burst": lambda e: e.faults.script.extend(["500", "503"] * 3),
    "429 Retry-After": lambda e: (setattr(e.faults, "retry_after", 2), e.faults.script.extend(["429"] * 3)),
    "timeouts": lambda e: e.faults.script.extend(["slow:1.5"] * 3),
    "resets": lambda e: e.faults.script.extend(["drop"] * 4),
    "truncated": lambda e: e.faults.script.extend(["truncated"] * 4),
    "malformed": lambda e: e.faults.script.extend(["malformed"] * 4),
    "outage": lambda e: setattr(e.faults, "error_ratio", 1.0),
}


@pytest.mark.parametrize("fault", list(CI_FAULTS))
def test_ci_fault(emulator: CIEmulator, tmp_path: Path, receiver: WebhookReceiver, fault: str) -> None:
    """A CI fault during a sweep: a summary, nothing lost, the next sweeps complete the work."""
    world = build(emulator, FileStore(tmp_path / "store"), receiver)
    start(world)
    CI_FAULTS[fault](emulator)
    summary = world.sweep()
    assert "sweepId" in summary and sum(emulator.injected.values()) > 0
    if fault == "outage":
        assert not summary["ok"] and not summary["complete"] and summary["errors"]
    emulator.faults.error_ratio = 0.0
    emulator.faults.script.clear()
    world.finish()
    assert_whole(world)


STORE_FAULTS = {"503": 0.3, "500": 0.3, "reset": 0.3, "lost": 0.3, "403": 0.3, "503-down": 1.0}


@pytest.mark.parametrize("fault", list(STORE_FAULTS))
def test_s3_store_fault(
    emulator: CIEmulator, moto_endpoint: str, proxy: FailingProxy, receiver: WebhookReceiver, fault: str
) -> None:
    """S3 answering 5xx, 403, resetting, or losing the answer to a write it applied (through a failing proxy):
    the sweep ends in a summary or a clear error, and once the store heals the work completes."""
    store = proxied_store(moto_endpoint, proxy)
    world = build(emulator, store, receiver)
    start(world)
    proxy.fail(fault.split("-")[0], STORE_FAULTS[fault])
    result = world.sweep()
    proxy.heal()
    assert sum(proxy.injected.values()) > 0
    if fault == "503-down":  # not even the last summary could be read: a clear, transient error
        assert result["ok"] is False and result["error"]["code"] == "StoreUnavailable", result
    else:
        assert "sweepId" in result and not result["ok"] and result["errors"], result
    world.finish()
    # a write applied but answered with a reset may have delivered once, and again after the claim's lease
    assert_whole(world, duplicates_allowed=proxy.injected["lost"])


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs: a real file system that fills up (root can mount; the test machine runs as root)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        reason = f"cannot mount a tmpfs here (needs root): {done.stderr.decode().strip()}"
        if os.environ.get("CI"):  # CI runs as root: there the full-disk case must run, never skip
            pytest.fail(reason)
        pytest.skip(reason)
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Fill the file system to the last byte; the filler's path, to free it later."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for size in (1 << 16, 1 << 12, 1 << 9, 1):
            try:
                while os.write(fd, b"\0" * size):
                    pass
            except OSError:
                continue  # full at this size: the rest goes in smaller pieces
    finally:
        os.close(fd)
    return filler


def test_full_disk(emulator: CIEmulator, small_disk: Path, receiver: WebhookReceiver) -> None:
    """The folder store's disk fills during a sweep: a summary with transient errors, no temporary file left
    behind, and once space is freed the next sweeps complete the work."""
    store = FileStore(small_disk / "store")
    world = build(emulator, store, receiver)
    start(world)
    filler = fill(small_disk)
    result = world.sweep()
    assert "sweepId" in result and not result["ok"], result
    assert any("StoreUnavailable" in e and "No space left" in e for e in result["errors"]), result["errors"]
    assert not list((small_disk / "store").rglob(f"{file_store.TMP_PREFIX}*"))  # a failed write leaves nothing
    filler.unlink()
    world.finish()
    assert_whole(world)


RECEIVER_FAULTS = ["hang:2.5", "trickle", "reset", "302", "400", "429", "500", "410"]


@pytest.mark.parametrize("fault", RECEIVER_FAULTS)
def test_receiver_fault(emulator: CIEmulator, tmp_path: Path, receiver: WebhookReceiver, fault: str) -> None:
    """A receiver that hangs, trickles, resets or answers 3xx/4xx/5xx/410 to the first deliveries: each attempt
    ends within its deadline, the events wait for their retries (410: a dead letter, replayed), all arrive."""
    world = build(emulator, FileStore(tmp_path / "store"), receiver)
    start(world)
    receiver.faults.extend([fault] * 4)
    summary = world.sweep()
    assert "sweepId" in summary and summary["deliveries"]["failed"] >= 1, summary
    assert receiver.injected[fault.partition(":")[0]] >= 1
    world.finish()
    assert_whole(world)


def test_deadline_mid_sweep(emulator: CIEmulator, tmp_path: Path, receiver: WebhookReceiver) -> None:
    """The invocation's deadline strikes mid-sweep (each CI answer takes 0.8 s, 1.5 s left): an incomplete summary
    is stored, and the next sweeps complete the work."""
    world = build(emulator, FileStore(tmp_path / "store"), receiver)
    start(world)
    emulator.faults.latency = 0.8
    summary = world.sweep(limit_ms=1500)
    assert "sweepId" in summary and not (summary["ok"] and summary["complete"]), summary  # it says it was cut
    assert world.ports.records.latest_summary()["sweepId"] == summary["sweepId"]  # type: ignore[index]
    emulator.faults.latency = 0.0
    world.finish()
    assert_whole(world)


def test_refused_record_of_a_made_delivery_is_written_again(
    emulator: CIEmulator, moto_endpoint: str, proxy: FailingProxy, receiver: WebhookReceiver
) -> None:
    """The store refuses (500) to record a round whose delivery was made: the outbox writes it again within the
    sweep, so the event is delivered and not sent a second time after the round's lease."""
    store = proxied_store(moto_endpoint, proxy)
    world = build(emulator, store, receiver)
    receiver.faults.extend(["500"] * 50)  # first attempts fail: the events exist before the faulted round
    start(world)
    for _ in range(10):
        world.sweep()
        if any(e["type"] in TERMINAL for e in world.events()):
            break
        emulator.clock.advance(5)
    receiver.faults.clear()
    event = next(e for e in world.events() if e["type"] in TERMINAL)
    assert event["status"] == "pending" and receiver.seen[event["id"]] == 0
    emulator.clock.advance(10)  # its retry is due
    for _ in range(2):  # the round's record: refused twice, then written
        proxy.next("PUT", "500", f"/events/{event['id']}")
    world.sweep()
    stored = json.loads(store.get(f"events/{event['id']}.json") or b"{}")
    assert stored["status"] == "delivered" and receiver.seen[event["id"]] == 1
    assert proxy.injected["500"] == 2
    world.finish()
    assert receiver.duplicates == 0
