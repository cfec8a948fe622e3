"""Retention (JOBWATCH_RETAIN_DAYS): sweeps delete delivered events, dated summaries and abandoned claims that aged
out, a bounded amount per sweep; dead letters, pending events and recent documents stay."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from devkit.ciemu import CIEmulator
from jobwatch import retention
from jobwatch.entry import handle
from jobwatch.records import dumps
from jobwatch.store import FileStore, ObjectStore
from tests.functional.test_sweep import CONTEXT, TIMER, make_ports


def old_store(ports, days_ago: int, count: int) -> None:  # type: ignore[no-untyped-def]
    """Events (delivered, failed, pending), dated summaries and claims from ``days_ago`` days back."""
    then = ports.clock() - timedelta(days=days_ago)
    store: ObjectStore = ports.records.store
    for i in range(count):
        for status in ("delivered", "failed", "pending"):
            store.put(f"events/evt-old{days_ago}-{status}-{i:04d}.json",
                      dumps({"id": f"evt-old{days_ago}-{status}-{i:04d}", "jobId": "b1", "status": status,
                             "createdAt": then.isoformat(), "targets": {}, "attempts": []}))  # fmt: skip
        store.put(f"sweeps/{then:%Y-%m-%d}/{i:06d}-s.json", dumps({"startedAt": then.isoformat()}))
        store.put(f"claims/evt-old{days_ago}-delivered-{i:04d}-r2.json",
                  dumps({"at": then.isoformat(), "expiresAt": (then + timedelta(minutes=3)).isoformat()}))  # fmt: skip


def keys(ports, prefix: str) -> list[str]:  # type: ignore[no-untyped-def]
    return list(ports.records.store.list(prefix))


def test_aged_out_documents_are_deleted_recent_kept(emulator: CIEmulator, tmp_path: Path) -> None:
    """With 7 days' retention, 40-day-old delivered events, summaries and claims go; failed/pending and recent stay."""
    ports = make_ports(emulator, FileStore(tmp_path), JOBWATCH_RETAIN_DAYS="7")
    old_store(ports, 40, 10)
    old_store(ports, 2, 10)
    now = ports.clock()
    live = {"at": now.isoformat(), "expiresAt": (now + timedelta(minutes=3)).isoformat()}
    ports.records.store.put("claims/evt-live-r1.json", dumps(live))
    result = handle(TIMER, CONTEXT, ports=ports)
    # claims go once their lease ran out a day ago (their holders died), whatever the retention
    assert result["retention"] == {"summaries": 10, "events": 10, "claims": 20}
    events = keys(ports, "events/")
    assert not [k for k in events if "old40-delivered" in k]
    assert len([k for k in events if "old40-failed" in k or "old40-pending" in k]) == 20
    assert len([k for k in events if "old2-" in k]) == 30
    assert keys(ports, "claims/") == ["claims/evt-live-r1.json"]
    assert all(
        not k.startswith(f"sweeps/{(ports.clock() - timedelta(days=40)):%Y-%m-%d}") for k in keys(ports, "sweeps/")
    )


def test_work_per_sweep_is_bounded(emulator: CIEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a budget of 5, each sweep deletes at most 5; later sweeps finish the job."""
    monkeypatch.setattr(retention, "BUDGET", 5)
    monkeypatch.setattr(retention.prune, "__defaults__", (5,))
    ports = make_ports(emulator, FileStore(tmp_path), JOBWATCH_RETAIN_DAYS="7")
    old_store(ports, 40, 6)
    rounds = []
    for _ in range(12):
        emulator.clock.advance(60)
        result = handle(TIMER, CONTEXT, ports=ports)
        done = result.get("retention") or {}
        rounds.append(sum(done.values()))
    assert max(rounds) <= 5 and sum(rounds) == 18
    assert not [k for k in keys(ports, "events/") if "delivered" in k]


def test_bad_retention_setting_is_named() -> None:
    """JOBWATCH_RETAIN_DAYS must be a positive whole number of days."""
    from jobwatch.config import Settings
    from jobwatch.errors import ConfigError

    for value in ("0", "-3", "week"):
        with pytest.raises(ConfigError, match="JOBWATCH_RETAIN_DAYS"):
            Settings.from_env({"JOBWATCH_RETAIN_DAYS": value})
