"""Size is part of correctness: a batch of 100,000 objects, all active at once, is followed by a sweeping process
whose peak resident memory stays under 128 MB, with no stored document over 1 MiB."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from devkit.ciemu import TEST_SECRET_ID, TEST_SECRET_KEY, CIEmulator

ROOT = Path(__file__).resolve().parents[2]
LIMIT_KB = 128 * 1024
OBJECTS = 100_000
# Sweeps in a child process (what SCF runs), then its peak resident set (VmHWM) and the batch's counts.
SWEEPER = """
import json, sys, index
event = {"Type": "Timer", "TriggerName": "memory-test", "Time": "", "Message": ""}
summaries = [index.main_handler(event, {"request_id": "memory", "time_limit_in_ms": 600000}) for _ in range(3)]
status = open("/proc/self/status").read()
peak = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
print(json.dumps({"peakKb": peak, "objects": [s.get("objects") for s in summaries],
                  "errors": [s.get("errors") for s in summaries]}))
"""


def test_a_batch_of_100000_active_objects_fits_in_128_mb(tmp_path: Path) -> None:
    """Three sweeps follow a batch whose 100,000 objects are all active: every object is counted once, the
    process's peak memory stays under 128 MB and every stored document under 1 MiB."""
    store = tmp_path / "store"
    with CIEmulator() as emulator:
        # every object is dispatched within the first 990 s and then runs for days
        (job,) = emulator.book.preload(1, seed=5, job_type="Job", duration=(1000, 1000), objects=OBJECTS + 1_000,
                                       object_duration=(10**6, 10**6))  # fmt: skip
        emulator.clock.advance(job.submitted_for + 995)
        env = {
            "JOBWATCH_CI_ENDPOINT": emulator.url, "JOBWATCH_CI_BUCKET": "demo-1250000000",
            "JOBWATCH_CI_REGION": "ap-guangzhou", "TENCENTCLOUD_SECRETID": TEST_SECRET_ID,
            "TENCENTCLOUD_SECRETKEY": TEST_SECRET_KEY, "JOBWATCH_STORE": f"file:{store}",
            "JOBWATCH_LOG_LEVEL": "ERROR", "PATH": "/usr/bin:/bin",
        }  # fmt: skip
        done = subprocess.run([sys.executable, "-c", SWEEPER], cwd=ROOT / "handler", env=env, capture_output=True,
                              text=True, timeout=600, check=True)  # fmt: skip
        created = sum(1 for i in range(job.objects) if job.started_at + job.running_for * (i + 0.5) / job.objects
                      <= emulator.clock())  # fmt: skip
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert created >= OBJECTS
    last = figures["objects"][-1]
    record = json.loads((store / "jobs" / f"{job.job_id}.json").read_text())
    assert record["objects"]["seen"] == created and record["objects"]["active"] == created, (figures, record)
    assert not any(figures["errors"]), figures["errors"]
    assert last is not None and last["followed"] == 1
    largest = max((p.stat().st_size, str(p)) for p in store.rglob("*") if p.is_file())
    assert largest[0] <= 1024 * 1024, largest
    assert figures["peakKb"] < LIMIT_KB, f"peak resident memory {figures['peakKb']} kB"
