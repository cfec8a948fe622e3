"""``make bench-scale``: jobwatch at the sizes of "Bounded at any size", measured in one run.

1. Active objects: one Job batch whose N objects (10,000 / 100,000 / 500,000) are all dispatched and all still
   running. A sweeping process (what SCF runs) follows it until every object is listed; once the batch has ended
   (its objects still running) and two sweeps recorded that, one more sweep finds nothing new: its peak resident
   memory (VmHWM), the largest document in the store, CI object requests ÷ ⌈N/100⌉, seconds per sweep, and what
   the quiet sweep wrote.
2. A batch of 1,000,000 objects from its first object to its manifest, dispatched over two hours of emulated time,
   each object running 1-10 minutes, a sweep a minute: sweeps, requests ÷ ⌈N/100⌉, wall time, peak memory,
   largest document; and what 10,000,000 would cost at the measured per-object figures.
3. A page view over 1,000,000 events (index lines written directly): reads, bytes and seconds of each list.
4. A sweep with 50,000 pending deliveries not yet due (and 100 due): reads of events, seconds.
5. A sweep with 10,000 active watches (10,000 running jobs, each watched): reads of watches, seconds.

The emulator runs in the benchmark's process and the sweeps in a child process, over 127.0.0.1; the store is a
folder on the local disk. ``--write`` stores the tables in bench/RESULTS.md (section "At scale") and the plot in
bench/scale.png.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from bench.results import write_section
from devkit.ciemu import TEST_SECRET_ID, TEST_SECRET_KEY, CIEmulator
from devkit.ciemu.jobs import EmuClock
from devkit.counting import CountingStore
from devkit.receiver import WebhookReceiver, new_secret

ROOT = Path(__file__).resolve().parents[1]
MB = 1024 * 1024
# A sweeping process: one timer invocation per "go" line on stdin, a JSON line per sweep, its VmHWM at the end.
SWEEPER = """
import json, sys, time, index
event = {"Type": "Timer", "TriggerName": "scale", "Time": "", "Message": ""}
for line in sys.stdin:
    if line.strip() != "go":
        break
    started = time.perf_counter()
    summary = index.main_handler(event, {"request_id": "scale", "time_limit_in_ms": 900000})
    print(json.dumps({"seconds": time.perf_counter() - started, "objects": summary.get("objects"),
                      "errors": summary.get("errors"), "events": summary.get("eventsEmitted")}), flush=True)
