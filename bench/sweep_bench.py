"""``make bench`` (first part): jobwatch's sweep against the loop users write with the official SDK, side by side on
one emulator in one run, and the floor its requests allow.

For each N: N active batch jobs of both types, created over the last six hours; a baseline sweep; then a tenth of
them end and a minute passes. Measured on that same moment:

- the SDK loop: ``cos-python-sdk-v5``'s ``ci_get_inventory_trigger_jobs``, one job after another (what hand-written
  pollers do);
- jobwatch's timed sweep, warm (an instance that swept before: pooled connections, imports done; the median of five,
  each on the same moment: a fresh copy of the baseline's store, written out to disk, and the same jobs ended
  again) and cold (a fresh process: ``import index`` and ``main_handler``, on a copy of the same store);
- a quiet steady-state sweep right after each timed one (nothing new: it should write nothing; the median);
- the floor: the rounds of requests the sweep cannot avoid (its listing, then the describe of the jobs that left
  the active list, each packed into the client's pool of requests in flight) × the latency.

Wall time, CI requests, store writes, the cold process's peak RSS, and the ratios. Then ``import index`` against
``import requests`` in fresh interpreters, alternating. ``--write`` stores the table in bench/RESULTS.md and the plot
in bench/sweep.png (matplotlib, Python 3.11+). The store is a folder on the local disk. The main table follows batch
states only (``JOBWATCH_TRACK_OBJECTS=false``), as the SDK loop reads them; a second table runs the default
configuration (objects followed too: at least one object request per active batch per sweep, within the budget),
against the same SDK loop figure.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench.emuproc import RemoteEmulator
from bench.results import write_head
from devkit.ciemu import TEST_SECRET_ID, TEST_SECRET_KEY
from devkit.counting import CountingStore
from jobwatch.ci import CIClient
from jobwatch.config import Credentials, Settings
from jobwatch.deadline import Deadline
from jobwatch.records import Records
from jobwatch.store import FileStore
from jobwatch.sweep import Sweeper

CREDENTIALS = Credentials(TEST_SECRET_ID, TEST_SECRET_KEY)
ROOT = Path(__file__).resolve().parents[1]
BUCKET = "demo-1250000000"
# Peak RSS from VmHWM, the high-water mark of this program's own memory: getrusage's ru_maxrss survives exec, so in
# a child of the benchmark it starts at the size of the benchmark process that forked it.
COLD = """
import json, sys, time
began = time.perf_counter()
import index
imported = time.perf_counter()
result = index.main_handler({"Type": "Timer", "TriggerName": "bench"}, {"time_limit_in_ms": 600000})
done = time.perf_counter()
with open("/proc/self/status") as status:
    rss = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
print(json.dumps({"import": imported - began, "sweep": done - imported, "ok": result.get("ok"),
                  "errors": result.get("errors") or result.get("error"),
                  "jobsSeen": result.get("jobsSeen"), "rssMB": rss}))
"""


def sdk_loop(url: str, ids: list[str]) -> float:
    """The official SDK, one describe per job, one job at a time; seconds taken."""
    from qcloud_cos import CosConfig, CosS3Client

    conf = CosConfig(Region="ap-guangzhou", SecretId=TEST_SECRET_ID, SecretKey=TEST_SECRET_KEY, Scheme="http",
                     IP="127.0.0.1", Port=int(url.rsplit(":", 1)[1]))  # fmt: skip
    sdk = CosS3Client(conf, retry=0)
    began = time.perf_counter()
    for job_id in ids:
        sdk.ci_get_inventory_trigger_jobs(Bucket=BUCKET, JobID=job_id)
    return time.perf_counter() - began


def cold_sweep(url: str, store: Path, track: bool = False) -> dict[str, Any]:
    """``import index`` and one timer invocation in a fresh process; its timings and peak RSS."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": f"{ROOT / 'handler'}:{ROOT}",
           "JOBWATCH_CI_ENDPOINT": url, "JOBWATCH_CI_BUCKET": BUCKET, "JOBWATCH_STORE": f"file:{store}",
           "TENCENTCLOUD_SECRETID": TEST_SECRET_ID, "TENCENTCLOUD_SECRETKEY": TEST_SECRET_KEY,
           "JOBWATCH_TRACK_OBJECTS": str(track).lower(), "JOBWATCH_LOG_LEVEL": "ERROR"}  # fmt: skip
    began = time.perf_counter()
    command = [sys.executable, "-c", COLD]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)  # noqa: S603
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    figures["wall"] = time.perf_counter() - began  # the interpreter's own start included
    return figures


