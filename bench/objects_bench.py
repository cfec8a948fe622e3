"""``make bench-objects``: what following a batch's objects costs, on the emulator, in one run.

1. One Workflow batch of N objects dispatched over an hour, objects taking 5-30 s (they finish roughly in creation
   order), a sweep every minute of emulated time until the batch is finished: CI requests by kind against the bound
   ``4 × ⌈N/100⌉ + failed executions + 2 per stream per sweep``, sweeps, wall time, peak memory (tracemalloc,
   jobwatch's side only: the emulator makes objects on the fly).
2. A bucket with 1,000 active batches and 20 ms per CI request: one sweep's wall time against the function's
   timeout, and how many sweeps it takes until every batch has been visited (the budget rotates fairly).
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
import tracemalloc
from datetime import datetime, timezone
from pathlib import Path

from devkit.ciemu import TEST_SECRET_ID, TEST_SECRET_KEY, CIEmulator
from jobwatch.ci import CIClient
from jobwatch.config import Credentials, Settings
from jobwatch.deadline import Deadline
from jobwatch.records import Records
from jobwatch.store import FileStore
from jobwatch.sweep import Sweeper

CREDENTIALS = Credentials(TEST_SECRET_ID, TEST_SECRET_KEY)
OBJECT_OPS = ("list_executions", "list_media_jobs", "describe_execution")
FUNCTION_TIMEOUT = 120.0  # serverless.yml


def one_batch(objects: int, dispatch: float, step: float) -> dict[str, float]:
    with CIEmulator() as emulator, tempfile.TemporaryDirectory() as tmp:
        (job,) = emulator.book.preload(1, seed=41, job_type="Workflow", duration=(dispatch, dispatch),
                                       objects=objects, object_failure_ratio=0.01, object_duration=(5, 30))  # fmt: skip
        job.final = "Success"
        settings = Settings.from_env({"JOBWATCH_CI_ENDPOINT": emulator.url, "JOBWATCH_CI_BUCKET": "demo-1250000000"})
        client = CIClient(emulator.url, CREDENTIALS, max_workers=4)
        records = Records(FileStore(Path(tmp)))
        clock = lambda: datetime.fromtimestamp(emulator.clock(), timezone.utc)  # noqa: E731
        gc.collect()
        tracemalloc.start()
        sweeps = 0
        started = time.perf_counter()
        for _ in range(100_000):
            Sweeper(settings, client, records, now=clock).run(Deadline.after(FUNCTION_TIMEOUT))
            sweeps += 1
            if records.manifest(job.job_id) is not None:
                break
            emulator.clock.advance(step)
        wall = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        manifest = records.manifest(job.job_id) or {}
        requests = {op: emulator.served[op] for op in OBJECT_OPS}
        failed = int(manifest.get("objects", {}).get("failed", 0))
        bound = 4 * -(-objects // 100) + failed + 2 * sweeps
        return {
            "objects": objects, "sweeps": sweeps, "list": requests["list_executions"],
            "details": requests["describe_execution"], "failed": failed, "bound": bound,
            "rows": sum(p["rows"] for p in manifest.get("parts", [])),
            "parts": len(manifest.get("parts", [])), "wall_s": wall, "peak_mb": peak / 1e6,
        }  # fmt: skip


def many_batches(count: int, latency: float) -> dict[str, float]:
    with CIEmulator() as emulator, tempfile.TemporaryDirectory() as tmp:
        emulator.book.preload(count, seed=42, duration=(3600, 7200), objects=(50, 500), object_duration=(30, 300))
        settings = Settings.from_env({"JOBWATCH_CI_ENDPOINT": emulator.url, "JOBWATCH_CI_BUCKET": "demo-1250000000"})
        client = CIClient(emulator.url, CREDENTIALS, max_workers=4)
        records = Records(FileStore(Path(tmp)))
        clock = lambda: datetime.fromtimestamp(emulator.clock(), timezone.utc)  # noqa: E731
        Sweeper(settings, client, records, now=clock).run(Deadline.after(FUNCTION_TIMEOUT))  # baseline
        emulator.clock.advance(600)
        emulator.faults.latency = latency
        visited: set[str] = set()
        durations = []
        sweeps = 0
        while len(visited) < count and sweeps < 20:
            before = sum(emulator.served[op] for op in OBJECT_OPS)
            t0 = time.perf_counter()
            summary = Sweeper(settings, client, records, now=clock).run(Deadline.after(FUNCTION_TIMEOUT))
            durations.append(time.perf_counter() - t0)
            sweeps += 1
            visited |= {j for j in records.open_tracks() if (records.track(j) or {}).get("version", 0) > 0}
            emulator.clock.advance(60)
            object_requests = sum(emulator.served[op] for op in OBJECT_OPS) - before
        return {
            "batches": count, "sweep_s": max(durations), "sweeps_to_visit_all": sweeps,
            "object_requests_per_sweep": object_requests, "complete": float(bool(summary["complete"])),
        }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--dispatch", type=float, default=3600.0, help="seconds over which a batch dispatches")
    parser.add_argument("--step", type=float, default=60.0, help="seconds between sweeps (the timer)")
    parser.add_argument("--batches", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.02)
    args = parser.parse_args()
    print(f"One Workflow batch, dispatched over {args.dispatch:.0f} s, objects take 5-30 s, a sweep every "
          f"{args.step:.0f} s (emulated time; CI answers at loopback speed)")  # fmt: skip
    print(f"{'objects':>9} {'sweeps':>7} {'list req':>9} {'details':>8} {'bound':>7} "
          f"{'rows':>9} {'parts':>6} {'wall s':>7} {'objects/s':>10} {'peak MB':>8}")  # fmt: skip
    for n in args.objects:
        r = one_batch(n, args.dispatch, args.step)
        print(f"{r['objects']:>9.0f} {r['sweeps']:>7.0f} {r['list']:>9.0f} {r['details']:>8.0f} {r['bound']:>7.0f} "
              f"{r['rows']:>9.0f} {r['parts']:>6.0f} {r['wall_s']:>7.1f} "
              f"{r['objects'] / r['wall_s']:>10,.0f} {r['peak_mb']:>8.1f}", flush=True)  # fmt: skip
    print("list req + details stay within bound = 4 × ⌈N/100⌉ + failed executions + 2 per stream per sweep;")
    print("objects/s: objects listed and recorded (report rows written) per second of wall time, emulator included")
    m = many_batches(args.batches, args.latency)
    print(f"\n{m['batches']:.0f} active batches, {args.latency * 1000:.0f} ms per CI request: slowest sweep "
          f"{m['sweep_s']:.1f} s of a {FUNCTION_TIMEOUT:.0f} s timeout ({m['sweep_s'] / FUNCTION_TIMEOUT:.0%}), "
          f"{m['object_requests_per_sweep']:.0f} object requests per sweep, every batch visited within "
          f"{m['sweeps_to_visit_all']:.0f} sweeps")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
