"""``make demo``: the main job end to end on the embedded default, no cloud account needed.

Starts the CI emulator on 127.0.0.1 with three buckets in two regions (one of them answers 503 for a few sweeps)
and batch jobs of both types that move through their states, each dispatching a few hundred objects (some fail; one
batch fails three in four, and jobwatch warns of it while it runs), with moto's S3 server standing for the watched
buckets' own objects; runs the real ``index.main_handler`` with timer events every few seconds against
``file:.jobwatch``, shows a live table with each job's bucket and a progress bar per batch, retries the failing
batch's failed objects once it is finished and follows the new batch to its end, and ends with a summary that names
each completion report and its failed rows. Everything it starts, it stops.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from devkit.ciemu import TEST_SECRET_ID, TEST_SECRET_KEY, CIEmulator
from devkit.receiver import WebhookReceiver, new_secret
from devkit.s3server import S3Server
from devkit.s3server import client as s3_client

MARKER = ".jobwatch-demo"  # the demo empties only folders that carry it
BUCKETS = (
    ("demo-1250000000", "ap-guangzhou"),
    ("media-1250000000", "ap-guangzhou"),
    ("clips-1250000000", "ap-shanghai"),
)
FLAKY = "media-1250000000"  # answers 503 to every request from the second sweep to the fourth

STATE_STYLE = {
    "Submitted": "cyan",
    "Running": "yellow",
    "Pause": "magenta",
    "Success": "green",
    "Failed": "red",
    "Cancel": "bright_black",
}


def bar(objects: dict[str, Any], width: int = 20) -> str:
    """done (green), failed (red) and active (yellow) of the objects seen so far, or of the total once finished."""
    seen = objects.get("total") or objects.get("seen") or 0
    if not seen:
        return "[bright_black]no objects[/]" if objects.get("total") == 0 else "[bright_black]no objects seen yet[/]"
    parts = [(objects.get("succeeded", 0), "green", "█"), (objects.get("failed", 0) + objects.get("cancelled", 0),
             "red", "█"), (objects.get("active", 0), "yellow", "░")]  # fmt: skip
    cells = "".join(f"[{style}]{char * round(width * n / seen)}[/]" for n, style, char in parts)
    done = objects.get("succeeded", 0) + objects.get("failed", 0) + objects.get("cancelled", 0)
    label = "" if objects.get("total") is None else " (all)"
    return f"{cells} {done}/{seen}{label}, {objects.get('failed', 0)} failed"


def table(store: Path, jobs: list[str], sweeps: int, totals: Counter[str]) -> Table:
    view = Table(
        title=f"jobwatch demo: sweep {sweeps}, {totals['events']} events, "
        f"{totals['delivered']} webhooks delivered, {totals['ci']} CI requests"
    )
    for column in ("job", "bucket", "type", "name", "state", "objects: done/failed/active", "events"):
        view.add_column(column)
    per_job = Counter(p.name.split("-")[1] for p in (store / "events").glob("evt-*.json"))
    for job_id in jobs:
        path = store / "jobs" / f"{job_id}.json"
        record = json.loads(path.read_text()) if path.exists() else {}
        state = record.get("state", "…")
        view.add_row(
            job_id[:10] + "…",
            f"{record.get('bucket', '')}@{record.get('region', '')}" if record.get("bucket") else "",
            record.get("type", ""),
            record.get("name", ""),
            f"[{STATE_STYLE.get(state, 'white')}]{state}[/]",
            bar(record.get("objects") or {}),
            str(per_job.get(job_id, 0)),
        )
    return view


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devkit.demo", description=__doc__)
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--every", type=float, default=3.0, help="seconds between timer events")
    parser.add_argument("--timeout", type=float, default=120.0, help="stop after this many seconds")
    parser.add_argument(
        "--store", default=".jobwatch", help="store folder, emptied if an earlier demo made it; others are refused"
    )
    parser.add_argument("--objects", type=int, nargs=2, default=(100, 300), metavar=("MIN", "MAX"),
                        help="how many objects each batch dispatches")  # fmt: skip
    parser.add_argument("--object-duration", type=float, nargs=2, default=(2.0, 8.0), metavar=("MIN", "MAX"),
                        help="how long each object takes, in seconds")  # fmt: skip
    parser.add_argument(
        "--duration",
        type=float,
        nargs=2,
        default=(15.0, 35.0),
        metavar=("MIN", "MAX"),
        help="how long the emulated jobs run, in seconds",
    )
    args = parser.parse_args(argv)
    console = Console()
    store = Path(args.store).resolve()
    if store.exists() and any(store.iterdir()) and not (store / MARKER).exists():
        console.print(f"[red]{store} exists and was not made by the demo[/]: it is left alone; pass --store with a "
                      "new folder (or remove this one yourself)")  # fmt: skip
        return 2
    if store.exists():
        shutil.rmtree(store)
    store.mkdir(parents=True)
    (store / MARKER).write_text("made by make demo: the next demo run empties this folder\n")

    secret = new_secret()
    receiver = WebhookReceiver(secret).start()
    with CIEmulator() as emulator, S3Server() as s3:
        emulator.options.cos_endpoint = s3.url  # the watched buckets' own objects: retry lists
        for bucket, _ in BUCKETS:
            s3_client(s3.url).create_bucket(Bucket=bucket)
        books = {bucket: emulator.add_bucket(bucket, region) for bucket, region in BUCKETS}
        made = []
        for n, book in enumerate(books.values()):
            share = args.jobs // len(books) + (n < args.jobs % len(books))
            made += book.preload(share, seed=args.seed + n, duration=tuple(args.duration), objects=tuple(args.objects),
                                 object_failure_ratio=0.04, object_duration=tuple(args.object_duration))  # fmt: skip
        for clean in made[::2]:  # half the batches process every object fine: those end as ci.batchjob.succeeded
            clean.object_failure_ratio = 0.0
        doomed = made[1]  # a wrong template, say: most of its objects fail, and jobwatch says so while it runs
        doomed.object_failure_ratio, doomed.running_for = 0.75, doomed.running_for * 2  # long enough to be warned of
        os.environ.update(
            {
                "JOBWATCH_CI_ENDPOINT": emulator.url,
                "JOBWATCH_CI_BUCKETS": " ".join(f"{bucket}@{region}" for bucket, region in BUCKETS),
                "TENCENTCLOUD_SECRETID": TEST_SECRET_ID,
                "TENCENTCLOUD_SECRETKEY": TEST_SECRET_KEY,
                "JOBWATCH_STORE": f"file:{store}",
                "JOBWATCH_NOTIFY_ON": "all",
                "JOBWATCH_LOG_LEVEL": "ERROR",  # the flaky bucket's outage is in the summary, not a line a sweep
                "JOBWATCH_WEBHOOK_URL": receiver.url,
                "JOBWATCH_WEBHOOK_SECRET": secret,
                "JOBWATCH_CALLBACK_ALLOW_NETS": "127.0.0.1/32",  # the local receiver; never set in production
                "JOBWATCH_FAILING_MIN": "10",
                "JOBWATCH_RETRY": "true",
                "JOBWATCH_COS_ENDPOINT": s3.url,
            }
        )
        import index  # after the environment is set: the function reads it once

        console.print(f"CI emulator on {emulator.url}: {len(made)} jobs in "
                      f"{', '.join(f'{b}@{r}' for b, r in BUCKETS)}; store file:{store}")  # fmt: skip
        console.print(f"{FLAKY} answers 503 from the second sweep to the fourth: the others go on")
        console.print(f"webhook receiver on {receiver.url} (verifies every delivery with standardwebhooks)")
        console.print(f"batch {doomed.job_id[:10]}… fails three objects in four: watch for ci.batchjob.failing")
        ids = [j.job_id for j in sorted(made, key=lambda j: (j.type, j.name))]
        totals: Counter[str] = Counter()
        kinds: Counter[str] = Counter()
        sweeps = 0
        cancelled = False
        troubled: Counter[str] = Counter()
        started = time.monotonic()
        with Live(table(store, ids, 0, totals), console=console, refresh_per_second=4) as live:
            while time.monotonic() - started < args.timeout:
                if sweeps in (1, 4):  # the flaky bucket's outage starts before the second sweep, ends after the fourth
                    emulator.bucket_faults[FLAKY] = "503" if sweeps == 1 else ""
                event = {
                    "Type": "Timer",
                    "TriggerName": "demo",
                    "Time": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "Message": "",
                }
                result: dict[str, Any] = index.main_handler(
                    event, {"request_id": f"demo-{sweeps}", "time_limit_in_ms": 30_000}
                )
                sweeps += 1
                for key, line in (result.get("targets") or {}).items():
                    if line.get("ok") is False:
                        troubled[key] += 1
                failing = [e for e in result.get("errors") or [] if not e.startswith(FLAKY)]
                if result.get("error") or failing:
                    console.print(f"[red]sweep failed:[/] {result.get('error') or failing}")
                totals["events"] += result.get("eventsEmitted", 0)
                totals["transitions"] += result.get("transitions", 0)
                totals["ci"] += result.get("ciRequests", {}).get("total", 0)
                totals["delivered"] += result.get("deliveries", {}).get("ok", 0)
                for event_id in result.get("eventIds", []):
                    doc = json.loads((store / "events" / f"{event_id}.json").read_text())
                    kinds[doc["type"]] += 1
                    if doc["type"] == "ci.batchjob.failing":
                        warned = _warning(doc, doomed.state_at(emulator.clock())[0])
                        console.print(warned)
                if not cancelled and sweeps == 3:
                    # Show a cancellation too: the first job still active is cancelled through CI's API.
                    active = [j for j in made if j.state_at(emulator.clock())[0] in ("Submitted", "Running")
                              and j is not doomed]  # fmt: skip
                    if active:
                        next(b for b in books.values() if b.get(active[0].job_id)).cancel(active[0].job_id)
                    cancelled = True
                live.update(table(store, ids, sweeps, totals))
                if sweeps > 1 and result.get("activeJobs") == 0 and not result.get("objects", {}).get("batches"):
                    break  # every batch has ended in CI and every object with it
                time.sleep(args.every)
        retried = _retry(console, index, books, doomed.job_id, args, store, kinds)
        if retried:
            ids.append(retried)

    console.print()
    console.print(
        f"[bold]Summary[/]: {sweeps} sweeps in {time.monotonic() - started:.0f} s, "
        f"{totals['transitions']} transitions recorded, {totals['events']} events, {totals['ci']} CI requests"
    )
    console.print(f"  {'event type':32} {'created':>8} {'received':>9}")
    for kind in sorted(set(kinds) | set(receiver.by_type)):
        console.print(f"  {kind:32} {kinds[kind]:>8} {receiver.by_type[kind]:>9}")
    console.print(
        f"  webhooks verified: {sum(receiver.by_type.values())}, duplicates: {receiver.duplicates}, "
        f"rejected signatures: {receiver.rejected}"
    )
    records = [json.loads(p.read_text()) for p in (store / "jobs").glob("*.json")]
    states = Counter(r.get("state") for r in records)
    console.print(f"  final states: {dict(states)}")
    per_bucket = Counter(f"{r.get('bucket')}@{r.get('region')}" for r in records)
    for key, count in sorted(per_bucket.items()):
        note = (
            f", failing in {troubled[key]} sweeps (named in the summary's targets), then caught up"
            if troubled[key]
            else ""
        )
        console.print(f"  {key}: {count} jobs{note}")
    console.print("Completion reports (one CSV row per object; failed rows first-class):")
    reported = 0
    for job_id in ids:
        manifest_path = store / "reports" / job_id / "manifest.json"
        if not manifest_path.exists():
            continue
        reported += 1
        manifest = json.loads(manifest_path.read_text())
        counts = manifest["objects"]
        failed_rows = [r for part in manifest["parts"] for r in _rows(store / part["key"]) if r["state"] != "Success"]
        console.print(
            f"  {manifest_path.relative_to(store.parent)}: {counts['total']} objects, {counts['succeeded']} "
            f"succeeded, {counts['failed']} failed, {counts['cancelled']} cancelled"
        )
        for row in failed_rows[:3]:
            console.print(f"    [red]{row['state']}[/] {row['object']}: {row['code']} {row['message']}")
        if len(failed_rows) > 3:
            console.print(f"    … and {len(failed_rows) - 3} more failed rows")
    console.print(f"Store: {store}/jobs/*.json, events/*.json, reports/<jobId>/, sweeps/ (readable JSON and CSV)")
    unfinished = sum(n for s, n in states.items() if s not in ("Success", "Failed", "Cancel"))
    unfinished += len(ids) - reported  # a batch is finished only once its report is written
    undelivered = sum(kinds.values()) - sum(receiver.by_type.values())
    return 1 if unfinished or undelivered or receiver.duplicates or receiver.rejected else 0


def _warning(event: dict[str, Any], batch_state: str) -> str:
    """The failing event, as the demo shows it when it arrives."""
    data = event["payload"]["data"]
    counts = data["objects"]
    ended = counts["succeeded"] + counts["failed"] + counts["cancelled"]
    codes = ", ".join(f"{c['code']} × {c['count']}" for c in data["failureCodes"])
    return (
        f"[yellow]⚠ ci.batchjob.failing[/] {data['jobId'][:10]}… (CI says {batch_state}): {counts['failed']} of "
        f"{ended} ended objects failed; most often {codes}"
    )


def _retry(console: Console, index: Any, books: dict[str, Any], job_id: str, args: argparse.Namespace, store: Path,
           kinds: Counter[str]) -> str | None:  # fmt: skip
    """Retry the failing batch's failed objects once it is finished, and follow the new batch to its end."""
    console.print()
    answer = index.main_handler({"action": "retry", "jobId": job_id}, {"request_id": "demo-retry"})
    if not answer.get("ok"):
        console.print(f"[red]retry refused:[/] {answer.get('error')}")
        return None
    new_id = str(answer["jobId"])
    kinds["ci.batchjob.retried"] += 1
    console.print(f"Retried {answer['objects']} failed objects of {job_id[:10]}… as batch {new_id[:10]}… "
                  f"(list {answer['list']} in the watched bucket)")  # fmt: skip
    made = next(book.get(new_id) for book in books.values() if book.get(new_id))
    made.running_for, made.object_duration = 3.0, tuple(args.object_duration)  # the demo's pace, not CI's
    started = time.monotonic()
    while time.monotonic() - started < args.timeout:
        result = index.main_handler({"Type": "Timer", "TriggerName": "demo", "Message": ""},
                                    {"request_id": "demo-retry-sweep", "time_limit_in_ms": 30_000})  # fmt: skip
        for event_id in result.get("eventIds", []):
            kinds[json.loads((store / "events" / f"{event_id}.json").read_text())["type"]] += 1
        if (store / "reports" / new_id / "manifest.json").exists():
            record = json.loads((store / "jobs" / f"{new_id}.json").read_text())
            objects = record.get("objects") or {}
            console.print(f"  the retry batch finished {record['state']}: {objects.get('succeeded')} of "
                          f"{objects.get('total')} objects succeeded this time")  # fmt: skip
            return new_id
        time.sleep(args.every)
    return new_id


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


if __name__ == "__main__":
    sys.exit(main())
