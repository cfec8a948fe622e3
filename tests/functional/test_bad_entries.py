"""One bad entry costs one entry: a JobsDetail without a State, or with a job ID the store cannot hold, is skipped and
reported once in the sweep's errors; the rest of the page, the other type's results and the history listing stand."""

from __future__ import annotations

from pathlib import Path

from devkit.ciemu import CIEmulator, EmulatedJob
from jobwatch.entry import handle
from jobwatch.store import FileStore
from tests.functional.test_sweep import CONTEXT, TIMER, events_of, job, make_ports


def sweep(ports):  # type: ignore[no-untyped-def]
    """A timer sweep; its ok is false while it reports a skipped entry."""
    result = handle(TIMER, CONTEXT, ports=ports)
    assert "sweepId" in result, result
    return result


def test_entry_without_state_costs_that_entry(emulator: CIEmulator, tmp_path: Path) -> None:
    """A listed job without a State is skipped (reported once); the others on its page and of the other type count."""
    good = emulator.book.preload(30, seed=91, duration=(500, 600))
    broken = good[0]
    emulator.options.job_without_state = {broken.job_id}
    ports = make_ports(emulator, FileStore(tmp_path))
    first = sweep(ports)
    assert first["jobsSeen"] == 29 and first["complete"] is True
    assert any("BadJobEntries" in e and broken.job_id in e for e in first["errors"])
    emulator.clock.advance(30)
    second = sweep(ports)
    assert not any("BadJobEntries" in e for e in second["errors"])  # told once, not every sweep


def test_unstorable_job_id_does_not_stall_history(emulator: CIEmulator, tmp_path: Path) -> None:
    """A job whose ID the store cannot hold is skipped; later sweeps stay complete, so a short job that starts and
    ends between two sweeps is still reported."""
    now = emulator.clock()
    emulator.book.add(EmulatedJob("b.bad/../id", "Job", "odd", now, {"Prefix": "in/"}, {"Tag": "Transcode"},
                                  running_for=10_000))  # fmt: skip
    ports = make_ports(emulator, FileStore(tmp_path))
    first = sweep(ports)
    assert first["complete"] is True and any("BadJobEntries" in e for e in first["errors"])
    emulator.clock.advance(30)
    quick = job(emulator, running=5)  # starts and ends between two sweeps
    emulator.clock.advance(30)
    later = sweep(ports)
    assert later["complete"] is True
    assert [e["jobId"] for e in events_of(ports)] == [quick.job_id]
