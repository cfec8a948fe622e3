"""Webhook and chained-function delivery through real sockets: signatures, retries, dead letters, overlap."""

from __future__ import annotations

import ipaddress
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from standardwebhooks import Webhook
from werkzeug import Request, Response

from devkit.ciemu import CIEmulator
from jobwatch.ci import CIClient
from jobwatch.config import Settings
from jobwatch.entry import Ports, handle
from jobwatch.events import target_id
from jobwatch.notify.chain import ChainInvoker
from jobwatch.notify.guard import AddressGuard
from jobwatch.notify.outbox import SCHEDULE, Dispatcher
from jobwatch.notify.webhook import WebhookSender
from jobwatch.records import Records
from jobwatch.store import FileStore, ObjectStore
from tests.conftest import load_event
from tests.functional.conftest import CREDENTIALS, concurrently
from tests.stored import stored_ids

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
TIMER = load_event("timer.json")
CONTEXT = {"request_id": "delivery-test", "time_limit_in_ms": 60_000}
LOCAL = [ipaddress.ip_network("127.0.0.0/8")]


def make_ports(
    emulator: CIEmulator, store: ObjectStore, *, webhook: str | None = None, chain: ChainInvoker | None = None,
    timeout: float = 5.0, **env: str,
) -> Ports:  # fmt: skip
    settings = Settings.from_env({
        "JOBWATCH_CI_ENDPOINT": emulator.url, "JOBWATCH_CI_BUCKET": "demo-1250000000",
        "JOBWATCH_CI_REGION": "ap-guangzhou", "JOBWATCH_WEBHOOK_SECRET": SECRET,
        "JOBWATCH_CALLBACK_ALLOW_NETS": "127.0.0.0/8", **({"JOBWATCH_WEBHOOK_URL": webhook} if webhook else {}), **env,
    })  # fmt: skip
    clock: Callable[[], datetime] = lambda: datetime.fromtimestamp(emulator.clock(), timezone.utc)  # noqa: E731
    records = Records(store)
    client = CIClient(emulator.url, CREDENTIALS, sleep=lambda s: None)
    guard = AddressGuard(LOCAL)
    notifier = Dispatcher(records, settings.webhook_secrets, webhooks=WebhookSender(guard, timeout=timeout),
                          chain=chain, now=clock, rng=lambda: 0.5)  # fmt: skip
    return Ports(settings, records, lambda: client, notifier=notifier, clock=clock, guard=guard)


def sweep(ports: Ports) -> dict[str, Any]:
    result = handle(TIMER, CONTEXT, ports=ports)
    assert "sweepId" in result, result
    return result


def event_docs(ports: Ports) -> list[dict[str, Any]]:
    return [ports.records.event(i) for i in stored_ids(ports.records, "events")]  # type: ignore[misc]


class Receiver:
    """A webhook endpoint on a real socket: answers from a script, records and verifies every request."""

    def __init__(self, server: HTTPServer, answers: list[Any] | None = None) -> None:
        self.server = server
        self.answers = list(answers or [])
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        server.expect_request("/hook", method="POST").respond_with_handler(self.handle)

    @property
    def url(self) -> str:
        return self.server.url_for("/hook")

    def handle(self, request: Request) -> Response:
        body = request.get_data()
        headers = dict(request.headers)
        with self.lock:
            answer = self.answers.pop(0) if self.answers else 200
            payload = Webhook(SECRET).verify(body, headers)  # raises if the signature is wrong
            self.requests.append({"id": request.headers["webhook-id"], "payload": payload,
                                  "timestamp": request.headers["webhook-timestamp"], "status": answer})  # fmt: skip
        if callable(answer):
            return answer()  # type: ignore[no-any-return]
        return Response("ok" if answer < 300 else "no", status=answer)

    def ids(self, status: int | None = None) -> Counter[str]:
        return Counter(r["id"] for r in self.requests if status is None or r["status"] == status)


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:  # type: ignore[override]
    return FileStore(tmp_path / "store")


def finished_jobs(emulator: CIEmulator, ports: Ports, count: int) -> list[str]:
    """``count`` jobs seen running by one sweep, then finished."""
    made = emulator.book.preload(count, seed=11, duration=(3, 5))
    sweep(ports)
    emulator.clock.advance(30)
    return [j.job_id for j in made]