def scenario(
    count: int, latency: float, ended: float = 0.1, runs: int = 5, track: bool = False, sdk_s: float | None = None
) -> dict[str, Any]:
    """One N: the timed sweeps (objects followed with ``track``) and, unless ``sdk_s`` is given, the SDK loop."""
    with RemoteEmulator() as emulator, tempfile.TemporaryDirectory() as tmp:
        ids = emulator.ask("preload", count, 3, 6 * 3600)
        settings = Settings.from_env({"JOBWATCH_CI_ENDPOINT": emulator.url, "JOBWATCH_CI_BUCKET": BUCKET,
                                      "JOBWATCH_TRACK_OBJECTS": str(track).lower()})  # fmt: skip
        client = CIClient(emulator.url, CREDENTIALS)
        stores = [CountingStore(FileStore(Path(tmp, "warm")))]
        offset = [emulator.ask("clock") - time.time()]  # the sweep's clock follows the emulator's
        clock = lambda: datetime.fromtimestamp(time.time() + offset[0], timezone.utc)  # noqa: E731

        def sweep() -> tuple[dict[str, Any], float, int, int]:
            store = stores[-1]
            requests_before, writes_before = emulator.requests(), len(store.written)
            began = time.perf_counter()
            summary = Sweeper(settings, client, Records(store), now=clock).run(Deadline.after(600))
            took = time.perf_counter() - began
            return summary, took, emulator.requests() - requests_before, len(store.written) - writes_before

        sweep()  # the baseline: this instance has swept before
        shutil.copytree(Path(tmp, "warm"), Path(tmp, "baseline"))
        emulator.ask("latency", latency)
        timed: list[float] = []
        quiet: list[float] = []
        for run in range(runs):  # the same moment each time: the baseline's store, the same jobs ending
            if run:
                # A fresh copy, written out: deleting thousands of files (or leaving them to write back) just before
                # the timed sweep would bill this setup's disk work to the sweep.
                shutil.copytree(Path(tmp, "baseline"), Path(tmp, f"warm{run}"))
                stores.append(CountingStore(FileStore(Path(tmp, f"warm{run}"))))
                emulator.ask("revive")
            os.sync()
            emulator.ask("end", int(count * ended))
            emulator.ask("advance", 60)
            offset[0] += 60
            if not run:
                shutil.copytree(Path(tmp, "warm"), Path(tmp, "cold"))
            summary, warm_s, warm_requests, warm_writes = sweep()
            steady, steady_s, steady_requests, steady_writes = sweep()
            assert summary["complete"] and steady["complete"], (summary, steady)
            timed.append(warm_s)
            quiet.append(steady_s)
        cold = cold_sweep(emulator.url, Path(tmp, "cold"), track)
        requests = dict(summary["ciRequests"])
        pool = client.pacer.limit
        rounds = math.ceil(requests.get("list", 0) / pool) + math.ceil(requests.get("describe", 0) / pool)
        sdk_s = sdk_loop(emulator.url, ids) if sdk_s is None else sdk_s
        assert cold["ok"], cold
        return {
            "jobs": count, "ended": summary["transitions"], "sdk_s": sdk_s, "sdk_requests": count, "runs": runs,
            "warm_s": statistics.median(timed), "warm_range": (min(timed), max(timed)), "cold_s": cold["wall"],
            "cold_import_s": cold["import"], "steady_s": statistics.median(quiet),
            "floor_s": rounds * latency, "rounds": rounds, "requests": warm_requests, "writes": warm_writes,
            "steady_requests": steady_requests, "steady_writes": steady_writes, "rss_mb": cold["rssMB"], "pool": pool,
        }  # fmt: skip


