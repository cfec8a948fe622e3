"""Retention (JOBWATCH_RETAIN_DAYS, JOBWATCH_REPORT_RETAIN_DAYS), on both stores: once its limits pass, sweeps
leave a store of only what is younger than them (records, tracks, spans, reports, watches, events, dead letters,
claims, index lines and summaries of old jobs all go), a bounded amount per sweep."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from devkit.ciemu import CIEmulator
from jobwatch import retention
from jobwatch.config import Settings
from jobwatch.entry import Ports, handle
from jobwatch.errors import ConfigError
from jobwatch.records import dumps
from jobwatch.store import FileStore, ObjectStore
from tests.functional.test_delivery import Receiver
from tests.functional.test_delivery import make_ports as delivery_ports
from tests.functional.test_sweep import CONTEXT, TIMER

if TYPE_CHECKING:
    from pytest_httpserver import HTTPServer

DAY = 86_400


def sweep(ports: Ports) -> dict[str, Any]:
    result = handle(TIMER, CONTEXT, ports=ports)
    assert "sweepId" in result, result
    return result


def everything(store: ObjectStore) -> dict[str, bytes]:
    return {key: store.get(key) or b"" for key in store.list("")}


def run_to_the_end(ports: Ports, emulator: CIEmulator, ids: list[str]) -> None:
    for _ in range(40):
        emulator.clock.advance(30)
        sweep(ports)
        records = [ports.records.job(i) for i in ids]
        if all(r and r["state"] in ("Success", "Failed", "Cancel") and (r.get("objects") or {}).get("total") is not None
               for r in records):  # fmt: skip
            return
    raise AssertionError("the jobs never finished")


def age_out(ports: Ports, emulator: CIEmulator, days: float) -> list[dict[str, Any]]:
    """Move ``days`` on, then sweep every eleven minutes until retention has nothing left to do."""
    emulator.clock.advance(days * DAY)
    done = []
    for _ in range(60):
        emulator.clock.advance(660)
        summary = sweep(ports)
        done.append(summary.get("retention") or {})
        if not summary.get("retentionMore") and len(done) > 2:
            break
    return done


def test_everything_of_old_jobs_ages_out(emulator: CIEmulator, store: ObjectStore, httpserver: HTTPServer) -> None:
    """Three jobs (a batch with 40 objects, its report, its events delivered to one target and dead-lettered at
    another) age out after 30 days and their reports after 60; a job of the last days keeps everything."""
    good = Receiver(httpserver)
    ports = delivery_ports(emulator, store, webhook=good.url, JOBWATCH_TRACK_OBJECTS="true", JOBWATCH_RETAIN_DAYS="30",
                           JOBWATCH_REPORT_RETAIN_DAYS="60")  # fmt: skip
    old = emulator.book.preload(3, seed=61, duration=(20, 40), job_type="Job", objects=40, object_duration=(5, 30))
    sweep(ports)
    ports.records.store.put(f"watches/finished/{old[0].job_id}.json",
                            dumps({"jobId": old[0].job_id, "finishedAt": ports.clock().isoformat()}))  # fmt: skip
    run_to_the_end(ports, emulator, [j.job_id for j in old])
    assert ports.records.manifest(old[0].job_id) is not None
    dead = ports.records.event(f"evt-{old[1].job_id}-success") or ports.records.event(f"evt-{old[1].job_id}-failed")
    assert dead is not None
    ports.records.put_event({**dead, "status": "failed", "nextAttemptAt": None})  # a dead letter
    age_out(ports, emulator, 29)
    young = emulator.book.preload(1, seed=62, duration=(20, 40), job_type="Job", objects=10, object_duration=(5, 30))
    run_to_the_end(ports, emulator, [young[0].job_id])
    age_out(ports, emulator, 2)  # the old jobs are 31 days past their end; the young one two
    kept = everything(ports.records.store)
    for job in old:
        leftovers = [k for k, v in kept.items() if job.job_id.encode() in v or job.job_id in k]
        assert all(k.startswith("reports/") for k in leftovers), (leftovers, kept.get("index/jobs/root.json"))
    assert any(k.startswith(f"reports/{old[0].job_id}/") for k in kept)
    for key in (f"jobs/{young[0].job_id}.json", f"reports/{young[0].job_id}/manifest.json",
                f"tracks/{young[0].job_id}.json"):  # fmt: skip
        assert key in kept, key
    assert any(young[0].job_id.encode() in v for k, v in kept.items() if k.startswith("events/"))
    age_out(ports, emulator, 30)  # 61 days on: the old reports go too
    kept = everything(ports.records.store)
    assert not [k for k in kept if any(job.job_id in k for job in old)]
    assert not [k for k in kept if k.startswith(("claims/", "outbox/", "index/delta/", "tracks/open/"))]


def test_work_per_sweep_is_bounded(emulator: CIEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a budget of 5, each sweep deletes at most 5; later sweeps finish the job."""
    monkeypatch.setattr(retention, "BUDGET", 5)
    monkeypatch.setattr(retention.prune, "__defaults__", (5,))
    ports = delivery_ports(emulator, FileStore(tmp_path), JOBWATCH_RETAIN_DAYS="7")
    then = ports.clock() - timedelta(days=40)
    for i in range(6):
        ports.records.store.put(f"sweeps/{then:%Y-%m-%d}/{i:06d}-s.json", dumps({"startedAt": then.isoformat()}))
        ports.records.store.put(f"claims/evt-old-{i:04d}-r2.json", dumps({"at": then.isoformat(),
                                "expiresAt": (then + timedelta(minutes=3)).isoformat()}))  # fmt: skip
        event = {"id": f"evt-old-{i:04d}", "jobId": "b1", "status": "delivered", "createdAt": then.isoformat(),
                 "targets": {}, "attempts": []}  # fmt: skip
        ports.records.store.put(f"events/evt-old-{i:04d}.json", dumps(event))
    rounds = []
    for _ in range(12):
        emulator.clock.advance(60)
        result = sweep(ports)
        done = result.get("retention") or {}
        rounds.append(sum(done.values()))
    assert max(rounds) <= 5 and sum(rounds) == 18
    assert not list(ports.records.store.list("events/")) and not list(ports.records.store.list("claims/"))