status = open("/proc/self/status").read()
print(json.dumps({"peakKb": int(next(l.split()[1] for l in status.splitlines() if l.startswith("VmHWM:")))}))
"""
OBJECT_OPS = ("list_media_jobs", "list_executions", "describe_execution")


class Sweeping:
    """The child process that sweeps, one sweep per ``sweep()``."""

    def __init__(self, url: str, store: Path, **env: str) -> None:
        variables = {"JOBWATCH_CI_ENDPOINT": url, "JOBWATCH_CI_BUCKET": "demo-1250000000",
                     "JOBWATCH_CI_REGION": "ap-guangzhou", "TENCENTCLOUD_SECRETID": TEST_SECRET_ID,
                     "TENCENTCLOUD_SECRETKEY": TEST_SECRET_KEY, "JOBWATCH_STORE": f"file:{store}",
                     "JOBWATCH_LOG_LEVEL": "ERROR", "PATH": "/usr/bin:/bin", **env}  # fmt: skip
        command = [sys.executable, "-c", SWEEPER]  # our own script
        self.child = subprocess.Popen(command, cwd=ROOT / "handler", env=variables, stdin=subprocess.PIPE,  # noqa: S603
                                      stdout=subprocess.PIPE, text=True)  # fmt: skip

    def sweep(self) -> dict[str, Any]:
        assert self.child.stdin is not None and self.child.stdout is not None
        self.child.stdin.write("go\n")
        self.child.stdin.flush()
        return dict(json.loads(self.child.stdout.readline()))

    def peak_mb(self) -> float:
        assert self.child.stdin is not None and self.child.stdout is not None
        self.child.stdin.write("stop\n")
        self.child.stdin.flush()
        peak = json.loads(self.child.stdout.readline())["peakKb"] / 1024
        self.child.wait(30)
        return float(peak)


def largest(store: Path) -> tuple[int, str]:
    return max(((p.stat().st_size, str(p.relative_to(store))) for p in store.rglob("*") if p.is_file()
                and not p.name.startswith("objects-")), default=(0, ""))  # fmt: skip


def largest_part(store: Path) -> int:
    return max((p.stat().st_size for p in store.rglob("objects-*.csv")), default=0)


def snapshot(store: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime_ns for p in store.rglob("*") if p.is_file()}


def object_requests(emulator: CIEmulator) -> int:
    return sum(emulator.served[op] for op in OBJECT_OPS)


def active_objects(count: int) -> dict[str, Any]:
    """Scenario 1 for one N. The emulated clock starts an hour back, so once the batch is dispatched its objects are
    minutes old to the sweeping process (which runs on the real clock), as in a steady state."""
    with CIEmulator(clock=EmuClock(time.time() - 3600)) as emulator, tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp, "store")
        made = math.ceil(count / 0.995) + 10  # 99.5% of them dispatched by the time the sweeps start
        (job,) = emulator.book.preload(1, seed=5, job_type="Job", duration=(1000, 1000), objects=made,
                                       object_duration=(10**7, 10**7))  # fmt: skip
        emulator.clock.advance(job.submitted_for + 995)
        sweeping = Sweeping(emulator.url, store)
        seconds, sweeps, seen = [], 0, 0
        while seen < count and sweeps < 1000:
            seconds.append(sweeping.sweep()["seconds"])
            sweeps += 1
            record = json.loads((store / "jobs" / f"{job.job_id}.json").read_text())
            seen = int((record.get("objects") or {}).get("seen") or 0)
        listing = object_requests(emulator)
        emulator.clock.advance(10)  # the batch has dispatched its last objects and ended: nothing more will change
        for _ in range(2):  # these sweeps list the last objects and record the batch's end
            sweeping.sweep()
        before, served = snapshot(store), object_requests(emulator)
        quiet = sweeping.sweep()
        after = snapshot(store)
        written = sum(1 for k, v in after.items() if before.get(k) != v) + sum(1 for k in before if k not in after)
        return {
            "active": seen, "sweeps": sweeps, "peakMb": sweeping.peak_mb(), "largest": largest(store),
            "perPage": listing / math.ceil(seen / 100), "secondsPerSweep": sum(seconds) / len(seconds),
            "quietRequests": object_requests(emulator) - served, "quietSeconds": quiet["seconds"],
            "quietWrites": written,
        }  # fmt: skip


def whole_batch(count: int, dispatch: float = 7200.0, step: float = 60.0) -> dict[str, Any]:
    """Scenario 2: a batch from first object to manifest."""
    with CIEmulator() as emulator, tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp, "store")
        (job,) = emulator.book.preload(1, seed=7, job_type="Job", duration=(dispatch, dispatch), objects=count,
                                       object_failure_ratio=0.02, object_duration=(60, 600))  # fmt: skip
        sweeping = Sweeping(emulator.url, store)
        started, measuring = time.perf_counter(), 0.0
        sweeps, longest, biggest = 0, 0.0, (0, "")
        while not (store / "reports" / job.job_id / "manifest.json").exists() and sweeps < 2000:
            longest = max(longest, sweeping.sweep()["seconds"])
            sweeps += 1
            began = time.perf_counter()
            biggest = max(biggest, largest(store))  # spans and segments come and go: the largest at any sweep
            measuring += time.perf_counter() - began
            emulator.clock.advance(step)
        wall = time.perf_counter() - started - measuring
        manifest = json.loads((store / "reports" / job.job_id / "manifest.json").read_text())
        return {
            "objects": count, "sweeps": sweeps, "wall": wall, "longestSweep": longest, "peakMb": sweeping.peak_mb(),
            "perPage": object_requests(emulator) / math.ceil(count / 100), "largest": biggest,
            "largestPart": largest_part(store), "parts": len(manifest["parts"]),
            "rows": sum(int(p["rows"]) for p in manifest["parts"]),
        }  # fmt: skip


def ports_for(store: Any, emulator: CIEmulator, **env: str) -> Any:
    from jobwatch.ci import CIClient
    from jobwatch.config import Credentials, Settings
    from jobwatch.entry import Ports
    from jobwatch.notify.guard import AddressGuard
    from jobwatch.notify.outbox import Dispatcher
    from jobwatch.notify.webhook import WebhookSender
    from jobwatch.records import Records

    settings = Settings.from_env({"JOBWATCH_CI_ENDPOINT": emulator.url, "JOBWATCH_CI_BUCKET": "demo-1250000000",
                                  "JOBWATCH_CI_REGION": "ap-guangzhou", "JOBWATCH_TRACK_OBJECTS": "false",
                                  "JOBWATCH_API_TOKEN": "t" * 32, **env})  # fmt: skip
    records = Records(store)
    client = CIClient(emulator.url, Credentials(TEST_SECRET_ID, TEST_SECRET_KEY))
    guard = AddressGuard(settings.callback_allow_nets)
    notifier = Dispatcher(records, settings.webhook_secrets, webhooks=WebhookSender(guard))
    return Ports(settings, records, lambda: client, notifier=notifier, guard=guard)


def million_events() -> dict[str, Any]:
    """Scenario 3."""
    from jobwatch import service
    from jobwatch.book import Book
    from jobwatch.overview import ROOTS
    from jobwatch.records import Records, dumps
    from jobwatch.store import FileStore

    with CIEmulator() as emulator, tempfile.TemporaryDirectory() as tmp:
        store = CountingStore(FileStore(Path(tmp)))
        records = Records(store)  # type: ignore[arg-type]
        root: dict[str, Any] = {"version": 2, "seq": 0, "metas": [], "rebuild": {"after": "", "complete": True}}
        base = datetime(2026, 1, 1, tzinfo=timezone.utc)
        for start in range(0, 1_000_000, 50_000):
            pages = Book(records, "events", root, lambda line: str(line["status"]))
            for n in range(start, start + 50_000):
                created = (base + timedelta(seconds=n * 2)).isoformat()
                status = "failed" if n % 50_000 == 17 else "delivered"
                event_id = f"evt-b{n:031d}-success"
                pages.put((created, event_id), {
                    "id": event_id, "type": "ci.batchjob.succeeded", "jobId": f"b{n:031d}", "state": "Success",
                    "status": status, "createdAt": created, "nextAttemptAt": None, "round": 1,
                    "targets": {"wh-0a1b2c3d": {"kind": "webhook", "status": status, "attempts": 1,
                                                "target": "https://hooks.example.com/…"}},
                    "attempts": [{"target": "wh-0a1b2c3d", "at": created, "status": 200, "error": None}],
                })  # fmt: skip
            pages.save()
            records.store.put(ROOTS["events"], dumps(root))
        ports = ports_for(store, emulator)
        results = {}
        for name, status in (("newest", ""), ("failed", "failed")):
            store.calls.clear()
            store.bytes_read = 0
            started = time.perf_counter()
            page = service.list_events(ports, status, 50, "")
            results[name] = {"reads": store.calls["get"] + store.calls["list"], "bytes": store.bytes_read,
                             "seconds": time.perf_counter() - started, "rows": len(page["events"])}  # fmt: skip
        results["largest"] = largest(Path(tmp))
        results["pages"] = len(root["metas"])
        return results


def pending_deliveries(count: int = 50_000, due: int = 100) -> dict[str, Any]:
    """Scenario 4."""
    from bench.backlog_bench import fill
    from jobwatch.deadline import Deadline
    from jobwatch.records import Records
    from jobwatch.store import FileStore
    from jobwatch.sweep import Sweeper

    secret = new_secret()
    receiver = WebhookReceiver(secret).start()
    with CIEmulator() as emulator, tempfile.TemporaryDirectory() as tmp:
        store = CountingStore(FileStore(Path(tmp)))
        ports = ports_for(store, emulator, JOBWATCH_WEBHOOK_URL=receiver.url, JOBWATCH_WEBHOOK_SECRET=secret,
                          JOBWATCH_CALLBACK_ALLOW_NETS="127.0.0.1/32")  # fmt: skip
        Sweeper(ports.settings, ports.ci, ports.records, notifier=ports.notifier).run(Deadline.after(60))
        records: Records = ports.records
        now = datetime.now(timezone.utc)
        fill(records, receiver.url, (now + (timedelta(hours=5) if n < count else -timedelta(seconds=n))
                                     for n in range(count + due)))  # fmt: skip
        store.calls.clear()
        started = time.perf_counter()
        summary = Sweeper(ports.settings, ports.ci, records, notifier=ports.notifier).run(Deadline.after(60))
        seconds = time.perf_counter() - started
        event_reads = store.calls["get"]
    receiver.stop()
    return {"pending": count, "due": due, "delivered": summary["deliveries"]["ok"], "seconds": seconds,
            "reads": event_reads}  # fmt: skip


def many_watches(count: int = 10_000) -> dict[str, Any]:
    """Scenario 5."""
    from jobwatch.deadline import Deadline
    from jobwatch.overview import Overview
    from jobwatch.records import dumps
    from jobwatch.store import FileStore
    from jobwatch.sweep import Sweeper

    with CIEmulator() as emulator, tempfile.TemporaryDirectory() as tmp:
        made = emulator.book.preload(count, seed=9, spread=3600, duration=(10**6, 2 * 10**6))
        store = CountingStore(FileStore(Path(tmp)))
        ports = ports_for(store, emulator)
        for job in made:
            store.inner.put(f"watches/{job.job_id}.json", dumps({"jobId": job.job_id, "createdAt": "2026-01-01"}))
        figures = []
        overview = Overview(ports.records)
        # the first sweep records every job; the next ones build the jobs index (2,000 records a sweep); then the
        # steady state
        while not figures or not overview.present() or len(figures) < 2:
            store.calls.clear()
            started = time.perf_counter()
            Sweeper(ports.settings, ports.ci, ports.records).run(Deadline.after(120))
            figures.append((time.perf_counter() - started, store.calls["get"]))
        store.calls.clear()
        started = time.perf_counter()
        Sweeper(ports.settings, ports.ci, ports.records).run(Deadline.after(120))
        steady = (time.perf_counter() - started, store.calls["get"])
        return {"watches": count, "firstSeconds": figures[0][0], "sweepsToIndex": len(figures), "seconds": steady[0],
                "reads": steady[1]}  # fmt: skip


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (memory, documents) = plt.subplots(1, 2, figsize=(8, 3.6), dpi=110)
    xs = [r["active"] for r in rows]
    memory.plot(xs, [r["peakMb"] for r in rows], "o-", label="peak resident memory")
    memory.axhline(128, color="grey", linestyle=":", label="128 MB")
    memory.set_ylabel("MB")
    documents.plot(xs, [r["largest"][0] / 1024 for r in rows], "s-", color="tab:orange", label="largest document")
    documents.axhline(1024, color="grey", linestyle=":", label="1 MiB")
    documents.set_ylabel("KiB")
    for axes in (memory, documents):
        axes.set_xscale("log")
        axes.set_xlabel("active objects of one batch")
        axes.set_ylim(bottom=0)
        axes.legend(loc="center right", fontsize=8)
    figure.suptitle("A sweeping process and its documents stay the same size as a batch grows")
    figure.tight_layout()
    figure.savefig(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000,500000")
    parser.add_argument("--batch", type=int, default=1_000_000)
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--reuse", type=Path, help="a log of an earlier run: its results stand, the rest is run")
    args = parser.parse_args()
    kept = [json.loads(line) for line in args.reuse.read_text().splitlines() if line.startswith("{")] \
        if args.reuse else []  # fmt: skip

    def measured(keep: Any, run: Any) -> Any:
        found = next((r for r in kept if keep(r)), None)
        found = found if found is not None else run()
        print(json.dumps(found), flush=True)
        return found

    active = [measured(lambda r, n=size: abs(r.get("active", -n) - n) < n / 10, lambda n=size: active_objects(n))
              for size in [int(s) for s in args.sizes.split(",")]]  # fmt: skip
    batch = measured(lambda r: "rows" in r, lambda: whole_batch(args.batch))
    events = measured(lambda r: "newest" in r, million_events)
    deliveries = measured(lambda r: "pending" in r, pending_deliveries)
    watches = measured(lambda r: "watches" in r, many_watches)

    if args.write:
        write(active, batch, events, deliveries, watches)
    return 0


def write(active: list[dict[str, Any]], batch: dict[str, Any], events: dict[str, Any], deliveries: dict[str, Any],
          watches: dict[str, Any]) -> None:  # fmt: skip
    per_object = batch["wall"] / batch["objects"]
    ten_million = 10_000_000
    lines = [
        "## At scale",
        "",
        f"Command: `make bench-scale`. Date: {datetime.now(timezone.utc):%Y-%m-%d}. The CI emulator in the",
        "benchmark's process, the sweeps in a child process (what SCF runs), the store a folder on the local disk.",
        "",
        "One batch whose objects are all dispatched and all still running:",
        "",
        "| active objects | sweeps to list them | peak memory | largest document | object requests ÷ ⌈N/100⌉ | "
        "s per sweep | quiet sweep: requests, writes, s |",
        "|---|---|---|---|---|---|---|",
        *[
            f"| {r['active']:,} | {r['sweeps']} | {r['peakMb']:.0f} MB | {r['largest'][0] / 1024:.0f} KiB "
            f"(`{r['largest'][1].split('/')[0]}/…`) | {r['perPage']:.2f} | {r['secondsPerSweep']:.1f} | "
            f"{r['quietRequests']}, {r['quietWrites']}, {r['quietSeconds']:.2f} |"
            for r in active
        ],
        "",
        "![memory and largest document against active objects](scale.png)",
        "",
        f"A batch of {batch['objects']:,} objects from its first object to its manifest (dispatched over two hours of",
        "emulated time, each object running 1–10 minutes, 2% failing, a sweep every emulated minute): "
        f"{batch['sweeps']} sweeps, {batch['wall'] / 60:.1f} minutes of wall time (the longest sweep "
        f"{batch['longestSweep']:.1f} s), object requests ÷ ⌈N/100⌉ = {batch['perPage']:.2f}, peak memory "
        f"{batch['peakMb']:.0f} MB, largest document {batch['largest'][0] / 1024:.0f} KiB, {batch['parts']} report "
        f"parts ({batch['rows']:,} rows, the largest {batch['largestPart'] / MB:.1f} MiB).",
        f"At these per-object figures a batch of {ten_million:,} objects costs about "
        f"{per_object * ten_million / 60:.0f} minutes of sweeping spread over its life, "
        f"{batch['perPage'] * ten_million / 100:,.0f} object requests, and about "
        f"{batch['parts'] * ten_million // batch['objects']:,} report parts; "
        "memory and documents stay as above (they do not grow with the batch).",
        "",
        f"A page view over 1,000,000 events ({events['pages']} index pages): the newest 50 with the counts "
        f"{events['newest']['reads']} reads, {events['newest']['bytes'] / 1024:.0f} KiB, "
        f"{events['newest']['seconds'] * 1000:.0f} ms; the dead letters {events['failed']['reads']} reads, "
        f"{events['failed']['bytes'] / 1024:.0f} KiB, {events['failed']['seconds'] * 1000:.0f} ms; the largest "
        f"index document {events['largest'][0] / 1024:.0f} KiB.",
        "",
        f"A sweep with {deliveries['pending']:,} deliveries pending but not due and {deliveries['due']} due: "
        f"{deliveries['delivered']} delivered, {deliveries['reads']} store reads, {deliveries['seconds']:.1f} s.",
        "",
        f"A sweep with {watches['watches']:,} active watches on running jobs: {watches['seconds']:.1f} s and "
        f"{watches['reads']} store reads once the jobs are recorded and indexed (the first sweep, which records and "
        f"indexes every job: {watches['firstSeconds']:.1f} s; the jobs index complete after "
        f"{watches['sweepsToIndex'] - 1} sweep(s)).",
        "",
    ]
    write_section("At scale", "\n".join(lines))
    plot(active, Path(ROOT, "bench", "scale.png"))


if __name__ == "__main__":
    raise SystemExit(main())