class TestWebhooks:
    def test_one_signed_delivery_per_event(
        self, emulator: CIEmulator, store: ObjectStore, httpserver: HTTPServer
    ) -> None:
        """Each finished job is POSTed once, signed so standardwebhooks verifies it, with webhook-id = event id."""
        receiver = Receiver(httpserver)
        ports = make_ports(emulator, store, webhook=receiver.url)
        ids = finished_jobs(emulator, ports, 3)
        result = sweep(ports)
        assert result["deliveries"] == {"ok": 3, "failed": 0}
        assert sorted(receiver.ids()) == sorted(e["id"] for e in event_docs(ports))
        assert sorted(r["payload"]["data"]["jobId"] for r in receiver.requests) == sorted(ids)
        assert all(e["status"] == "delivered" for e in event_docs(ports))
        sweep(ports)
        assert len(receiver.requests) == 3 and list(ports.records.store.list("outbox/")) == []

    def test_receiver_down_then_back(self, emulator: CIEmulator, store: ObjectStore, httpserver: HTTPServer) -> None:
        """503, 503, then 200: retried on schedule (5 s, then 5 min), delivered once, the same id every time."""
        receiver = Receiver(httpserver, [503, 503])
        ports = make_ports(emulator, store, webhook=receiver.url)
        finished_jobs(emulator, ports, 1)
        sweep(ports)
        (event,) = event_docs(ports)
        assert event["status"] == "pending" and event["targets"][target_id("webhook", receiver.url)]["attempts"] == 1
        sweep(ports)  # not yet due: nothing sent
        assert len(receiver.requests) == 1
        emulator.clock.advance(SCHEDULE[0] + 1)
        sweep(ports)
        emulator.clock.advance(SCHEDULE[1] + 1)
        sweep(ports)
        (event,) = event_docs(ports)
        assert [r["status"] for r in receiver.requests] == [503, 503, 200]
        assert len(set(receiver.ids())) == 1
        assert event["status"] == "delivered" and [a["status"] for a in event["attempts"]] == [503, 503, 200]

    def test_unreachable_receiver_is_retried(self, emulator: CIEmulator, store: ObjectStore) -> None:
        """Nothing listening at the URL: the attempt fails with a connection error and stays pending."""
        ports = make_ports(emulator, store, webhook="http://127.0.0.1:9/hook")
        finished_jobs(emulator, ports, 1)
        sweep(ports)
        (event,) = event_docs(ports)
        assert event["status"] == "pending" and event["attempts"][0]["error"].startswith("connection failed")

    def test_redirect_not_followed(self, emulator: CIEmulator, store: ObjectStore, httpserver: HTTPServer) -> None:
        """A 302 is a failure and its Location is never requested."""
        receiver = Receiver(httpserver, [lambda: Response(status=302, headers={"Location": "/elsewhere"})])
        httpserver.expect_request("/elsewhere").respond_with_data("should not be reached")
        ports = make_ports(emulator, store, webhook=receiver.url)
        finished_jobs(emulator, ports, 1)
        sweep(ports)
        (event,) = event_docs(ports)
        assert event["status"] == "pending" and "redirect" in event["attempts"][0]["error"]
        assert [r.path for r, _ in httpserver.log] == ["/hook"]

    def test_gone_disables_target(self, emulator: CIEmulator, store: ObjectStore, httpserver: HTTPServer) -> None:
        """410 Gone disables the target: the event is failed and nothing more is sent."""
        receiver = Receiver(httpserver, [410])
        ports = make_ports(emulator, store, webhook=receiver.url)
        finished_jobs(emulator, ports, 1)
        sweep(ports)
        emulator.clock.advance(3600)
        sweep(ports)
        (event,) = event_docs(ports)
        assert (
            event["status"] == "failed" and event["targets"][target_id("webhook", receiver.url)]["status"] == "disabled"
        )
        assert len(receiver.requests) == 1

    def test_retry_after_slows_down(self, emulator: CIEmulator, store: ObjectStore, httpserver: HTTPServer) -> None:
        """429 with Retry-After: 900 puts the next attempt 900 s away, not 5 s."""
        receiver = Receiver(httpserver, [lambda: Response(status=429, headers={"Retry-After": "900"})])
        ports = make_ports(emulator, store, webhook=receiver.url)
        finished_jobs(emulator, ports, 1)
        sweep(ports)
        (event,) = event_docs(ports)
        wait = datetime.fromisoformat(event["nextAttemptAt"]) - ports.clock()
        assert 890 <= wait.total_seconds() <= 900
        emulator.clock.advance(60)
        sweep(ports)
        assert len(receiver.requests) == 1

    def test_slow_receiver_times_out(self, emulator: CIEmulator, store: ObjectStore, httpserver: HTTPServer) -> None:
        """A receiver slower than the timeout is a failed attempt, retried later."""

        def slow() -> Response:
            time.sleep(1.5)
            return Response("late")

        receiver = Receiver(httpserver, [slow])
        ports = make_ports(emulator, store, webhook=receiver.url, timeout=0.5)
        finished_jobs(emulator, ports, 1)
        sweep(ports)
        (event,) = event_docs(ports)
        assert event["status"] == "pending" and event["attempts"][0]["error"] == "timed out"

    def test_exhausted_then_replayed(self, emulator: CIEmulator, store: ObjectStore, httpserver: HTTPServer) -> None:
        """After 8 failed attempts the event is a dead letter; replay re-queues it and it is delivered."""
        receiver = Receiver(httpserver, [500] * 8)
        ports = make_ports(emulator, store, webhook=receiver.url)
        finished_jobs(emulator, ports, 1)
        for _ in range(len(SCHEDULE) + 1):
            sweep(ports)
            emulator.clock.advance(11 * 3600)
        (event,) = event_docs(ports)
        assert event["status"] == "failed" and len(event["attempts"]) == 8
        assert list(ports.records.store.list("outbox/")) == []
        replay = handle({"action": "replay", "eventId": event["id"]}, CONTEXT, ports=ports)
        assert replay == {"ok": True, "eventId": event["id"], "status": "pending"}
        sweep(ports)
        (event,) = event_docs(ports)
        assert event["status"] == "delivered" and receiver.requests[-1]["status"] == 200
        assert len(receiver.ids(200)) == 1

    def test_replay_unknown_event(self, emulator: CIEmulator, store: ObjectStore) -> None:
        """Replaying an event that does not exist answers NotFound."""
        ports = make_ports(emulator, store)
        result = handle({"action": "replay", "eventId": "evt-nope-success"}, CONTEXT, ports=ports)
        assert result["ok"] is False and result["error"]["code"] == "NotFound"

    @pytest.mark.parametrize("backend", ["file", "s3"])
    def test_concurrent_sweeps_deliver_once(
        self, emulator: CIEmulator, httpserver: HTTPServer, request: pytest.FixtureRequest, tmp_path: Path, backend: str
    ) -> None:
        """Four sweeps at once over one store (folder or S3): every event reaches the receiver exactly once."""
        store: ObjectStore = FileStore(tmp_path) if backend == "file" else request.getfixturevalue("s3_store")
        receiver = Receiver(httpserver)
        group = [make_ports(emulator, store, webhook=receiver.url) for _ in range(4)]
        made = emulator.book.preload(30 if backend == "file" else 12, seed=12, duration=(3, 20))
        for _round in range(4):
            concurrently(sweep, group)
            emulator.clock.advance(10)
        counts = receiver.ids()
        assert len(counts) == len(made) and set(counts.values()) == {1}

    def test_watch_callback_with_metadata(
        self, emulator: CIEmulator, store: ObjectStore, httpserver: HTTPServer
    ) -> None:
        """A watch's own callbackUrl gets the event with its metadata, beside the global webhook."""
        receiver = Receiver(httpserver)
        ports = make_ports(emulator, store, webhook=receiver.url)
        (job,) = emulator.book.preload(1, seed=13, duration=(3, 5))
        watch = {"action": "watch", "jobId": job.job_id, "callbackUrl": receiver.url + "?for=watch",
                 "metadata": {"ticket": "MEDIA-7"}}  # fmt: skip
        assert handle(watch, CONTEXT, ports=ports)["created"] is True
        sweep(ports)
        emulator.clock.advance(30)
        sweep(ports)
        assert len(receiver.requests) == 2
        assert all(r["payload"]["data"]["metadata"] == {"ticket": "MEDIA-7"} for r in receiver.requests)

    def test_refused_callback_not_stored(self, emulator: CIEmulator, store: ObjectStore) -> None:
        """A watch whose callbackUrl leads to a private address is refused and not stored."""
        ports = make_ports(emulator, store)
        result = handle(
            {"action": "watch", "jobId": "b1", "callbackUrl": "https://10.0.0.1/hook"}, CONTEXT, ports=ports
        )
        assert result["ok"] is False and result["error"]["code"] == "RefusedURL"
        assert ports.records.watch("b1") is None


