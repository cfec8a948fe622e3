"""Many buckets: one sweep's wall time in one invocation against the fan-out to SCF (``make bench``, section "Many
buckets" of bench/RESULTS.md, plot bench/fanout.png).

The CI emulator runs in its own process with N buckets in two regions, each with 10 active batches of 5-20 objects,
and 20 ms added to every answer. Two stores side by side, each swept twice: the first sweep takes every bucket's
first look (a bucket never looked at is costed 2 s), the next follows at once (costed by that look).

- one invocation (``JOBWATCH_FANOUT=off``): a sweep that looks at every bucket itself, given SCF's longest timeout;
- fan-out (``JOBWATCH_FANOUT=auto``): the sweep keeps what fits half its invocation (a ``--limit`` of 3 s here) and
  hands the rest in shards to asynchronous invocations of itself, run by the local SCF emulator in worker processes
  (at most ``--concurrency`` at once); wall time until the last shard ended.

Figures: wall seconds, shards and invocations, CI requests in all (the emulator's count). The machine has 2 cores, so
the worker processes share them with the emulator and the sweep; SCF gives each invocation its own.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from bench.emuproc import RemoteEmulator
from bench.results import write_section
from devkit.ciemu import TEST_SECRET_ID, TEST_SECRET_KEY
from devkit.ciemu.scf import SCFEmulator
from jobwatch import service
from jobwatch.entry import handle

ROOT = Path(__file__).resolve().parents[1]
TIMER = {"Type": "Timer", "TriggerName": "bench", "Time": "2026-12-04T00:00:00Z", "Message": ""}


def environment(ci: str, scf: str, store: Path, keys: list[str], fanout: str) -> dict[str, str]:
    return {
        "JOBWATCH_CI_ENDPOINT": ci, "JOBWATCH_CI_BUCKETS": ",".join(keys), "JOBWATCH_STORE": f"file:{store}",
        "TENCENTCLOUD_SECRETID": TEST_SECRET_ID, "TENCENTCLOUD_SECRETKEY": TEST_SECRET_KEY,
        "TENCENTCLOUD_REGION": "ap-guangzhou", "JOBWATCH_SCF_ENDPOINT": scf, "SCF_FUNCTIONNAME": "jobwatch",
        "SCF_NAMESPACE": "default", "JOBWATCH_FANOUT": fanout, "JOBWATCH_LOG_LEVEL": "ERROR",
    }  # fmt: skip


def sweep(env: dict[str, str], limit: float) -> dict[str, Any]:
    service._settings_cache.clear()  # each environment its own ports, as separate functions would have
    service._ports_cache.clear()
    result: dict[str, Any] = handle(TIMER, {"request_id": "bench", "time_limit_in_ms": int(limit * 1000)}, environ=env)
    return result


def measure(buckets: int, limit: float, concurrency: int, latency: float = 0.02) -> dict[str, Any]:
    """One bucket count: each mode's first sweep (every bucket new) and the next one, side by side on one emulator."""
    with RemoteEmulator() as emulator:
        keys = emulator.ask("buckets", buckets, 10, 7)
        emulator.ask("latency", latency)
        figures: dict[str, Any] = {"buckets": buckets, "batches": buckets * 10}
        for mode in ("off", "auto"):
            folder = Path(tempfile.mkdtemp(prefix=f"jobwatch-fanout-{mode}-"))
            with SCFEmulator(concurrency=concurrency, time_limit_ms=int(limit * 1000), retry_delay=1.0) as scf:
                env = environment(emulator.url, scf.url, folder, keys, mode)
                scf.workers["default/jobwatch"] = env
                for sweep_name in ("first", "next"):
                    runs = len(scf.runs)
                    before = emulator.requests()
                    started = time.perf_counter()
                    result = sweep(env, limit if mode == "auto" else 900)  # one invocation: time enough for all
                    own = time.perf_counter() - started
                    scf.wait_idle(900)
                    wall = time.perf_counter() - started
                    figures.setdefault(mode, {})[sweep_name] = {
                        "seconds": round(wall, 2), "ownSeconds": round(own, 2),
                        "shards": (result.get("fanout") or {}).get("shards", 0),
                        "invocations": 1 + len(scf.runs) - runs, "ciRequests": emulator.requests() - before,
                        "complete": result.get("complete"),
                    }  # fmt: skip
            shutil.rmtree(folder, ignore_errors=True)
        return figures


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, panes = plt.subplots(1, 2, figsize=(9, 3.6), dpi=110, sharey=True)
    xs = [r["buckets"] for r in rows]
    titles = ("first sweep (every bucket new)", "the next sweep")
    for axes, which, title in zip(panes, ("first", "next"), titles, strict=True):
        axes.plot(xs, [r["off"][which]["seconds"] for r in rows], "o-", label="one invocation")
        axes.plot(xs, [r["auto"][which]["seconds"] for r in rows], "s-", label="fan-out: until the last shard ended")
        axes.plot(xs, [r["auto"][which]["ownSeconds"] for r in rows], "^:", label="fan-out: the sweeping invocation")
        axes.set_title(title, fontsize=9)
        axes.set_xlabel("buckets (10 active batches each)")
        axes.set_ylim(bottom=0)
    panes[0].set_ylabel("seconds")
    panes[0].legend(fontsize=7)
    figure.suptitle("One sweep over many buckets, 20 ms per CI request")
    figure.tight_layout()
    figure.savefig(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--buckets", default="25,50,100")
    parser.add_argument("--limit", type=float, default=3.0, help="the function's timeout with fan-out, in seconds")
    parser.add_argument("--concurrency", type=int, default=4, help="worker processes at once")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    rows = []
    for count in [int(n) for n in args.buckets.split(",")]:
        rows.append(measure(count, args.limit, args.concurrency))
        print(json.dumps(rows[-1]), flush=True)
    if not args.write:
        return 0
    lines = [
        "## Many buckets",
        "",
        f"Command: `make bench` (`python -m bench.fanout_bench --write`). Date: {date.today()}. Machine: "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; the CI emulator in its own process with 20 ms "
        "added to every answer. Each bucket has 10 active batches of 5-20 objects (the default configuration follows "
        "them). One invocation: `JOBWATCH_FANOUT=off` with SCF's longest timeout, so it looks at every bucket itself. "
        f"Fan-out: a {args.limit:g} s function timeout; the sweep keeps what fits half of it and hands the rest to "
        f"invocations of itself, which the local SCF emulator runs in worker processes, {args.concurrency} at once "
        "(on these 2 cores, beside the emulator and the sweep; SCF gives each its own). Seconds: until the last "
        "shard ended (the sweeping invocation's own in brackets). The first sweep takes every bucket's first look "
        "(a bucket never looked at is costed 2 s); the next one follows at once.",
        "",
        "| buckets | sweep | one invocation s | fan-out s | shards | invocations | CI requests one / fan-out |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        for which in ("first", "next"):
            one, fan = r["off"][which], r["auto"][which]
            lines.append(f"| {r['buckets']} | {which} | {one['seconds']:.2f} | {fan['seconds']:.2f} "
                         f"({fan['ownSeconds']:.2f}) | {fan['shards']} | {fan['invocations']} | "
                         f"{one['ciRequests']} / {fan['ciRequests']} |")  # fmt: skip
    lines += ["", "![seconds of one sweep against buckets](fanout.png)", ""]
    write_section("Many buckets", "\n".join(lines))
    plot(rows, ROOT / "bench" / "fanout.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
