"""One deployment, many buckets, over real HTTP: three buckets in two regions behind one emulator port, listed or
discovered; each job's record, index line and events carry its own bucket and region; one failing bucket is named
and stops nothing else; a store the one-bucket form wrote goes on after the switch, nothing sent twice or lost."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from devkit.ciemu import CIEmulator
from jobwatch.config import Settings
from jobwatch.entry import Ports, handle
from jobwatch.notify.guard import AddressGuard
from jobwatch.notify.outbox import Dispatcher
from jobwatch.notify.webhook import WebhookSender
from jobwatch.overview import ROOTS
from jobwatch.records import Records
from jobwatch.store import FileStore, ObjectStore
from jobwatch.targets import Target
from tests.functional.apitools import TOKEN, call
from tests.functional.conftest import CREDENTIALS
from tests.functional.test_delivery import CONTEXT, LOCAL, SECRET, TIMER, Receiver

if TYPE_CHECKING:
    from pytest_httpserver import HTTPServer

A = Target("alpha-1250000000", "ap-guangzhou")
B = Target("beta-1250000000", "ap-guangzhou")
C = Target("gamma-1250000000", "ap-shanghai")


def ports_for(emulator: CIEmulator, store: ObjectStore, webhook: str, **env: str) -> Ports:
    """Ports over the emulator's one address; ``env`` names the buckets (either form)."""
    settings = Settings.from_env({
        "JOBWATCH_CI_ENDPOINT": emulator.url, "TENCENTCLOUD_SECRETID": CREDENTIALS.secret_id,
        "TENCENTCLOUD_SECRETKEY": CREDENTIALS.secret_key, "JOBWATCH_WEBHOOK_SECRET": SECRET,
        "JOBWATCH_WEBHOOK_URL": webhook, "JOBWATCH_CALLBACK_ALLOW_NETS": "127.0.0.0/8", **env,
    })  # fmt: skip
    clock: Callable[[], datetime] = lambda: datetime.fromtimestamp(emulator.clock(), timezone.utc)  # noqa: E731
    records = Records(store)
    guard = AddressGuard(LOCAL)
    notifier = Dispatcher(records, settings.webhook_secrets, webhooks=WebhookSender(guard), now=clock,
                          rng=lambda: 0.5)  # fmt: skip

    def one_bucket() -> Any:
        from jobwatch.ci import CIClient

        return CIClient.from_settings(settings, sleep=lambda s: None)

    ports = Ports(settings, records, one_bucket, notifier=notifier, clock=clock, guard=guard)
    ports.ci_options = {"sleep": lambda s: None}  # retries without waiting: the emulator's clock is the tests'
    return ports


def sweep(ports: Ports) -> dict[str, Any]:
    result = handle(TIMER, CONTEXT, ports=ports)
    assert "sweepId" in result, result
    return result


def three_buckets(emulator: CIEmulator) -> dict[Target, set[str]]:
    """Jobs in three buckets of two regions, all ending within a minute."""
    return {t: {j.job_id for j in emulator.add_bucket(t.bucket, t.region).preload(2 + i, seed=80 + i, duration=(20, 40))}
            for i, t in enumerate((A, B, C))}  # fmt: skip


def terminal_bodies(receiver: Receiver) -> dict[str, dict[str, Any]]:
    """Each delivered terminal event's body, by job ID."""
    return {r["payload"]["data"]["jobId"]: r["payload"] for r in receiver.requests
            if r["payload"]["type"] in ("ci.batchjob.succeeded", "ci.batchjob.failed", "ci.batchjob.cancelled")}  # fmt: skip


def run_to_the_end(emulator: CIEmulator, ports: Ports, sweeps: int = 4) -> list[dict[str, Any]]:
    summaries = [sweep(ports)]
    for _ in range(sweeps):
        emulator.clock.advance(30)
        summaries.append(sweep(ports))
    return summaries


def test_listed_buckets_each_job_in_its_own(emulator: CIEmulator, store: ObjectStore, httpserver: HTTPServer) -> None:
    """Listed buckets: every job ends with one event carrying its bucket and region, as do records and index lines."""
    made = three_buckets(emulator)
    receiver = Receiver(httpserver)
    ports = ports_for(emulator, store, receiver.url, JOBWATCH_CI_BUCKETS=" ".join(t.key for t in made))
    summaries = run_to_the_end(emulator, ports)
    assert set(summaries[0]["targets"]) == {t.key for t in made}
    assert all(line["ok"] for line in summaries[0]["targets"].values())
    bodies = terminal_bodies(receiver)
    assert Counter(receiver.ids()).most_common(1)[0][1] == 1
    for target, ids in made.items():
        assert set(bodies) >= ids
        for job_id in ids:
            assert (bodies[job_id]["data"]["bucket"], bodies[job_id]["data"]["region"]) == (
                target.bucket,
                target.region,
            )
            record = ports.records.job(job_id)
            assert record is not None and (record["bucket"], record["region"]) == (target.bucket, target.region)
    root = ports.records.load(ROOTS["jobs"])
    assert root is not None
    lines = root["head"]["lines"]
    assert {lines[i]["bucket"] for i in made[C]} == {C.bucket} and {lines[i]["region"] for i in made[C]} == {C.region}
    assert not emulator.auth_failures


