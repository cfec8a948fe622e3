"""A batch's objects over real HTTP: the client lists workflow executions and media jobs from the emulator, which
makes them lazily, signs like CI, filters, pages (single-item pages too) and injects faults."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from devkit.ciemu import CIEmulator, EmulatedJob
from devkit.ciemu import objects as emu_objects
from jobwatch.ci import CIClient
from jobwatch.ci.children import Child
from jobwatch.config import Credentials
from jobwatch.errors import CIAuthError
from tests.functional.conftest import CREDENTIALS, Sleeps


def stream_args(job: EmulatedJob) -> dict[str, Any]:
    if job.type == "Workflow":
        return {"workflow_id": job.operation["WorkflowIds"].split(",")[0]}
    return {"tag": job.operation["Tag"], "queue_id": job.operation["QueueId"]}


def list_all(client: CIClient, job: EmulatedJob, **filters: Any) -> list[Child]:
    found: list[Child] = []
    token = ""
    for _ in range(10_000):
        page = client.list_children_page(batch_id=job.job_id, next_token=token, **stream_args(job), **filters)
        found += page.children
        token = page.next_token
        if not token:
            return found
    raise AssertionError("paging did not end")


def truth(emulator: CIEmulator, job: EmulatedJob) -> dict[str, str]:
    now = emulator.clock()
    return {c.child_id: c.state for c in emu_objects.children(job, 0, now, None, None, False, None)}


@pytest.mark.parametrize("kind", ["Workflow", "Job"])
@pytest.mark.parametrize("size", [1, 7, 100])
def test_pages_through_every_child(emulator: CIEmulator, client: CIClient, kind: str, size: int) -> None:
    """Paging (single-item pages included) lists every dispatched child once, in creation order, as the emulator has it."""
    (job,) = emulator.book.preload(1, seed=5, job_type=kind, duration=(20, 20), objects=40)
    emulator.clock.advance(15)  # part-way through the dispatch
    children = list_all(client, job, size=size)
    expected = truth(emulator, job)
    assert 0 < len(expected) < 40
    assert [c.child_id for c in children] == list(expected)
    order = ("Submitted", "Running", "Success", "Failed")  # the clock runs on while a slow listing pages
    for child in children:
        assert child.state == expected[child.child_id] or order.index(child.state) < order.index(
            expected[child.child_id]
        )
    times = [c.creation_time for c in children]
    assert times == sorted(times)  # type: ignore[type-var]


def test_state_filter_and_windows(emulator: CIEmulator, client: CIClient) -> None:
    """states, startCreationTime/endCreationTime (whole seconds, inclusive) and Desc order filter as CI does."""
    (job,) = emulator.book.preload(1, seed=6, job_type="Job", duration=(30, 30), objects=60, object_failure_ratio=0.3)
    emulator.clock.advance(50)
    everything = list_all(client, job)
    failed = list_all(client, job, states=("Failed",))
    assert failed and {c.state for c in failed} == {"Failed"}
    assert {c.child_id for c in failed} == {c.child_id for c in everything if c.state == "Failed"}
    assert all(c.code and c.message for c in failed)
    middle = everything[20].creation_time
    assert middle is not None
    window = list_all(client, job, start_creation_time=middle, end_creation_time=middle)
    assert window and all(c.creation_time == middle for c in window)
    assert {c.child_id for c in window} == {c.child_id for c in everything if c.creation_time == middle}
    newest_first = list_all(client, job, order="Desc")
    assert [c.child_id for c in newest_first] == [c.child_id for c in reversed(everything)]


def test_media_jobs_carry_outputs_and_reasons(emulator: CIEmulator, client: CIClient) -> None:
    """Succeeded media jobs name their outputs; failed ones their code and message."""
    (job,) = emulator.book.preload(1, seed=8, job_type="Job", duration=(5, 5), objects=30, object_failure_ratio=0.3)
    emulator.clock.advance(60)
    children = list_all(client, job)
    assert all(c.output for c in children if c.state == "Success")
    assert all(c.code in dict(emu_objects.FAILURES) for c in children if c.state == "Failed")


def test_execution_failure_lookup(emulator: CIEmulator, client: CIClient) -> None:
    """A failed workflow execution's reason comes from its detail's failed task."""
    (job,) = emulator.book.preload(
        1, seed=9, job_type="Workflow", duration=(5, 5), objects=30, object_failure_ratio=0.4
    )
    emulator.clock.advance(60)
    failed = [c for c in list_all(client, job) if c.state == "Failed"]
    code, message, task = client.execution_failure(failed[0].child_id)
    assert (code, message) in emu_objects.FAILURES and task


def test_objects_of_another_queue_or_tag_are_not_listed(emulator: CIEmulator, client: CIClient) -> None:
    """A wrong tag or queue lists nothing, as CI filters by them."""
    (job,) = emulator.book.preload(1, seed=10, job_type="Job", duration=(5, 5), objects=10)
    emulator.clock.advance(30)
    page = client.list_children_page(batch_id=job.job_id, tag="Snapshot-x", queue_id=job.operation["QueueId"])
    assert page.children == ()


def test_signature_checked(emulator: CIEmulator) -> None:
    """The object endpoints check signatures like the rest: a wrong key is refused."""
    (job,) = emulator.book.preload(1, seed=11, job_type="Workflow", objects=5)
    bad = CIClient(emulator.url, Credentials(CREDENTIALS.secret_id, "wrong-key"), sleep=lambda s: None)
    with pytest.raises(CIAuthError):
        bad.list_children_page(batch_id=job.job_id, **stream_args(job))


def test_faults_are_retried(emulator: CIEmulator, client: CIClient, sleeps: Sleeps) -> None:
    """A 503 and a truncated page are retried; the listing completes."""
    (job,) = emulator.book.preload(1, seed=12, job_type="Workflow", duration=(5, 5), objects=20)
    emulator.clock.advance(30)
    emulator.faults.script.extend(["503", "truncated"])
    assert len(list_all(client, job)) == 20 and len(sleeps) == 2


def test_batch_end_modes(emulator: CIEmulator) -> None:
    """Dispatched mode ends the batch while objects still run; done mode only once every object is done."""
    (early,) = emulator.book.preload(
        1, seed=13, job_type="Job", duration=(10, 10), objects=10, object_duration=(30, 40)
    )
    emulator.book.batch_end = "done"
    (late,) = emulator.book.preload(1, seed=14, job_type="Job", duration=(10, 10), objects=10, object_duration=(30, 40))
    emulator.clock.advance(15)
    now = emulator.clock()
    assert early.state_at(now)[0] == "Success" and "Running" in truth(emulator, early).values()
    assert late.state_at(now)[0] == "Running"
    emulator.clock.advance(60)
    assert late.state_at(emulator.clock())[0] == "Success" and set(truth(emulator, late).values()) <= {
        "Success",
        "Failed",
    }


def test_million_object_batch_costs_nothing_up_front(emulator: CIEmulator, client: CIClient) -> None:
    """A batch of 1,000,000 objects is made lazily: a window deep inside it lists at once."""
    (job,) = emulator.book.preload(1, seed=15, job_type="Workflow", duration=(1000, 1000), objects=1_000_000)
    emulator.clock.advance(2000)
    start = datetime.fromtimestamp(job.started_at + 500, timezone.utc)
    page = client.list_children_page(batch_id=job.job_id, start_creation_time=start, size=100, **stream_args(job))
    assert len(page.children) == 100 and page.next_token


def test_official_sdk_pages_through_executions(emulator: CIEmulator) -> None:
    """cos-python-sdk-v5's ci_list_workflowexecution(BatchJobId=...) pages through the emulator's executions."""
    from qcloud_cos import CosConfig, CosS3Client

    (job,) = emulator.book.preload(1, seed=16, job_type="Workflow", duration=(5, 5), objects=25)
    emulator.clock.advance(60)
    port = int(emulator.url.rsplit(":", 1)[1])
    conf = CosConfig(Region="ap-guangzhou", SecretId=CREDENTIALS.secret_id, SecretKey=CREDENTIALS.secret_key,
                     Scheme="http", IP="127.0.0.1", Port=port)  # fmt: skip
    sdk = CosS3Client(conf, retry=0)
    seen: list[str] = []
    token = ""
    for _ in range(10):
        answer = sdk.ci_list_workflowexecution(Bucket="demo-1250000000", WorkflowId=job.operation["WorkflowIds"],
                                               BatchJobId=job.job_id, Size=10, NextToken=token, OrderByTime="Asc")  # fmt: skip
        entries = answer.get("WorkflowExecutionList", [])
        entries = [entries] if isinstance(entries, dict) else entries  # the SDK's single-item quirk
        seen += [e["RunId"] for e in entries]
        token = answer.get("NextToken") or ""
        if not token:
            break
    assert seen == list(truth(emulator, job)) and len(seen) == 25 and not emulator.auth_failures
