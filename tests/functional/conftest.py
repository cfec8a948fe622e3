"""Functional fixtures: the CI emulator on a loopback port and a client signed for it."""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devkit.ciemu import CIEmulator, EmulatedJob
from devkit.s3server import S3Server
from jobwatch.ci import CIClient
from jobwatch.config import Credentials
from jobwatch.entry import Ports, handle
from jobwatch.store import FileStore, ObjectStore
from jobwatch.store.s3 import S3Store
from tests.functional.apitools import CREDENTIALS, JOB_ID, WORKFLOW_ID, build_ports


@pytest.fixture
def emulator() -> Iterator[CIEmulator]:
    """A fresh emulator per test, on an ephemeral 127.0.0.1 port."""
    with CIEmulator() as emu:
        yield emu


class Sleeps(list[float]):
    """Records requested sleeps and sleeps a tiny fraction, so retry tests stay fast and observable."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def client(emulator: CIEmulator, sleeps: Sleeps) -> Iterator[CIClient]:
    """A client for the emulator; backoff sleeps are recorded, not slept."""
    c = CIClient(emulator.url, CREDENTIALS, sleep=sleeps, read_timeout=5.0)
    yield c


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's S3 in server mode: a real HTTP S3 endpoint on 127.0.0.1 (one request at a time: devkit/s3server.py)."""
    with S3Server() as server:
        yield server.url


def s3_client(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    )


@pytest.fixture
def s3_store(moto_endpoint: str) -> S3Store:
    """An S3Store on a new, empty bucket of the moto server."""
    bucket = f"jobwatch-{uuid.uuid4().hex[:12]}"
    s3_client(moto_endpoint).create_bucket(Bucket=bucket)
    return S3Store(
        bucket, "watch", endpoint_url=moto_endpoint, region="us-east-1", credentials=Credentials("test", "test")
    )


@pytest.fixture(params=["file", "file-linked", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    """Each store backend in turn: the folder (creating by unnamed file where Linux allows, and by a temporary
    file as on other systems), and S3 (moto server)."""
    if request.param.startswith("file"):
        folder = FileStore(tmp_path / "store")
        folder._anonymous = request.param == "file" and folder._anonymous
        return folder
    return request.getfixturevalue("s3_store")  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def httpserver_listen_address() -> tuple[str, int]:
    """pytest-httpserver receivers listen on 127.0.0.1 (an ephemeral port), the address the allow-nets exempt."""
    return ("127.0.0.1", 0)


def concurrently(target: Any, arguments: list[Any]) -> None:
    """Run ``target(argument)`` for every argument in its own thread, started together, and wait for all."""
    threads = [threading.Thread(target=target, args=(argument,)) for argument in arguments]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@pytest.fixture
def api(emulator: CIEmulator, tmp_path: Path) -> Ports:
    """Ports with the two sample jobs of events/ in the emulator; one has finished and has its event."""
    now = emulator.clock()
    emulator.book.add(EmulatedJob(WORKFLOW_ID, "Workflow", "demo", now, {"Prefix": "in/"}, {"WorkflowIds": "w1"},
                                  submitted_for=1, running_for=5, objects=3, object_failure_ratio=0.0))  # fmt: skip
    emulator.book.add(EmulatedJob(JOB_ID, "Job", "demo", now, {"Prefix": "in/"}, {"Tag": "Transcode"},
                                  submitted_for=1, running_for=500))  # fmt: skip
    ports = build_ports(emulator, tmp_path / "store")
    handle({"action": "sweep"}, {}, ports=ports)
    emulator.clock.advance(30)
    handle({"action": "sweep"}, {}, ports=ports)
    return ports


WATCHED_BUCKET = "demo-1250000000"


@pytest.fixture
def watched(moto_endpoint: str) -> Any:
    """The watched bucket on moto's S3 server (where retry lists go), emptied for each test."""
    client = s3_client(moto_endpoint)
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(Bucket=WATCHED_BUCKET)
    for item in client.list_objects_v2(Bucket=WATCHED_BUCKET).get("Contents", []):
        client.delete_object(Bucket=WATCHED_BUCKET, Key=item["Key"])
    return client
