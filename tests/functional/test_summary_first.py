"""The summary survives a long delivery: what the next sweep needs is stored before deliveries start, so a sweep
killed while delivering loses no bookkeeping (the next one neither re-reads its jobs nor misses a short job)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from devkit.ciemu import CIEmulator
from jobwatch.entry import handle
from jobwatch.leavers import unpack_known
from jobwatch.store import FileStore
from tests.functional.test_sweep import CONTEXT, TIMER, events_of, job, make_ports


class DyingNotifier:
    """Delivers nothing: the invocation is killed (SCF's timeout) in the middle of its deliveries."""

    def dispatch(
        self, events: list[dict[str, Any]], deadline: Any, changed: Any = None, settled: Any = None, part: Any = None
    ) -> tuple[int, int, bool]:
        raise KeyboardInterrupt("the function's timeout killed the invocation")


def test_killed_during_delivery_keeps_the_bookkeeping(emulator: CIEmulator, tmp_path: Path) -> None:
    """After a kill mid-delivery, sweeps/latest.json holds that sweep's known states and history cursor."""
    ports = make_ports(emulator, FileStore(tmp_path))
    running = job(emulator, running=10_000)
    handle(TIMER, CONTEXT, ports=ports)
    emulator.clock.advance(30)
    ports.notifier = DyingNotifier()  # type: ignore[assignment]
    before = ports.records.latest_summary()
    with contextlib.suppress(KeyboardInterrupt):
        handle(TIMER, CONTEXT, ports=ports)
    after = ports.records.latest_summary()
    assert before is not None and after is not None
    assert after["startedAt"] > before["startedAt"] and unpack_known(after)[0] == {running.job_id: "Running"}
    assert after["historyFrom"] > before["historyFrom"]


def test_next_sweep_after_the_kill_misses_nothing(emulator: CIEmulator, tmp_path: Path) -> None:
    """A job that starts and ends after the killed sweep is still told by the next one, exactly once."""
    ports = make_ports(emulator, FileStore(tmp_path))
    handle(TIMER, CONTEXT, ports=ports)
    emulator.clock.advance(30)
    keep = ports.notifier
    ports.notifier = DyingNotifier()  # type: ignore[assignment]
    with contextlib.suppress(KeyboardInterrupt):
        handle(TIMER, CONTEXT, ports=ports)
    ports.notifier = keep
    quick = job(emulator, running=3)
    emulator.clock.advance(30)
    handle(TIMER, CONTEXT, ports=ports)
    assert [e["jobId"] for e in events_of(ports)] == [quick.job_id]