class TestChain:
    def test_chained_invoke_payload(self, emulator: CIEmulator, store: ObjectStore) -> None:
        """The chain function is invoked asynchronously through the SCF API with the event body as ClientContext."""
        calls: list[tuple[dict[str, str], dict[str, Any]]] = []
        with HTTPServer(host="127.0.0.1", port=0) as scf:

            def invoke(request: Request) -> Response:
                calls.append((dict(request.headers), json.loads(request.get_data())))
                body = {"Response": {"RequestId": "req-1", "Result": {"FunctionRequestId": "f-1"}}}
                return Response(json.dumps(body), content_type="application/json")

            scf.expect_request("/", method="POST").respond_with_handler(invoke)
            chain = ChainInvoker(CREDENTIALS, "ap-guangzhou", endpoint=f"127.0.0.1:{scf.port}", scheme="http")
            ports = make_ports(emulator, store, chain=chain, JOBWATCH_CHAIN_FUNCTION="pipeline/next-step")
            (job_id,) = finished_jobs(emulator, ports, 1)
            result = sweep(ports)
        assert result["deliveries"] == {"ok": 1, "failed": 0}
        (headers, body) = calls[0]
        assert headers["X-Tc-Action"] == "Invoke" and "TC3-HMAC-SHA256" in headers["Authorization"]
        assert (body["FunctionName"], body["Namespace"], body["InvocationType"]) == ("next-step", "pipeline", "Event")
        payload = json.loads(body["ClientContext"])
        assert payload["type"] == "ci.batchjob.succeeded" and payload["data"]["jobId"] == job_id

    def test_scf_error_is_a_failed_attempt(self, emulator: CIEmulator, store: ObjectStore) -> None:
        """An SCF API error (e.g. the function does not exist) is recorded and retried, not raised."""
        with HTTPServer(host="127.0.0.1", port=0) as scf:
            error = {"Response": {"RequestId": "r", "Error": {"Code": "ResourceNotFound.Function", "Message": "no"}}}
            scf.expect_request("/", method="POST").respond_with_json(error)
            chain = ChainInvoker(CREDENTIALS, "ap-guangzhou", endpoint=f"127.0.0.1:{scf.port}", scheme="http")
            ports = make_ports(emulator, store, chain=chain, JOBWATCH_CHAIN_FUNCTION="next-step")
            finished_jobs(emulator, ports, 1)
            sweep(ports)
        (event,) = event_docs(ports)
        assert event["status"] == "pending" and "ResourceNotFound.Function" in event["attempts"][0]["error"]


