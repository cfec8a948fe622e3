"""``make soak``: hundreds of sweeps over a few thousand batch jobs (with objects) with faults on, overlapping runs
and killed sweepers; then the promise is checked and retention is run. Not part of ``make test`` (minutes long).

Jobs are created throughout the run and end a few seconds to a minute later, on the wall clock. CI answers a share
of requests with 500/429/malformed/truncated bodies or drops them; the receiver misbehaves now and then; every few
seconds a separate sweeping process starts and is killed (SIGKILL) at a random moment, while sweeps in this process
keep running, two at a time now and then. Afterwards faults stop, clean sweeps drain the work, and what did not
reach the receiver is replayed once, as an operator would. It prints sweeps, faults injected, events, lost (must be
0), duplicates at the receiver (at most one per delivery in flight when a kill struck: 8 per kill), and the store's
objects before and after retention (run with the clock two days ahead and ``JOBWATCH_RETAIN_DAYS=1``). Exits 1
when an invariant fails.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from devkit.ciemu import TEST_SECRET_ID, TEST_SECRET_KEY, CIEmulator, Faults
from devkit.ciemu.jobs import EmulatedJob, sample_job
from devkit.receiver import WebhookReceiver, new_secret
from jobwatch.config import Settings
from jobwatch.entry import Ports, handle
from jobwatch.events import TERMINAL_TYPES
from jobwatch.notify.outbox import WORKERS
from jobwatch.retention import RETENTION_EVERY
from jobwatch.store import file as file_store

ROOT = Path(__file__).resolve().parents[1]
TIMER = {"Type": "Timer", "TriggerName": "soak", "Time": "", "Message": ""}
TERMINAL = frozenset(TERMINAL_TYPES.values())  # the three terminal event types
ENDED = ("Success", "Failed", "Cancel")
SWEEPER = """
import time, index
while True:
    index.main_handler({"Type": "Timer", "TriggerName": "soak-killed"}, {"time_limit_in_ms": 4000})
    time.sleep(0.05)
