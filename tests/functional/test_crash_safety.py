"""Crash safety: a sweeping process is killed (SIGKILL) at random points, again and again; then clean sweeps run.
Every ended job has exactly one terminal event, every event reaches a healthy receiver at least once, duplicates at
the receiver come only from deliveries a kill cut short (at most one per delivery in flight), every stored JSON
document parses, and no temporary file is left."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from devkit.ciemu import TEST_SECRET_ID, TEST_SECRET_KEY, CIEmulator
from devkit.receiver import WebhookReceiver, new_secret
from jobwatch import retention
from jobwatch.entry import handle
from jobwatch.events import TERMINAL_TYPES
from jobwatch.notify import outbox
from jobwatch.store import file as file_store

ROOT = Path(__file__).resolve().parents[2]
# The child marks each phase as it enters and leaves it, so the test knows where each kill landed: discovery (the
# listing and describes), object tracking, and a webhook delivery on the wire.
SWEEPER = """
import sys, time, index
from jobwatch import sweep, tracker
from jobwatch.notify import webhook
marks = open(sys.argv[1], "a", buffering=1)
def marked(owner, name, phase):
    real = getattr(owner, name)
    def wrapper(*args, **kwargs):
        marks.write("enter " + phase + "\\n")
        try:
            return real(*args, **kwargs)
        finally:
            marks.write("exit " + phase + "\\n")
    setattr(owner, name, wrapper)
marked(sweep.Sweeper, "_find", "discovery")
marked(tracker.Tracker, "run", "objects")
marked(webhook.WebhookSender, "send", "delivery")
event = {"Type": "Timer", "TriggerName": "crash-test", "Time": "", "Message": ""}
while True:
    index.main_handler(event, {"request_id": "crash", "time_limit_in_ms": 4000})
    time.sleep(0.05)
"""
PHASES = ("discovery", "objects", "delivery")
TERMINAL = frozenset(TERMINAL_TYPES.values())  # the three terminal event types


@pytest.mark.parametrize("seed", [1, 2])
def test_killed_sweeps_lose_nothing_and_duplicate_little(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nine SIGKILLs, each aimed inside discovery, object tracking or a delivery (the child marks each phase it
    enters and leaves); most land inside one, which the marks show; then the invariants hold."""
    rng = random.Random(seed)
    store = tmp_path / "store"
    secret = new_secret()
    receiver = WebhookReceiver(secret).start()
    with CIEmulator() as emulator:
        made = emulator.book.preload(12, seed=seed, duration=(8, 16), objects=(0, 8), object_duration=(0.5, 3))
        env = {
            "JOBWATCH_CI_ENDPOINT": emulator.url, "JOBWATCH_CI_BUCKET": "demo-1250000000",
            "JOBWATCH_CI_REGION": "ap-guangzhou", "TENCENTCLOUD_SECRETID": TEST_SECRET_ID,
            "TENCENTCLOUD_SECRETKEY": TEST_SECRET_KEY, "JOBWATCH_STORE": f"file:{store}",
            "JOBWATCH_WEBHOOK_URL": receiver.url, "JOBWATCH_WEBHOOK_SECRET": secret,
            "JOBWATCH_CALLBACK_ALLOW_NETS": "127.0.0.1/32", "JOBWATCH_LOG_LEVEL": "ERROR",
        }  # fmt: skip
        emulator.faults.latency = 0.03  # each CI request takes a moment: listing and tracking last long enough
        receiver.delay = 0.3  # and so does each delivery
        kills = 0
        landed: Counter[str] = Counter()
        for round_no in range(9):
            marks = tmp_path / f"marks-{round_no}"
            marks.touch()
            child = subprocess.Popen([sys.executable, "-c", SWEEPER, str(marks)], cwd=ROOT, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL,
                                     env={**env, "PATH": "/usr/bin:/bin", "PYTHONPATH": f"{ROOT / 'handler'}:{ROOT}"})  # fmt: skip
            if kills == 0:  # the first run takes the bucket as it is: let it finish one sweep, so jobs are known
                for _ in range(200):
                    if (store / "sweeps" / "latest.json").exists():
                        break
                    time.sleep(0.05)
            target = PHASES[round_no % len(PHASES)]
            for _ in range(2000):  # wait until the child enters the phase this kill is aimed at (20 s at most)
                if f"enter {target}" in marks.read_text():
                    break
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.02))  # a moment into it
            child.send_signal(signal.SIGKILL)
            child.wait(10)
            kills += 1
            last = (marks.read_text().splitlines() or [""])[-1]
            if last.startswith("enter "):
                landed[last[len("enter ") :]] += 1  # killed inside that phase: it never marked its exit
        left_by_kills = len(list(store.rglob(f"{file_store.TMP_PREFIX}*")))
        monkeypatch.setattr(file_store, "TEMP_MAX_AGE", 0.0)  # what the kills left is stale now
        monkeypatch.setattr(retention, "RETENTION_EVERY", timedelta(0))  # and the clean sweeps look for it each time
        # Clean sweeps until every job has ended and every event is delivered; the killed runs' claims hold for
        # their invocations' 4 s and the slack, then are taken over.
        for _ in range(120):
            time.sleep(0.3)
            emulator.clock.advance(30)  # retries come due (5 s, 5 min, …)
            handle({"Type": "Timer", "TriggerName": "clean"}, {"time_limit_in_ms": 30000}, environ=env)
            events = [json.loads(p.read_text()) for p in (store / "events").glob("*.json")]
            ended = all(j.state_at(emulator.clock())[0] in ("Success", "Failed", "Cancel") for j in made)
            if ended and len(events) >= len(made) and all(e["status"] == "delivered" for e in events):
                break
    receiver.stop()
    leftovers = len(list(store.rglob(f"{file_store.TMP_PREFIX}*")))
    print(f"crash run seed={seed}: kills={kills} landed inside {dict(landed)} events={len(events)} "
          f"duplicates={receiver.duplicates} "
          f"temporary files left by the kills={left_by_kills}, after clean sweeps={leftovers}")  # fmt: skip
    # the kills landed inside the work they are meant to interrupt, not between sweeps
    assert sum(landed.values()) >= 7 and all(landed[p] >= 2 for p in PHASES), landed
    terminal = Counter(e["jobId"] for e in events if e["type"] in TERMINAL)
    assert terminal == Counter({j.job_id: 1 for j in made})  # every ended job: exactly one terminal event
    assert all(receiver.seen[e["id"]] >= 1 for e in events)  # every event reached the receiver at least once
    # a kill can cut short every delivery in flight (up to WORKERS at once) after the receiver took it
    assert receiver.duplicates <= kills * outbox.WORKERS and receiver.rejected == 0
    for path in store.rglob("*.json"):
        json.loads(path.read_text())  # every stored document parses
    assert not list(store.rglob(f"{file_store.TMP_PREFIX}*"))  # a later sweep removed what the kills left
    assert (store / "sweeps" / "latest.json").exists()