def test_discovered_buckets(emulator: CIEmulator, store: ObjectStore, httpserver: HTTPServer) -> None:
    """discover: finds the buckets of both regions through GET /mediabucket, once per ten minutes, and sweeps them;
    a bucket that leaves the listing is no longer swept and its records stay readable."""
    made = three_buckets(emulator)
    receiver = Receiver(httpserver)
    ports = ports_for(emulator, store, receiver.url, JOBWATCH_CI_BUCKETS="discover:ap-guangzhou,ap-shanghai",
                      JOBWATCH_API_TOKEN=TOKEN)  # fmt: skip
    summaries = run_to_the_end(emulator, ports)
    assert set(summaries[0]["targets"]) == {t.key for t in made}
    assert emulator.served["list_buckets"] == 2  # two regions, discovered once within ten minutes
    assert set(terminal_bodies(receiver)) == set().union(*made.values())
    del emulator.buckets[C.host]  # media processing turned off for one bucket
    emulator.clock.advance(601)
    later = sweep(ports)
    assert emulator.served["list_buckets"] == 4 and set(later["targets"]) == {A.key, B.key}
    assert later["ok"], later["errors"]  # a bucket no longer listed is no longer swept, not an error
    kept = {j["jobId"] for j in call(ports, "GET", "/jobs", query={"bucket": C.bucket, "limit": "100"})[1]["jobs"]}
    assert kept == made[C]  # its records stay readable


@pytest.mark.parametrize("fault", ["AccessDenied", "503", "429"])
def test_a_failing_bucket_stops_only_itself(
    emulator: CIEmulator, store: ObjectStore, httpserver: HTTPServer, fault: str
) -> None:
    """While one bucket refuses every request (no permission, an outage, throttling), the sweep names it and the
    others' events go out once; when it recovers, its jobs' events go out once too."""
    made = three_buckets(emulator)
    receiver = Receiver(httpserver)
    ports = ports_for(emulator, store, receiver.url, JOBWATCH_CI_BUCKETS=",".join(t.key for t in made))
    sweep(ports)
    emulator.bucket_faults[B.bucket] = fault
    emulator.clock.advance(60)
    failing = sweep(ports)
    code = {"AccessDenied": "AccessDenied", "503": "ServiceUnavailable", "429": "SlowDown"}[fault]
    assert failing["targets"][B.key]["ok"] is False and code in failing["targets"][B.key]["error"]
    assert failing["targets"][A.key]["ok"] and failing["targets"][C.key]["ok"]
    assert any(e.startswith(B.key) for e in failing["errors"])
    emulator.clock.advance(30)
    sweep(ports)
    assert set(terminal_bodies(receiver)) == made[A] | made[C]
    del emulator.bucket_faults[B.bucket]
    emulator.clock.advance(30)
    healed = sweep(ports)
    assert healed["targets"][B.key]["ok"]
    assert set(terminal_bodies(receiver)) == set().union(*made.values())
    assert max(receiver.ids().values()) == 1


def test_switch_from_one_bucket(emulator: CIEmulator, store: ObjectStore, httpserver: HTTPServer) -> None:
    """A store the one-bucket form wrote, switched to a list holding its bucket: its jobs that ended in between are
    told once, none twice, and the history goes on; the bucket added takes its first look without telling."""
    made = three_buckets(emulator)
    receiver = Receiver(httpserver)
    one = ports_for(emulator, store, receiver.url, JOBWATCH_CI_BUCKET=A.bucket, JOBWATCH_CI_REGION=A.region)
    sweep(one)
    emulator.clock.advance(25)
    sweep(one)
    told_before = set(terminal_bodies(receiver))
    assert told_before < made[A]  # some of A's jobs ended under the one-bucket form, not all
    emulator.clock.advance(60)  # the rest end between the two forms
    many = ports_for(emulator, store, receiver.url, JOBWATCH_CI_BUCKETS=f"{A.key},{C.key}")
    run_to_the_end(emulator, many, 2)
    bodies = terminal_bodies(receiver)
    assert set(bodies) == made[A]  # C's jobs had ended before its first sweep, which takes a new bucket as it is
    assert max(receiver.ids().values()) == 1 and len(receiver.requests) == len(receiver.ids())
    for job_id in made[A]:
        record = many.records.job(job_id)
        assert record is not None and record["history"][0]["state"] in ("Submitted", "Running")


