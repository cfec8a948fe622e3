"""``make bench-page``: store reads and time per status-page view, with and without the sweeps' index documents,
on moto's S3 server holding 10,000 job records and 50,000 events (COS is reached through the same S3 API).

A page view is what the jobs view asks for: ``GET /jobs?limit=50`` (the newest jobs, counts by state) and
``GET /events?status=failed&limit=50`` (dead letters, counts by status). Reads are store calls (GET and LIST).
"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

from devkit.counting import CountingStore
from devkit.localserver import Serving
from jobwatch.config import Credentials, Settings
from jobwatch.deadline import Deadline
from jobwatch.entry import Ports, handle
from jobwatch.overview import Overview
from jobwatch.records import Records, dumps
from jobwatch.store.s3 import S3Store

STATES = ("Success",) * 6 + ("Failed", "Cancel", "Running", "Submitted")


def moto() -> str:
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, DomainDispatcherApplication(create_backend_app), True,
                         request_handler=MotoRequestHandler)  # fmt: skip
    return Serving(server).start().url


def populate(store: S3Store, jobs: int, events: int) -> None:
    rng = random.Random(5)
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    ids = ["b" + uuid.UUID(int=rng.getrandbits(128)).hex for _ in range(jobs)]

    def job(i: int) -> None:
        created = start + timedelta(seconds=i * 60)
        state = rng.choice(STATES)
        ended = (created + timedelta(minutes=30)).isoformat() if state in ("Success", "Failed", "Cancel") else None
        at = created.isoformat()
        record = {
            "jobId": ids[i], "type": rng.choice(("Workflow", "Job")), "name": f"batch-{i:05d}", "state": state,
            "code": "Success", "message": "", "creationTime": at, "endTime": ended,
            "startTime": (created + timedelta(seconds=5)).isoformat(), "raw": "<JobsDetail/>" * 20,
            "input": {"Prefix": f"input/{i}/"}, "operation": {"WorkflowIds": "w1"},
            "history": [{"state": "Submitted", "at": at}, {"state": state, "at": at}],
            "objects": {"seen": 300, "succeeded": 290, "failed": 10, "cancelled": 0, "active": 0, "total": 300},
        }  # fmt: skip
        store.put(f"jobs/{ids[i]}.json", dumps(record))

    def event(i: int) -> None:
        roll = i % 100
        status = "failed" if roll == 0 else "pending" if roll == 1 else "delivered"
        job_id = ids[i % jobs]
        doc = {"id": f"evt-{job_id}-{i:06d}", "type": "ci.batchjob.succeeded", "jobId": job_id, "state": "Success",
               "createdAt": (start + timedelta(seconds=i * 10)).isoformat(), "status": status, "round": 8,
               "payload": {"type": "ci.batchjob.succeeded", "data": {"jobId": job_id}}, "nextAttemptAt": None,
               "targets": {"wh-0123456789abcdef": {"kind": "webhook", "url": "https://hooks.example.com/x",
                                                   "status": status, "attempts": 8}},
               "attempts": [{"target": "wh-0123456789abcdef", "at": start.isoformat(), "status": 500,
                             "error": "HTTP 500"}] * 8}  # fmt: skip
        store.put(f"events/{doc['id']}.json", dumps(doc))

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(job, range(jobs)))
        list(pool.map(event, range(events)))


def view(ports: Ports, counting: CountingStore) -> tuple[int, float, dict[str, Any]]:
    """The status page's first view, as its script asks for it: the newest jobs, and the events' counts."""
    counting.calls.clear()
    started = time.perf_counter()
    jobs = handle({"httpMethod": "GET", "path": "/jobs", "headers": {"authorization": "Bearer t"},
                   "queryString": {"limit": "50"}}, {}, ports=ports)  # fmt: skip
    dead = handle({"httpMethod": "GET", "path": "/events", "headers": {"authorization": "Bearer t"},
                   "queryString": {"status": "failed", "limit": "1"}}, {}, ports=ports)  # fmt: skip
    elapsed = time.perf_counter() - started
    assert jobs["statusCode"] == 200 and dead["statusCode"] == 200, (jobs, dead)
    return counting.calls["get"] + counting.calls["list"], elapsed, {"jobs": jobs, "dead": dead}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=50_000)
    args = parser.parse_args()
    import boto3

    endpoint = moto()
    bucket = f"page-{uuid.uuid4().hex[:10]}"
    keys = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}  # moto's; nothing leaves 127.0.0.1
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **keys).create_bucket(Bucket=bucket)
    store = S3Store(bucket, "watch", endpoint_url=endpoint, region="us-east-1", credentials=Credentials("test", "test"))
    t0 = time.perf_counter()
    populate(store, args.jobs, args.events)
    print(f"moto S3 server: {args.jobs:,} job records and {args.events:,} events written in "
          f"{time.perf_counter() - t0:.0f} s")  # fmt: skip
    counting = CountingStore(store)
    ports = Ports(Settings.from_env({"JOBWATCH_API_TOKEN": "t", "JOBWATCH_CI_ENDPOINT": "http://127.0.0.1:9"}),
                  Records(counting), lambda: None)  # type: ignore[arg-type,return-value]  # fmt: skip
    slow_reads, slow_s, _ = view(ports, counting)
    t0 = time.perf_counter()
    overview = Overview(Records(store))
    while overview.root("jobs") is None or overview.root("events") is None:  # rebuilt a slice a sweep
        overview.fold([], [], [], Deadline.after(3600), datetime.now(timezone.utc))
    rebuild_s = time.perf_counter() - t0
    fast_reads, fast_s, answers = view(ports, counting)
    body = answers["jobs"]["body"]
    print(f"{'page view':24} {'store reads':>12} {'seconds':>9}")
    print(f"{'records only (no index)':24} {slow_reads:>12} {slow_s:>9.3f}   (50 jobs of any order, no counts)")
    print(f"{'with the index':24} {fast_reads:>12} {fast_s:>9.3f}   (newest 50 of all, counts of all)")
    print(f"ratio: {slow_reads / fast_reads:.0f}x fewer reads, {slow_s / fast_s:.1f}x less time; the one-off rebuild "
          f"of both indexes took {rebuild_s:.0f} s; jobs answer {len(body) / 1e3:.0f} KB")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