"""
RECEIVER_FAULTS = ("500", "reset", "hang:2", "302", "429", "trickle")


class Soak:
    def __init__(self, args: argparse.Namespace, store: Path) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.store = store
        self.emulator = CIEmulator(faults=Faults(error_ratio=0.02, throttle_ratio=0.01, malformed_ratio=0.005,
                                                 truncated_ratio=0.005, drop_ratio=0.005, seed=args.seed))  # fmt: skip
        self.receiver = WebhookReceiver(new_secret())
        self.env = {
            "JOBWATCH_CI_ENDPOINT": self.emulator.url, "JOBWATCH_CI_BUCKET": "demo-1250000000",
            "JOBWATCH_CI_REGION": "ap-guangzhou", "TENCENTCLOUD_SECRETID": TEST_SECRET_ID,
            "TENCENTCLOUD_SECRETKEY": TEST_SECRET_KEY, "JOBWATCH_STORE": f"file:{store}",
            "JOBWATCH_WEBHOOK_URL": self.receiver.url, "JOBWATCH_WEBHOOK_SECRET": self.receiver.secret,
            "JOBWATCH_CALLBACK_ALLOW_NETS": "127.0.0.1/32", "JOBWATCH_LOG_LEVEL": "CRITICAL",
        }  # fmt: skip
        self.jobs: list[EmulatedJob] = []
        self.sweeps = 0
        self.kills = 0
        self.receiver_faults = 0
        self.lock = threading.Lock()

    def plan(self) -> list[EmulatedJob]:
        """Every job of the run, by creation time: a tenth exist at the start, the rest arrive while it runs."""
        start, span = time.time(), self.args.seconds * 0.8
        made = []
        for n in range(self.args.jobs):
            at = start if n < self.args.jobs // 10 else start + self.rng.uniform(0, span)
            job = sample_job(self.rng, at, duration=(2, self.args.longest))
            job.objects = self.rng.randint(0, 4)
            job.object_failure_ratio, job.object_duration = 0.1, (0.5, 5.0)
            made.append(job)
        return sorted(made, key=lambda j: j.created_at)

    def sweep(self) -> None:
        handle(TIMER, {"request_id": f"soak-{self.sweeps}", "time_limit_in_ms": 20_000}, environ=self.env)
        with self.lock:
            self.sweeps += 1

    def killer(self, stop: threading.Event) -> None:
        """A separate sweeping process, killed at a random moment, again and again."""
        env = {**self.env, "PATH": "/usr/bin:/bin", "PYTHONPATH": f"{ROOT / 'handler'}:{ROOT}"}
        rng = random.Random(self.args.seed + 1)
        while not stop.wait(rng.uniform(1.0, 4.0)):
            quiet = subprocess.DEVNULL
            child = subprocess.Popen([sys.executable, "-c", SWEEPER], cwd=ROOT, env=env, stdout=quiet, stderr=quiet)  # noqa: S603
            time.sleep(rng.uniform(0.5, 3.0))  # it imports, then sweeps, tracks objects or delivers
            child.send_signal(signal.SIGKILL)
            child.wait(10)
            self.kills += 1

    def run(self) -> dict[str, Any]:
        self.emulator.start()
        self.receiver.start()
        waiting = self.plan()
        stop = threading.Event()
        killer = threading.Thread(target=self.killer, args=(stop,), daemon=True)
        killer.start()
        started = time.time()
        while time.time() - started < self.args.seconds:
            while waiting and waiting[0].created_at <= time.time():
                self.jobs.append(self.emulator.book.add(waiting.pop(0)))
            if self.sweeps % 12 == 5:
                self.receiver.faults.append(self.rng.choice(RECEIVER_FAULTS))
                self.receiver_faults += 1
            if self.rng.random() < 0.2:  # two overlapping sweeps, as overlapping timers and SCF retries make
                other = threading.Thread(target=self.sweep)
                other.start()
                self.sweep()
                other.join()
            else:
                self.sweep()
        stop.set()
        killer.join(30)
        for job in waiting:  # the last few, created now
            self.jobs.append(self.emulator.book.add(job))
        faults = sum(self.emulator.injected.values()) + self.receiver_faults
        soak_sweeps = self.sweeps
        self.drain()
        return {"soakSweeps": soak_sweeps, "faults": faults, "kills": self.kills, **self.check()}

    def drain(self) -> None:
        """Faults off; clean sweeps until every job has ended and nothing is pending; then one replay."""
        self.emulator.faults.error_ratio = self.emulator.faults.throttle_ratio = 0.0
        self.emulator.faults.malformed_ratio = self.emulator.faults.truncated_ratio = 0.0
        self.emulator.faults.drop_ratio = 0.0
        self.receiver.faults.clear()
        deadline = time.time() + self.args.drain
        while time.time() < deadline:
            self.sweep()
            if self.settled():
                break
            time.sleep(0.5)
        undelivered = [e["id"] for e in self.events() if e["status"] != "delivered"]
        for event_id in undelivered:  # a retry scheduled minutes ahead, or a dead letter: an operator replays it
            handle({"action": "replay", "eventId": event_id}, {}, environ=self.env)
        self.sweep()

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(p.read_text()) for p in (self.store / "events").glob("*.json")]

    def settled(self) -> bool:
        """Every job ended and has its terminal event, and no delivery is due within the next ten seconds (a
        retry scheduled minutes ahead is replayed instead of waited for)."""
        now = self.emulator.clock()
        if not all(j.state_at(now)[0] in ENDED for j in self.jobs):
            return False
        events = self.events()
        ended = {e["jobId"] for e in events if e["type"] in TERMINAL}
        soon = datetime.now(timezone.utc) + timedelta(seconds=10)
        waiting = [e for e in events if e["status"] == "pending" and _at(e.get("nextAttemptAt")) < soon]
        return ended >= {j.job_id for j in self.jobs} and not waiting

    def check(self) -> dict[str, Any]:
        events = self.events()
        terminal = Counter(e["jobId"] for e in events if e["type"] in TERMINAL)
        missing = [j.job_id for j in self.jobs if terminal[j.job_id] == 0]
        unreceived = [e["id"] for e in events if self.receiver.seen[e["id"]] == 0]
        unparsable = 0
        for path in self.store.rglob("*.json"):
            try:
                json.loads(path.read_text())
            except ValueError:
                unparsable += 1
        return {
            "jobs": len(self.jobs), "sweeps": self.sweeps, "events": len(events),
            "terminalEvents": sum(terminal.values()), "doubleTerminal": sum(n > 1 for n in terminal.values()),
            "lost": len(missing) + len(unreceived), "missing": missing + unreceived,
            "duplicates": self.receiver.duplicates,
            "rejected": self.receiver.rejected, "unparsable": unparsable,
        }  # fmt: skip

    def retention(self) -> dict[str, Any]:
        """Sweeps with the clock two days ahead and a one-day retention, until two slices in a row delete nothing."""
        before = self.census()
        settings = Settings.from_env({**self.env, "JOBWATCH_RETAIN_DAYS": "1"})
        ports = Ports.from_settings(settings)
        ahead = [timedelta(days=2)]
        ports.clock = lambda: datetime.now(timezone.utc) + ahead[0]
        file_store.TEMP_MAX_AGE = 0.0  # what the kills left is stale by then
        n = idle = 0
        while idle < 2 and n < 200:  # a slice runs before its sweep's fold: the next one sees what that fold wrote
            n += 1
            result = handle(TIMER, {"time_limit_in_ms": 30_000}, ports=ports)
            pruned = result.get("retention") or {}
            idle = 0 if any(v for v in pruned.values()) else idle + 1
            ahead[0] += RETENTION_EVERY  # every sweep is due a slice
        return {"retentionSweeps": n, "storeBefore": before, "storeAfter": self.census()}

    def census(self) -> dict[str, int]:
        """Stored objects by top folder; temporary files and report segments counted apart."""
        found: Counter[str] = Counter()
        for path in self.store.rglob("*"):
            if not path.is_file():
                continue
            if path.name.startswith(file_store.TMP_PREFIX):
                found["temporary"] += 1
            elif path.name.startswith("segment-"):
                found["segments"] += 1
            else:
                found[path.relative_to(self.store).parts[0]] += 1
        return {"total": sum(found.values()), **dict(sorted(found.items()))}

    def stop(self) -> None:
        self.receiver.stop()
        self.emulator.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devkit.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2000, help="batch jobs over the run (default 2000)")
    parser.add_argument("--seconds", type=float, default=300, help="how long faults and kills go on (default 300)")
    parser.add_argument("--longest", type=float, default=40, help="the longest a job runs, in seconds (default 40)")
    parser.add_argument("--drain", type=float, default=120, help="at most this long for the clean sweeps after")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    began = time.time()
    folder = Path(tempfile.mkdtemp(prefix="jobwatch-soak-"))
    soak = Soak(args, folder)
    try:
        figures = soak.run()
        figures["missing"] = figures.pop("missing")[:5]
        figures.update(soak.retention())
    finally:
        soak.stop()
    figures["minutes"] = round((time.time() - began) / 60, 1)
    failed = [
        name for name, bad in (
            ("lost", figures["lost"] > 0), ("duplicates above what the kills can cut short",
             figures["duplicates"] > figures["kills"] * WORKERS),
            ("a job with two terminal events", figures["doubleTerminal"] > 0),
            ("unparsable documents", figures["unparsable"] > 0), ("rejected signatures", figures["rejected"] > 0),
            ("temporary files left", figures["storeAfter"].get("temporary", 0) > 0),
            ("report segments of finished batches left", figures["storeAfter"].get("segments", 0) > 0),
        ) if bad
    ]  # fmt: skip
    print(json.dumps(figures, indent=2))
    if failed:
        print(f"soak: FAILED: {', '.join(failed)} (the store is kept in {folder})")
        return 1
    shutil.rmtree(folder, ignore_errors=True)
    print("soak: ok")
    return 0


def _at(stamp: Any) -> datetime:
    try:
        return datetime.fromisoformat(str(stamp))
    except ValueError:
        return datetime.min.replace(tzinfo=timezone.utc)


if __name__ == "__main__":
    raise SystemExit(main())