def test_api_by_bucket(emulator: CIEmulator, store: ObjectStore, httpserver: HTTPServer) -> None:
    """GET /jobs filters by bucket and region; live reads and watches find a recorded job's bucket from its record,
    take bucket for a job not seen yet, and answer 400 naming the choices when it is ambiguous."""
    made = three_buckets(emulator)
    receiver = Receiver(httpserver)
    keys = ",".join(t.key for t in made)
    ports = ports_for(emulator, store, receiver.url, JOBWATCH_CI_BUCKETS=keys, JOBWATCH_API_TOKEN=TOKEN)
    sweep(ports)
    for target, ids in made.items():
        status, page, _ = call(ports, "GET", "/jobs", query={"bucket": target.bucket, "limit": "100"})
        assert status == 200 and {j["jobId"] for j in page["jobs"]} == ids
    _, shanghai, _ = call(ports, "GET", "/jobs", query={"region": "ap-shanghai", "limit": "100"})
    assert {j["jobId"] for j in shanghai["jobs"]} == made[C]
    assert call(ports, "GET", "/jobs", query={"bucket": "../x"})[0] == 400
    one_of_each = [sorted(ids)[0] for ids in made.values()]
    status, live, _ = call(ports, "GET", f"/jobs/{','.join(one_of_each)}")
    assert status == 200 and {(j["jobId"], j["bucket"]) for j in live["jobs"]} == {
        (sorted(ids)[0], t.bucket) for t, ids in made.items()
    }
    (later,) = emulator.add_bucket("delta-1250000000", "ap-shanghai").preload(1, seed=90)
    emulator.buckets[C.host][2].add(later)  # a job C has, no sweep has seen yet
    status, error, _ = call(ports, "GET", f"/jobs/{later.job_id}")
    assert status == 400 and all(t.key in error["error"]["message"] for t in made)
    status, live, _ = call(ports, "GET", f"/jobs/{later.job_id}", query={"bucket": C.bucket})
    assert status == 200 and live["jobs"][0]["jobId"] == later.job_id and live["jobs"][0]["region"] == C.region
    status, other, _ = call(ports, "GET", f"/jobs/{later.job_id}", query={"bucket": "delta-1250000000"})
    assert status == 400 and "not a watched bucket" in other["error"]["message"]
    status, watch, _ = call(ports, "POST", "/watches", body=json.dumps({"jobId": later.job_id, "bucket": C.bucket}))
    assert status in (200, 201) and (watch["watch"]["bucket"], watch["watch"]["region"]) == (C.bucket, C.region)
    described = handle({"action": "describe", "jobIds": [later.job_id], "bucket": C.bucket}, CONTEXT, ports=ports)
    assert described["ok"] and described["jobs"][0]["bucket"] == C.bucket


def test_work_action_runs_a_shard(emulator: CIEmulator, store: ObjectStore, httpserver: HTTPServer) -> None:
    """The sample work event runs its shard's bucket (its result left for the next sweep); a shard naming a bucket
    not watched, or a malformed one, is refused and runs nothing."""
    from tests.conftest import load_event

    media = Target("media-1250000000", "ap-guangzhou")
    (job,) = emulator.add_bucket(media.bucket, media.region).preload(1, seed=91, duration=(100, 200))
    receiver = Receiver(httpserver)
    ports = ports_for(emulator, store, receiver.url, JOBWATCH_CI_BUCKETS=f"{media.key},{C.key}")
    event = load_event("invoke-work.json")
    result = handle(event, CONTEXT, ports=ports)
    assert result["ok"] and result["shard"] == event["shard"]["id"] and set(result["targets"]) == {media.key}
    assert ports.records.job(job.job_id) is not None and list(store.list("sweeps/shards/"))
    assert ports.records.target_state(C.key) is None  # not this shard's
    summary = sweep(ports)
    assert summary["fanout"]["gathered"] == 1 and not list(store.list("sweeps/shards/"))
    forged = {"action": "work", "shard": {**event["shard"], "targets": ["other-1250000000@ap-guangzhou"]}}
    refused = handle(forged, CONTEXT, ports=ports)
    assert not refused["ok"] and "not watched" in refused["error"]["message"]
    assert not handle({"action": "work", "shard": {"id": "../x"}}, CONTEXT, ports=ports)["ok"]


def test_one_invocation_reaches_every_bucket_in_turn(
    emulator: CIEmulator, tmp_path: Path, httpserver: HTTPServer
) -> None:
    """Without fan-out and with time for two rounds of looks but three rounds of buckets, sweeps take the buckets
    whose last look was cut short or is oldest first: within a few sweeps every bucket has had a complete look."""
    buckets = [Target(f"slow{n:02d}-1250000000", "ap-guangzhou") for n in range(24)]
    for n, target in enumerate(buckets):
        emulator.add_bucket(target.bucket, target.region).preload(1, seed=120 + n, duration=(10_000, 20_000))
    emulator.faults.latency = 1.0
    ports = ports_for(emulator, FileStore(tmp_path / "store"), Receiver(httpserver).url,
                      JOBWATCH_CI_BUCKETS=",".join(t.key for t in buckets), JOBWATCH_FANOUT="off",
                      JOBWATCH_TRACK_OBJECTS="false")  # fmt: skip
    complete: set[str] = set()
    for _ in range(4):
        result = handle(TIMER, {"request_id": "turns", "time_limit_in_ms": 2500}, ports=ports)
        state = {t.key: ports.records.target_state(t.key) or {} for t in buckets}
        complete |= {key for key, doc in state.items() if doc.get("complete")}
        emulator.clock.advance(30)
    assert complete == {t.key for t in buckets}, result.get("targets")
