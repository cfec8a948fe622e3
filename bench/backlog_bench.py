"""A backlog of due deliveries: how long it takes to drain with one invocation per sweep against the split among
delivery shards (``make bench``, section "Delivery backlog" of bench/RESULTS.md).

N events, each with a webhook round due now (as a receiver's outage leaves them), in a file store; the receiver (a
threaded local server verifying every signature) takes ``--delay`` seconds to answer each. Timer sweeps of a
``--limit``-second function run back to back until every event is delivered:

- one invocation (``JOBWATCH_FANOUT=off``): each sweep delivers what it can before its deadline;
- split (``JOBWATCH_FANOUT=auto``): a sweep that stopped with due deliveries left makes the next hand seven of eight
  slices of the outbox to delivery shards, run by the local SCF emulator in worker processes.

Figures: seconds until the last event arrived, sweeps, invocations, and events the receiver saw twice (must be 0).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Iterable
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from bench.results import write_section
from devkit.ciemu import TEST_SECRET_ID, TEST_SECRET_KEY, CIEmulator
from devkit.ciemu.scf import SCFEmulator
from devkit.receiver import WebhookReceiver, new_secret
from jobwatch import events as ev
from jobwatch import service
from jobwatch.entry import handle
from jobwatch.records import Records
from jobwatch.store import FileStore

TIMER = {"Type": "Timer", "TriggerName": "bench", "Time": "2026-12-05T00:00:00Z", "Message": ""}


def fill(records: Records, url: str, dues: Iterable[datetime]) -> list[str]:
    """A pending event with a webhook round due at each of ``dues`` (as a receiver's outage leaves them): their IDs."""
    made = []
    for n, at in enumerate(dues):
        record = {"jobId": f"b{n:032d}", "type": "Job", "name": "queued", "state": "Success", "history": []}
        event = ev.build_event(ev.TERMINAL_TYPES["Success"], record, "Running", 1, bucket="demo-1250000000",
                               region="ap-guangzhou", metadata=None, record_url="file:x", now=at)  # fmt: skip
        event["targets"] = ev.delivery_targets(url, None, None, at)
        records.put_outbox(event["id"], event["nextAttemptAt"])
        records.create_event(event)
        made.append(str(event["id"]))
    return made


def drain(count: int, delay: float, limit: float, mode: str) -> dict[str, Any]:
    secret = new_secret()
    receiver = WebhookReceiver(secret).start()
    receiver.delay = delay
    folder = Path(tempfile.mkdtemp(prefix=f"jobwatch-backlog-{mode}-"))
    try:
        with CIEmulator() as emulator, SCFEmulator(concurrency=8, time_limit_ms=int(limit * 1000)) as scf:
            env = {
                "JOBWATCH_CI_ENDPOINT": emulator.url, "JOBWATCH_CI_BUCKET": "demo-1250000000",
                "JOBWATCH_CI_REGION": "ap-guangzhou", "JOBWATCH_STORE": f"file:{folder}",
                "TENCENTCLOUD_SECRETID": TEST_SECRET_ID, "TENCENTCLOUD_SECRETKEY": TEST_SECRET_KEY,
                "TENCENTCLOUD_REGION": "ap-guangzhou", "JOBWATCH_WEBHOOK_URL": receiver.url,
                "JOBWATCH_WEBHOOK_SECRET": secret, "JOBWATCH_CALLBACK_ALLOW_NETS": "127.0.0.1/32",
                "JOBWATCH_SCF_ENDPOINT": scf.url, "SCF_FUNCTIONNAME": "jobwatch", "SCF_NAMESPACE": "default",
                "JOBWATCH_FANOUT": mode, "JOBWATCH_TRACK_OBJECTS": "false", "JOBWATCH_LOG_LEVEL": "ERROR",
            }  # fmt: skip
            scf.workers["default/jobwatch"] = env
            now = datetime.now(timezone.utc)
            fill(Records(FileStore(folder)), receiver.url, [now] * count)
            started = time.perf_counter()
            sweeps = 0
            while len(receiver.seen) < count and time.perf_counter() - started < 900:
                service._settings_cache.clear()
                service._ports_cache.clear()
                handle(TIMER, {"request_id": "bench", "time_limit_in_ms": int(limit * 1000)}, environ=env)
                sweeps += 1
            seconds = time.perf_counter() - started
            scf.wait_idle(120)
            return {"seconds": round(seconds, 2), "sweeps": sweeps, "invocations": sweeps + len(scf.runs),
                    "delivered": len(receiver.seen), "duplicates": receiver.duplicates}  # fmt: skip
    finally:
        receiver.stop()
        shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--delay", type=float, default=0.1, help="seconds the receiver takes to answer")
    parser.add_argument("--limit", type=float, default=5.0, help="the function's timeout, in seconds")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    rows = {mode: drain(args.events, args.delay, args.limit, mode) for mode in ("off", "auto")}
    print(json.dumps(rows), flush=True)
    if not args.write:
        return 0
    one, split = rows["off"], rows["auto"]
    lines = [
        "## Delivery backlog",
        "",
        f"Command: `make bench` (`python -m bench.backlog_bench --write`). Date: {date.today()}. Machine: "
        f"{os.cpu_count()} cores, Python {platform.python_version()}. {args.events:,} events with a webhook round due "
        f"now; the receiver answers each after {args.delay:g} s; timer sweeps of a {args.limit:g} s function back to "
        "back until every event arrived. Split: the local SCF emulator runs the delivery shards in worker processes "
        "(8 at once, on these 2 cores beside the sweep; SCF gives each its own).",
        "",
        "| | seconds to drain | sweeps | invocations | duplicates |",
        "|---|---|---|---|---|",
        f"| one invocation per sweep | {one['seconds']:.1f} | {one['sweeps']} | {one['invocations']} | "
        f"{one['duplicates']} |",
        f"| split among delivery shards | {split['seconds']:.1f} | {split['sweeps']} | {split['invocations']} | "
        f"{split['duplicates']} |",
        "",
        f"Ratio: the split drains it {one['seconds'] / max(split['seconds'], 0.01):.1f}× as fast.",
        "",
    ]
    write_section("Delivery backlog", "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
