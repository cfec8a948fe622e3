"""The S3 store's conditional create, answer by answer, through a proxy in front of moto's S3 server.

Exactly-once rests on the service: COS (``x-cos-forbid-overwrite``, ``If-None-Match``) or S3 makes one of two racing
conditional PUTs win. jobwatch's side is what these tests pin down: how the client reads each answer the service may
give, and what happens when the answer to a create that succeeded is lost and botocore sends the PUT again."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from devkit.s3proxy import FailingProxy
from jobwatch.config import Credentials
from jobwatch.errors import StoreError, StoreUnavailableError
from jobwatch.store.s3 import S3Store
from tests.functional.conftest import s3_client


@pytest.fixture
def proxy(moto_endpoint: str) -> Iterator[FailingProxy]:
    with FailingProxy(moto_endpoint) as running:
        yield running


@pytest.fixture
def store(proxy: FailingProxy, moto_endpoint: str) -> S3Store:
    bucket = f"cond-{uuid.uuid4().hex[:12]}"
    s3_client(moto_endpoint).create_bucket(Bucket=bucket)
    return S3Store(bucket, "w", endpoint_url=proxy.url, region="us-east-1", credentials=Credentials("test", "test"))


@pytest.mark.parametrize("answer", ["412", "409"])
def test_exists_answers_are_not_created(store: S3Store, proxy: FailingProxy, answer: str) -> None:
    """412 PreconditionFailed (S3) and 409 FileAlreadyExists (COS) both mean "exists": create returns False."""
    proxy.next("PUT", answer)
    assert store.create("events/e1.json", b"{}") is False
    assert store.get("events/e1.json") is None  # the proxy answered: nothing was written by this call


def test_conditional_race_is_transient(store: S3Store, proxy: FailingProxy) -> None:
    """409 ConditionalRequestConflict (a racing write still in progress) is a transient error, retried later: it
    says neither "created" nor "exists"."""
    proxy.next("PUT", "409-race")
    with pytest.raises(StoreUnavailableError):
        store.create("events/e2.json", b"{}")


def test_create_whose_answer_was_lost_reads_as_exists(store: S3Store, proxy: FailingProxy) -> None:
    """The PUT is applied but its answer lost; botocore sends it again and gets 412: create says False, and the
    object holds this call's bytes (the sweep's outbox marker, written first, gets such an event delivered)."""
    proxy.next("PUT", "lost")
    assert store.create("events/e3.json", b'{"mine": 1}') is False
    assert store.get("events/e3.json") == b'{"mine": 1}'
    assert proxy.injected["lost"] == 1 and proxy.forwarded >= 2


def test_a_real_second_create_is_refused(store: S3Store) -> None:
    """Without any fault, the second conditional create of a key returns False and leaves the first bytes."""
    assert store.create("events/e4.json", b"first") is True
    assert store.create("events/e4.json", b"second") is False
    assert store.get("events/e4.json") == b"first"


def test_access_denied_is_permanent(store: S3Store, proxy: FailingProxy) -> None:
    """403 on a create is a permanent error naming the policy, never read as "exists"."""
    proxy.next("PUT", "403")
    with pytest.raises(StoreError, match="policy") as raised:
        store.create("events/e5.json", b"{}")
    assert not isinstance(raised.value, StoreUnavailableError)


def test_trickled_answer_is_given_up(store: S3Store, proxy: FailingProxy, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read whose answer trickles a byte at a time (botocore's read timeout restarts with each byte) is given up
    once the call's total time runs out, as the store being unavailable."""
    from jobwatch.store import s3

    assert store.create("jobs/b1.json", b'{"jobId": "b1", "padding": "' + b"x" * 200 + b'"}')
    monkeypatch.setattr(s3, "CALL_TIMEOUT", 1.0)
    proxy.next("GET", "trickle")
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError, match="no answer within"):
        store.get("jobs/b1.json")
    assert time.monotonic() - started < 3
