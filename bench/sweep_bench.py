"""``make bench``: jobwatch's sweep against a naive poller, side by side on one emulator, in one run.

The naive poller is what hand-written pollers do: remember the job IDs, describe each one every poll. Figures are
printed as ratios (machines here are noisy), with the absolute numbers beside them, and peak memory of a sweep
(tracemalloc) to size the function.
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


def naive_poll(client: CIClient, ids: list[str]) -> dict[str, str]:
    """One describe per job, one job at a time."""
    states = {}
    for job_id in ids:
        result = client.describe([job_id])
        if result.jobs:
            states[job_id] = result.jobs[0].state
    return states


def run(count: int, ended: float, latency: float) -> dict[str, float]:
    with CIEmulator() as emulator, tempfile.TemporaryDirectory() as tmp:
        made = emulator.book.preload(count, seed=3, duration=(600, 900))
        emulator.faults.latency = latency
        settings = Settings.from_env(
            {
                "JOBWATCH_CI_ENDPOINT": emulator.url,
                "JOBWATCH_CI_BUCKET": "demo-1250000000",
                "JOBWATCH_TRACK_OBJECTS": "false",
            }
        )  # batch states, as the naive poller reads
        client = CIClient(emulator.url, CREDENTIALS, max_workers=4)
        records = Records(FileStore(Path(tmp)))
        clock = lambda: datetime.fromtimestamp(emulator.clock(), timezone.utc)  # noqa: E731
        Sweeper(settings, client, records, now=clock).run(Deadline.after(600))  # baseline
        for job in made[: int(count * ended)]:  # a share of the jobs ends before the measured poll
            job.running_for = 1.0
        emulator.clock.advance(60)
        before = dict(emulator.served)
        t0 = time.perf_counter()
        summary = Sweeper(settings, client, records, now=clock).run(Deadline.after(600))
        sweep_seconds = time.perf_counter() - t0
        sweep_requests = sum(emulator.served.values()) - sum(before.values())
        gc.collect()
        tracemalloc.start()  # a further, quiet sweep: the memory a sweep of this many jobs needs
        Sweeper(settings, client, records, now=clock).run(Deadline.after(600))
        sweep_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        naive = CIClient(emulator.url, CREDENTIALS)
        before = sum(emulator.served.values())
        t0 = time.perf_counter()
        naive_poll(naive, [j.job_id for j in made])
        naive_seconds = time.perf_counter() - t0
        naive_requests = sum(emulator.served.values()) - before
        assert summary["complete"], summary
        return {
            "jobs": count, "sweep_requests": sweep_requests, "naive_requests": naive_requests,
            "sweep_s": sweep_seconds, "naive_s": naive_seconds, "peak_mb": sweep_peak / 1e6,
            "events": summary["eventsEmitted"],
        }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, nargs="+", default=[100, 1000, 3000])
    parser.add_argument("--ended", type=float, default=0.1, help="share of jobs that end before the measured poll")
    parser.add_argument(
        "--latency",
        type=float,
        default=0.02,
        help="seconds the emulator adds to each answer (a network round trip; SCF to CI is not loopback)",
    )
    args = parser.parse_args()
    print(f"CI latency {args.latency * 1000:.0f} ms per request; {args.ended:.0%} of the jobs end before the poll")
    print(f"{'jobs':>6} {'sweep req':>10} {'naive req':>10} {'req ratio':>10} {'sweep s':>8} {'naive s':>8} "
          f"{'time ratio':>10} {'events':>7} {'peak MB':>8}")  # fmt: skip
    for count in args.jobs:
        r = run(count, args.ended, args.latency)
        print(f"{r['jobs']:>6} {r['sweep_requests']:>10.0f} {r['naive_requests']:>10.0f} "
              f"{r['naive_requests'] / r['sweep_requests']:>9.1f}x {r['sweep_s']:>8.2f} {r['naive_s']:>8.2f} "
              f"{r['naive_s'] / r['sweep_s']:>9.1f}x {r['events']:>7.0f} {r['peak_mb']:>8.1f}", flush=True)  # fmt: skip
    print("ratios are naive / jobwatch: how many times more requests and time a describe-each-job poller needs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
