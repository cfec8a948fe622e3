"""Retrying a finished batch's failed objects over real HTTP: the API through main_handler, the CI emulator, and the
watched bucket on moto's S3 server. The list holds exactly the failed objects of the emulator's truth (keys with
spaces, quotes, commas and UTF-8 included), the new batch has the original's type and operation, the same request
creates one batch, a running batch or retries turned off are refused, and the retried batch is followed to its end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from devkit.ciemu import CIEmulator, EmulatedJob
from jobwatch.entry import Ports, handle
from jobwatch.store import FileStore
from tests.functional.apitools import TOKEN, call
from tests.functional.conftest import CREDENTIALS, WATCHED_BUCKET
from tests.functional.test_failing import events_of
from tests.functional.test_objects import batch, make_ports, sweep, truth

BUCKET = WATCHED_BUCKET
KEYS = [f"in put/视频 {n:02d}, \"take\" 'b'.mp4" if n % 3 else f"plain/clip-{n:02d}.mp4" for n in range(30)]


def ports_for(emulator: CIEmulator, tmp_path: Path, moto_endpoint: str, **env: str) -> Ports:
    emulator.options.cos_endpoint = moto_endpoint
    return make_ports(emulator, FileStore(tmp_path / "store"), JOBWATCH_COS_ENDPOINT=moto_endpoint,
                      JOBWATCH_API_TOKEN=TOKEN, TENCENTCLOUD_SECRETID=CREDENTIALS.secret_id,
                      TENCENTCLOUD_SECRETKEY=CREDENTIALS.secret_key, **env)  # fmt: skip


def finished_batch(emulator: CIEmulator, ports: Ports, kind: str = "Job", **operation: str) -> EmulatedJob:
    """A batch of 30 objects with awkward keys, a third of them failing (``operation`` added to its Operation),
    swept until its report exists."""
    job = batch(emulator, kind, objects=len(KEYS), failure_ratio=0.35)
    job.keys = list(KEYS)
    job.operation.update(operation)
    for _ in range(30):
        emulator.clock.advance(10)
        sweep(ports)
        if ports.records.manifest(job.job_id):
            return job
    raise AssertionError("the batch never finished")


@pytest.mark.parametrize("kind", ["Job", "Workflow"])
def test_retry_lists_exactly_the_failed_objects(
    emulator: CIEmulator, tmp_path: Path, moto_endpoint: str, watched: Any, kind: str
) -> None:
    """The list in the watched bucket names each failed object once, decoded back to its key; the new batch has the
    original's type and operation and is named <name>-retry-1; one ci.batchjob.retried event."""
    ports = ports_for(emulator, tmp_path, moto_endpoint, JOBWATCH_RETRY="true")
    job = finished_batch(emulator, ports, kind)
    failed = sorted(c.object for c in truth(emulator, job) if c.state == "Failed")
    assert failed and any("视频" in key for key in failed + KEYS)
    status, answer, _ = call(ports, "POST", f"/jobs/{job.job_id}/retry", body="{}")
    assert status == 201 and answer["objects"] == len(failed)
    listed = watched.get_object(Bucket=BUCKET, Key=answer["list"])["Body"].read().decode()
    urls = listed.splitlines()
    assert all(u.startswith(f"https://{BUCKET}.cos.ap-guangzhou.myqcloud.com/") for u in urls)
    assert sorted(unquote(urlsplit(u).path.lstrip("/")) for u in urls) == failed
    created = emulator.book.get(answer["jobId"])
    assert created is not None and created.type == job.type and created.operation == job.operation
    assert created.name == f"{job.name}-retry-1" and sorted(created.keys or []) == failed
    assert created.input == {"UrlFile": f"https://{BUCKET}.cos.ap-guangzhou.myqcloud.com/{answer['list']}"}
    (event,) = events_of(ports, job.job_id, "ci.batchjob.retried")
    assert event["payload"]["data"]["retryJobId"] == answer["jobId"]
    assert event["payload"]["data"]["objects"] == len(failed)