def test_watch_on_already_recorded_finished_job(
    emulator: CIEmulator, store: ObjectStore, httpserver: HTTPServer
) -> None:
    """A watch registered after the job's end was recorded still gets the event, once, and only at its own URL."""
    receiver = Receiver(httpserver)
    ports = make_ports(emulator, store, webhook=receiver.url + "?global=1")
    (job_id,) = finished_jobs(emulator, ports, 1)
    sweep(ports)  # the end is recorded and told to the global webhook
    assert len(receiver.requests) == 1
    watch = {"action": "watch", "jobId": job_id, "callbackUrl": receiver.url + "?mine=1", "metadata": {"who": "late"}}
    assert handle(watch, CONTEXT, ports=ports)["ok"]
    sweep(ports)
    sweep(ports)
    assert len(receiver.requests) == 2 and receiver.requests[1]["payload"]["data"]["metadata"] == {"who": "late"}
    ids = list(receiver.ids())
    assert ids[0] == f"evt-{job_id}-success" and ids[1].startswith(f"evt-{job_id}-success-w")


def test_abandoned_claim_is_taken_over(emulator: CIEmulator, store: ObjectStore, httpserver: HTTPServer) -> None:
    """A round claimed by a sweep that died blocks until its lease ends, then counts as failed and the next round
    delivers; a live claim is respected."""
    receiver = Receiver(httpserver, [503])  # the first attempt fails, so the event stays in the outbox
    ports = make_ports(emulator, store, webhook=receiver.url)
    finished_jobs(emulator, ports, 1)
    sweep(ports)
    (event,) = event_docs(ports)
    assert event["round"] == 1 and event["status"] == "pending"
    emulator.clock.advance(SCHEDULE[0] + 1)
    now = ports.clock()
    live = {"at": now.isoformat(), "expiresAt": (now + timedelta(minutes=3)).isoformat()}
    assert ports.records.create_claim(event["id"], 2, live)  # another sweep is making round 2 right now
    sweep(ports)
    assert len(receiver.requests) == 1  # respected: nothing sent
    emulator.clock.advance(4 * 60)  # ...and that sweep died: its lease runs out
    sweep(ports)  # records the abandoned round
    sweep(ports)  # makes round 3
    (event,) = event_docs(ports)
    assert len(receiver.requests) == 2 and event["status"] == "delivered" and event["round"] == 3
    assert any(a["error"] == "a delivery round was claimed but never finished" for a in event["attempts"])