def s3_scenario(count: int, latency: float) -> dict[str, Any]:
    """The default configuration with the store on moto's S3 server (loopback): one warm and one quiet sweep after a
    tenth of the jobs end, against the same on the local disk."""
    import boto3

    from bench.page_bench import moto
    from jobwatch.config import Credentials as StoreCredentials
    from jobwatch.store.s3 import S3Store

    endpoint = moto()
    keys = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}  # moto's; nothing leaves 127.0.0.1
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **keys).create_bucket(Bucket="sweep-bench")
    found: dict[str, Any] = {"jobs": count}
    for name in ("file", "s3"):
        with RemoteEmulator() as emulator, tempfile.TemporaryDirectory() as tmp:
            emulator.ask("preload", count, 3, 6 * 3600)
            settings = Settings.from_env({"JOBWATCH_CI_ENDPOINT": emulator.url, "JOBWATCH_CI_BUCKET": BUCKET})
            client = CIClient(emulator.url, CREDENTIALS)
            inner: Any = FileStore(Path(tmp)) if name == "file" else S3Store(
                "sweep-bench", f"run-{uuid.uuid4().hex[:8]}", endpoint_url=endpoint, region="us-east-1",
                credentials=StoreCredentials("test", "test"))  # fmt: skip
            store = CountingStore(inner)
            offset = [emulator.ask("clock") - time.time()]
            clock = lambda offset=offset: datetime.fromtimestamp(time.time() + offset[0], timezone.utc)  # noqa: E731
            Sweeper(settings, client, Records(store), now=clock).run(Deadline.after(600))
            emulator.ask("latency", latency)
            emulator.ask("end", int(count / 10))
            emulator.ask("advance", 60)
            offset[0] += 60
            times = []
            for _ in range(2):
                writes = len(store.written)
                began = time.perf_counter()
                Sweeper(settings, client, Records(store), now=clock).run(Deadline.after(600))
                times.append((time.perf_counter() - began, len(store.written) - writes))
            found[name] = {"warm_s": times[0][0], "writes": times[0][1], "quiet_s": times[1][0],
                           "quiet_writes": times[1][1]}  # fmt: skip
    return found


def import_times(runs: int = 15) -> dict[str, float]:
    """Median seconds to import the handler and requests, each in fresh interpreters, alternating."""
    probe = "import sys, time; sys.path.insert(0, {path!r}); t = time.perf_counter(); import {module}; " \
            "print(time.perf_counter() - t)"  # fmt: skip
    found: dict[str, list[float]] = {"index": [], "requests": []}
    for _ in range(runs):
        for module in found:
            code = probe.format(path=str(ROOT / "handler"), module=module)
            done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)  # noqa: S603
            found[module].append(float(done.stdout))
    return {module: statistics.median(times) for module, times in found.items()}


HEADER = ("| jobs | SDK loop s | sweep warm s | sweep cold s | quiet sweep s | floor s | SDK ÷ warm | warm ÷ floor "
          "| CI requests (SDK) | store writes (quiet) | cold peak RSS MB |")  # fmt: skip


def row(r: dict[str, Any]) -> str:
    cells = [
        f"{r['jobs']:,}",
        f"{r['sdk_s']:.2f}",
        f"{r['warm_s']:.3f}",
        f"{r['cold_s']:.3f}",
        f"{r['steady_s']:.3f}",
        f"{r['floor_s']:.3f}",
        f"{r['sdk_s'] / r['warm_s']:.0f}×",
        f"{r['warm_s'] / r['floor_s']:.1f}×" if r["floor_s"] else "—",  # --latency 0: the sweep's own work
        f"{r['requests']} ({r['sdk_requests']:,})",
        f"{r['writes']} ({r['steady_writes']})",
        f"{r['rss_mb']:.0f}",
    ]
    return "| " + " | ".join(cells) + " |"


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    jobs = [r["jobs"] for r in results]
    figure, axes = plt.subplots(figsize=(7, 4.2), dpi=110)
    for key, label, style in (("sdk_s", "official SDK loop", "o-"), ("cold_s", "jobwatch sweep, cold", "s-"),
                              ("warm_s", "jobwatch sweep, warm", "^-"), ("floor_s", "floor (request rounds × latency)",
                              "k--")):  # fmt: skip
        axes.plot(jobs, [r[key] for r in results], style, label=label)
    axes.set(xscale="log", yscale="log", xlabel="active batch jobs", ylabel="seconds per poll",
             title="Polling N batch jobs (20 ms per CI request)")  # fmt: skip
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sweep_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument(
        "--latency", type=float, default=0.02, help="seconds the emulator adds to each answer (0: no floor to compare)"
    )
    parser.add_argument("--write", action="store_true", help="write bench/RESULTS.md and bench/sweep.png")
    args = parser.parse_args(argv)
    print(f"{args.latency * 1000:.0f} ms per CI request; a tenth of the jobs end before the timed sweep", flush=True)
    print(HEADER, flush=True)
    results = []
    for count in args.jobs:
        results.append(scenario(count, args.latency))
        print(row(results[-1]), flush=True)
    print("The default configuration (JOBWATCH_TRACK_OBJECTS=true: objects followed too), same SDK loop figures:")
    print(HEADER, flush=True)
    tracked = []
    for plain in results:
        tracked.append(scenario(plain["jobs"], args.latency, track=True, sdk_s=plain["sdk_s"]))
        print(row(tracked[-1]), flush=True)
    stores = s3_scenario(1000, args.latency)
    print(
        f"store on moto's S3 server, 1,000 jobs, objects followed: warm {stores['s3']['warm_s']:.2f} s "
        f"(local disk {stores['file']['warm_s']:.2f} s), quiet {stores['s3']['quiet_s']:.2f} s "
        f"({stores['file']['quiet_s']:.2f} s), quiet writes {stores['s3']['quiet_writes']}",
        flush=True,
    )
    imports = import_times()
    ratio = imports["index"] / imports["requests"]
    line = (f"import index: {imports['index'] * 1000:.0f} ms, import requests: {imports['requests'] * 1000:.0f} ms "
            f"(medians of 15 fresh interpreters each, alternating): {ratio:.2f}×")  # fmt: skip
    print(line)
    if args.write:
        write(results, tracked, line + "\n\n" + s3_line(stores), args)
    return 0