def retried(ports: Ports, emulator: CIEmulator, job: EmulatedJob) -> EmulatedJob:
    """The batch a retry of ``job``'s failed objects created."""
    status, answer, _ = call(ports, "POST", f"/jobs/{job.job_id}/retry", body="{}")
    created = emulator.book.get(answer["jobId"]) if status == 201 else None
    assert created is not None, answer
    return created


@pytest.mark.parametrize("forgotten", [False, True])
def test_retry_has_the_originals_operation_as_ci_has_it(
    emulator: CIEmulator, tmp_path: Path, moto_endpoint: str, watched: Any, forgotten: bool
) -> None:
    """The record's Operation has its callback token redacted; the retry is created with CI's copy, token kept, or,
    once CI no longer knows the original, with the record's."""
    ports = ports_for(emulator, tmp_path, moto_endpoint, JOBWATCH_RETRY="true")
    job = finished_batch(emulator, ports, CallBack="https://fn.example/ci-callback?token=s3cret")
    stored = ports.records.job(job.job_id)["operation"]  # type: ignore[index]
    assert stored == {**job.operation, "CallBack": "https://fn.example/ci-callback"}
    if forgotten:
        del emulator.book.jobs[job.job_id]
    assert retried(ports, emulator, job).operation == (stored if forgotten else job.operation)


def test_same_request_twice_creates_one_batch(
    emulator: CIEmulator, tmp_path: Path, moto_endpoint: str, watched: Any
) -> None:
    """The same request again answers 200 with the batch it made; a dry run with codes counts those alone."""
    ports = ports_for(emulator, tmp_path, moto_endpoint, JOBWATCH_RETRY="true")
    job = finished_batch(emulator, ports)
    before = len(emulator.book.all())
    first = call(ports, "POST", f"/jobs/{job.job_id}/retry", body="{}")
    again = call(ports, "POST", f"/jobs/{job.job_id}/retry", body="{}")
    assert (first[0], again[0]) == (201, 200) and again[1]["jobId"] == first[1]["jobId"]
    assert len(emulator.book.all()) == before + 1
    code = truth(emulator, job)[0].code or next(c.code for c in truth(emulator, job) if c.state == "Failed")
    expected = sum(1 for c in truth(emulator, job) if c.state == "Failed" and c.code == code)
    status, dry, _ = call(ports, "POST", f"/jobs/{job.job_id}/retry", body=json.dumps({"codes": [code],
                                                                                     "dryRun": True}))  # fmt: skip
    assert status == 200 and dry["objects"] == expected and all(r["code"] == code for r in dry["rows"])
    assert len(emulator.book.all()) == before + 1  # a dry run creates nothing


