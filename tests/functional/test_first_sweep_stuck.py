"""The first sweep in a bucket it has never seen sends no stuck event for jobs already long-running: it takes the
bucket as it is (as it reports no history). Those jobs are not told later either; jobs that become stuck afterwards,
and watched jobs, are."""

from __future__ import annotations

from pathlib import Path

from devkit.ciemu import CIEmulator
from jobwatch.store import FileStore
from tests.functional.test_sweep import events_of, job, make_ports, sweep


def stuck(ports) -> list[str]:  # type: ignore[no-untyped-def]
    return [e["jobId"] for e in events_of(ports) if e["type"] == "ci.batchjob.stuck"]


def test_first_sweep_sends_no_stuck_storm(emulator: CIEmulator, tmp_path: Path) -> None:
    """Forty jobs running for days when jobwatch first looks: no stuck event now, none at the next sweeps."""
    emulator.book.preload(40, seed=81, duration=(10**6, 2 * 10**6), spread=3 * 86400)
    ports = make_ports(emulator, FileStore(tmp_path), JOBWATCH_STUCK_AFTER="3600")
    emulator.clock.advance(4 * 86400)
    first = sweep(ports)
    assert stuck(ports) == [] and first["eventsEmitted"] == 0
    emulator.clock.advance(60)
    sweep(ports)
    assert stuck(ports) == []


def test_jobs_stuck_after_the_first_sweep_are_told(emulator: CIEmulator, tmp_path: Path) -> None:
    """A job that passes JOBWATCH_STUCK_AFTER after the first sweep gets its one stuck event."""
    ports = make_ports(emulator, FileStore(tmp_path), JOBWATCH_STUCK_AFTER="3600")
    j = job(emulator, running=10**6)
    sweep(ports)
    emulator.clock.advance(2 * 3600)
    sweep(ports)
    sweep(ports)
    assert stuck(ports) == [j.job_id]


def test_watched_stuck_job_is_told_even_on_the_first_sweep(emulator: CIEmulator, tmp_path: Path) -> None:
    """Someone watching a long-running job hears it is stuck, first sweep or not."""
    ports = make_ports(emulator, FileStore(tmp_path), JOBWATCH_STUCK_AFTER="3600")
    j = job(emulator, running=10**6)
    emulator.clock.advance(2 * 3600)
    from jobwatch.entry import handle

    assert handle({"action": "watch", "jobId": j.job_id}, {}, ports=ports)["ok"]
    sweep(ports)
    assert stuck(ports) == [j.job_id]