def s3_line(stores: dict[str, Any]) -> str:
    s3, disk = stores["s3"], stores["file"]
    return (
        f"The default configuration for {stores['jobs']:,} jobs with the store on moto's S3 server (a real HTTP "
        f"S3 endpoint on 127.0.0.1) against the local disk, one run each: the sweep after a tenth end "
        f"{s3['warm_s']:.2f} s against {disk['warm_s']:.2f} s ({s3['warm_s'] / disk['warm_s']:.1f}×, "
        f"{s3['writes']} writes), the quiet sweep {s3['quiet_s']:.2f} s against {disk['quiet_s']:.2f} s, "
        f"writing {s3['quiet_writes']} objects"
    )


def write(results: list[dict[str, Any]], tracked: list[dict[str, Any]], imports: str, args: argparse.Namespace) -> None:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())  # fmt: skip
    lines = [
        "# Benchmark results: a sweep against the official SDK loop",
        "",
        "Command: `make bench` (this table: `python -m bench.sweep_bench --write`). "
        f"Date: {datetime.now(timezone.utc):%Y-%m-%d}. Machine: {os.cpu_count()} cores ({cpu}), "
        f"Python {platform.python_version()}, the CI emulator on 127.0.0.1 (in its own process) with "
        f"{args.latency * 1000:.0f} ms added to every answer.",
        "",
        "N active batch jobs of both types, created over six hours; after a baseline sweep a tenth of them end.",
        "The SDK loop describes each job with `cos-python-sdk-v5` (`ci_get_inventory_trigger_jobs`), one after",
        "another. The floor is the request rounds the sweep cannot avoid (its listing, then describing the jobs that",
        f"left the active list, each packed into the client's {results[0]['pool']} requests in flight) × the latency. "
        "The quiet sweep",
        "follows at once and finds nothing new. Cold: a fresh process that imports the handler and runs one timer",
        "invocation, on a copy of the same store. Warm and quiet: medians of "
        f"{results[0]['runs']} runs on the same moment, each on a fresh copy of the baseline's store written out "
        "to disk first (warm ranges: "
        + ", ".join(f"N={r['jobs']:,} {r['warm_range'][0]:.3f}–{r['warm_range'][1]:.3f} s" for r in results)
        + "). Peak RSS: the cold process's VmHWM. The store is a folder on the local disk.",
        "",
        "Batch states only (`JOBWATCH_TRACK_OBJECTS=false`), as the SDK loop reads them:",
        "",
        HEADER,
        "|" + "|".join("---" for _ in HEADER.split("|")[1:-1]) + "|",
        *[row(r) for r in results],
        "",
        "The default configuration (`JOBWATCH_TRACK_OBJECTS=true`: each batch's objects followed too, at least one",
        "object request per active batch per sweep within the budget of 1,000), against the same SDK loop figures",
        "(the loop reads batch states only; the floor counts the batch listing and describes alone). Here the",
        'budget reaches 500 batches a sweep, so the "quiet" sweep still takes up what it had not reached (batches',
        "visited for the first time, ended batches finished) and writes; once every batch has been visited, a sweep",
        "that finds nothing new writes nothing (`make bench-scale`, and `tests/functional/test_spans.py`):",
        "",
        HEADER,
        "|" + "|".join("---" for _ in HEADER.split("|")[1:-1]) + "|",
        *[row(r) for r in tracked],
        "",
        imports + ".",
        "",
        "![seconds per poll against N, log scale](sweep.png)",
        "",
    ]
    write_head("\n".join(lines))  # the other benchmarks' sections stay
    plot(results, Path(ROOT, "bench", "sweep.png"))


if __name__ == "__main__":
    raise SystemExit(main())