def test_pending_events_and_live_claims_stay(emulator: CIEmulator, tmp_path: Path) -> None:
    """An old event still pending (it is being delivered) and a claim whose lease runs are not deleted."""
    ports = delivery_ports(emulator, FileStore(tmp_path), JOBWATCH_RETAIN_DAYS="7")
    now = ports.clock()
    then = now - timedelta(days=40)
    event = {"id": "evt-b1-0001-running", "jobId": "b1", "status": "pending", "createdAt": then.isoformat(),
             "targets": {}, "attempts": [], "nextAttemptAt": (now + timedelta(hours=5)).isoformat()}  # fmt: skip
    ports.records.store.put("events/evt-b1-0001-running.json", dumps(event))
    ports.records.store.put("claims/evt-live-r1.json", dumps({"at": now.isoformat(),
                            "expiresAt": (now + timedelta(minutes=3)).isoformat()}))  # fmt: skip
    for _ in range(3):
        emulator.clock.advance(660)
        sweep(ports)
    assert list(ports.records.store.list("events/")) == ["events/evt-b1-0001-running.json"]
    assert "claims/evt-live-r1.json" in list(ports.records.store.list("claims/"))


def test_bad_retention_setting_is_named() -> None:
    """JOBWATCH_RETAIN_DAYS and JOBWATCH_REPORT_RETAIN_DAYS must be positive whole numbers of days."""
    for name in ("JOBWATCH_RETAIN_DAYS", "JOBWATCH_REPORT_RETAIN_DAYS"):
        for value in ("0", "-3", "week"):
            with pytest.raises(ConfigError, match=name):
                Settings.from_env({name: value})