def test_refused_while_running_when_off_and_when_nothing_failed(
    emulator: CIEmulator, tmp_path: Path, moto_endpoint: str, watched: Any
) -> None:
    """409 while the batch runs and when nothing failed; 403 with retries off; nothing is created."""
    ports = ports_for(emulator, tmp_path, moto_endpoint, JOBWATCH_RETRY="true")
    (running,) = emulator.book.preload(1, seed=40, duration=(5000, 6000), objects=5)
    sweep(ports)
    refused = call(ports, "POST", f"/jobs/{running.job_id}/retry", body="{}")
    assert refused[0] == 409, refused[1]
    healthy = batch(emulator, "Job", objects=10, failure_ratio=0.0, seed=41)
    for _ in range(20):
        emulator.clock.advance(10)
        sweep(ports)
    assert ports.records.manifest(healthy.job_id) is not None
    assert call(ports, "POST", f"/jobs/{healthy.job_id}/retry", body="{}")[0] == 409
    off = ports_for(emulator, tmp_path, moto_endpoint)
    status, error, _ = call(off, "POST", f"/jobs/{healthy.job_id}/retry", body="{}")
    assert status == 403 and "JOBWATCH_RETRY" in error["error"]["message"]
    left = [item["Key"] for item in watched.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    assert not left, (left, running.job_id, healthy.job_id)


def test_retried_batch_is_followed_to_its_end(
    emulator: CIEmulator, tmp_path: Path, moto_endpoint: str, watched: Any
) -> None:
    """The invoke action makes the retry; the new batch is recorded as a retry of the original, watched with its
    watch, and swept to its own terminal event."""
    ports = ports_for(emulator, tmp_path, moto_endpoint, JOBWATCH_RETRY="true")
    job = finished_batch(emulator, ports)
    answer = handle({"action": "retry", "jobId": job.job_id}, {"request_id": "r"}, ports=ports)
    assert answer["ok"] and answer["created"]
    new_id = answer["jobId"]
    assert ports.records.job(new_id)["retryOf"] == job.job_id  # type: ignore[index]
    assert ports.records.job(job.job_id)["retries"][0]["jobIds"] == [new_id]  # type: ignore[index]
    for _ in range(40):
        emulator.clock.advance(10)
        sweep(ports)
        if events_of(ports, new_id, "ci.batchjob.succeeded", "ci.batchjob.failed"):
            break
    record = ports.records.job(new_id)
    assert record is not None and record["objects"]["total"] == answer["objects"]
    assert events_of(ports, new_id, "ci.batchjob.succeeded", "ci.batchjob.failed")


def test_sample_retry_event_is_a_dry_run(
    emulator: CIEmulator, tmp_path: Path, moto_endpoint: str, watched: Any
) -> None:
    """events/invoke-retry.json, pointed at a finished batch, answers how many objects a retry would take and
    makes nothing."""
    from tests.conftest import load_event

    ports = ports_for(emulator, tmp_path, moto_endpoint, JOBWATCH_RETRY="true")
    job = finished_batch(emulator, ports)
    before = len(emulator.book.all())
    answer = handle({**load_event("invoke-retry.json"), "jobId": job.job_id}, {"request_id": "r"}, ports=ports)
    assert answer["ok"] and answer["dryRun"] and answer["objects"] == ports.records.job(job.job_id)["objects"]["failed"]  # type: ignore[index]
    assert len(emulator.book.all()) == before and not watched.list_objects_v2(Bucket=BUCKET).get("Contents")


def test_a_long_list_is_split(
    emulator: CIEmulator, tmp_path: Path, moto_endpoint: str, watched: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the rows one list holds, the failed objects go to several lists and batches, each named in the answer,
    every failed object in exactly one of them."""
    from jobwatch import retries

    monkeypatch.setattr(retries, "LIST_ROWS", 4)
    ports = ports_for(emulator, tmp_path, moto_endpoint, JOBWATCH_RETRY="true")
    job = finished_batch(emulator, ports)
    failed = sorted(c.object for c in truth(emulator, job) if c.state == "Failed")
    status, answer, _ = call(ports, "POST", f"/jobs/{job.job_id}/retry", body="{}")
    assert status == 201 and len(answer["lists"]) == len(answer["jobIds"]) == -(-len(failed) // 4) > 1
    keys = [k for j in answer["jobIds"] for k in (emulator.book.get(j).keys or [])]  # type: ignore[union-attr]
    assert sorted(keys) == failed
    assert emulator.book.get(answer["jobIds"][1]).name == f"{job.name}-retry-1-2"  # type: ignore[union-attr]


@pytest.mark.parametrize("shape", ["functionurl", "apigateway"])
def test_sample_http_retry_events(
    emulator: CIEmulator, tmp_path: Path, moto_endpoint: str, watched: Any, shape: str
) -> None:
    """events/http-<shape>-job-retry.json (a dry run), pointed at a finished batch, answers 200 with the count."""
    from tests.conftest import load_event

    ports = ports_for(emulator, tmp_path, moto_endpoint, JOBWATCH_RETRY="true")
    job = finished_batch(emulator, ports)
    event = json.loads(json.dumps(load_event(f"http-{shape}-job-retry.json")).replace(
        "b3deffea2f84911ec9cb15254008618d9", job.job_id))  # fmt: skip
    event["headers"] = {
        **event["headers"],
        **{k: f"Bearer {TOKEN}" for k in event["headers"] if k.lower() == "authorization"},
    }
    answer = handle(event, {"request_id": "r"}, ports=ports)
    assert answer["statusCode"] == 200, answer["body"]
    assert json.loads(answer["body"])["objects"] == ports.records.job(job.job_id)["objects"]["failed"]  # type: ignore[index]
