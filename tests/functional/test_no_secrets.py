"""No secret in any answer or log line, over a whole demo-like run: sweeps, failed then successful deliveries to URLs
with secret paths and queries, every HTTP route and direct-invoke action, a CI failure, bad tokens, DEBUG logs."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from werkzeug import Request, Response

from devkit.ciemu import TEST_SECRET_ID, TEST_SECRET_KEY, CIEmulator
from jobwatch import logs
from jobwatch.api import ROUTES
from jobwatch.ci import CIClient
from jobwatch.config import Credentials, Settings
from jobwatch.entry import Ports, handle
from jobwatch.notify.guard import AddressGuard
from jobwatch.notify.outbox import Dispatcher
from jobwatch.notify.webhook import WebhookSender
from jobwatch.records import Records
from jobwatch.service import secrets_of
from jobwatch.store import FileStore
from tests.stored import stored_ids

if TYPE_CHECKING:
    from pytest_httpserver import HTTPServer

SESSION_TOKEN = "SessionTokenValue-9d8c7b6a5f4e3d2c1b0a"
API_TOKEN = "api-token-4be1c0ffee4be1c0ffee"
CALLBACK_TOKEN = "callback-token-77aa88bb99cc"
SIGNING = ["whsec_" + base64.b64encode(b"first-signing-key-0123456789").decode(),
           "whsec_" + base64.b64encode(b"older-signing-key-9876543210").decode()]  # fmt: skip
GLOBAL_PATH, GLOBAL_QUERY = "services/GlobalPathSecret/XyZ123", "key=GlobalQuerySecret42"
WATCH_PATH, WATCH_QUERY = "hooks/WatchPathSecret/AbC987", "sig=WatchQuerySecret77"


def forbidden() -> dict[str, str]:
    """Every value that must never be shown, with a name for the failure message."""
    found = {"secret id": TEST_SECRET_ID, "secret key": TEST_SECRET_KEY, "session token": SESSION_TOKEN,
             "api token": API_TOKEN, "callback token": CALLBACK_TOKEN,
             "global path": "GlobalPathSecret", "global query": "GlobalQuerySecret42",
             "watch path": "WatchPathSecret", "watch query": "WatchQuerySecret77"}  # fmt: skip
    for i, secret in enumerate(SIGNING):
        found[f"webhook secret {i}"] = secret
        found[f"webhook key {i}"] = secret[len("whsec_") :]
    return found


class FlakyReceiver:
    """Fails each delivery's first attempt (500), accepts the next; paths and queries are recorded, not checked."""

    def __init__(self, server: HTTPServer) -> None:
        self.seen: dict[str, int] = {}
        server.expect_request(re.compile(r"/.*"), method="POST").respond_with_handler(self.handle)

    def handle(self, request: Request) -> Response:
        key = f"{request.path}:{request.headers['webhook-id']}"
        self.seen[key] = self.seen.get(key, 0) + 1
        return Response("no", status=500) if self.seen[key] == 1 else Response("", status=204)


@pytest.fixture
def run(emulator: CIEmulator, tmp_path: Path, httpserver: HTTPServer) -> tuple[Ports, FlakyReceiver, str]:
    receiver = FlakyReceiver(httpserver)
    base = httpserver.url_for("/").rstrip("/")
    env = {"JOBWATCH_CI_ENDPOINT": emulator.url, "JOBWATCH_CI_BUCKET": "demo-1250000000",
           "TENCENTCLOUD_SECRETID": TEST_SECRET_ID, "TENCENTCLOUD_SECRETKEY": TEST_SECRET_KEY,
           "TENCENTCLOUD_SESSIONTOKEN": SESSION_TOKEN, "JOBWATCH_API_TOKEN": API_TOKEN,
           "JOBWATCH_CALLBACK_TOKEN": CALLBACK_TOKEN, "JOBWATCH_WEBHOOK_SECRET": " ".join(SIGNING),
           "JOBWATCH_WEBHOOK_URL": f"{base}/{GLOBAL_PATH}?{GLOBAL_QUERY}", "JOBWATCH_CALLBACK_ALLOW_NETS": "127.0.0.0/8",
           "JOBWATCH_STORE": f"file:{tmp_path / 'store'}", "JOBWATCH_LOG_LEVEL": "DEBUG"}  # fmt: skip
    settings = Settings.from_env(env)
    logs.configure(settings.log_level, secrets_of(settings))  # as load_ports does for the deployed function
    clock: Callable[[], datetime] = lambda: datetime.fromtimestamp(emulator.clock(), timezone.utc)  # noqa: E731
    records = Records(FileStore(tmp_path / "store"))
    client = CIClient(emulator.url, Credentials(TEST_SECRET_ID, TEST_SECRET_KEY, SESSION_TOKEN), sleep=lambda s: None)
    guard = AddressGuard(settings.callback_allow_nets)
    notifier = Dispatcher(records, settings.webhook_secrets, webhooks=WebhookSender(guard), now=clock, rng=lambda: 0.5)
    ports = Ports(settings, records, lambda: client, notifier=notifier, clock=clock, guard=guard)
    return ports, receiver, f"{base}/{WATCH_PATH}?{WATCH_QUERY}"


def http(ports: Ports, method: str, path: str, *, token: str | None = API_TOKEN, query: dict[str, str] | None = None,
         body: str | None = None) -> dict[str, Any]:  # fmt: skip
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    event = {"httpMethod": method, "path": path, "headers": headers, "queryString": query or {}, "body": body}
    return handle(event, {"request_id": "no-secrets"}, ports=ports)  # type: ignore[no-any-return]


def every_route(ports: Ports, job_id: str, watch_url: str) -> list[Any]:
    """Each route of the router once, with plausible parameters, and a few refused requests."""
    event_id = next(iter(stored_ids(ports.records, "events")))
    params = {"jobIds": job_id, "jobId": job_id, "eventId": event_id, "part": "objects-00001.csv", "asset": "app.js"}
    bodies = {"/watches": json.dumps({"jobId": job_id, "callbackUrl": watch_url, "metadata": {"t": 1}}),
              "/ci-callback": json.dumps({"EventName": "TaskFinish"})}  # fmt: skip
    answers = []
    for route in ROUTES:
        path = re.sub(r"\{(\w+)\}", lambda m: params[m.group(1)], route.pattern)
        if route.pattern == "/ci-callback":
            answers.append(http(ports, "POST", path, token=None, query={"token": CALLBACK_TOKEN}, body=bodies[path]))
        else:
            answers.append(http(ports, route.method, path, body=bodies.get(route.pattern)))
    answers += [
        http(ports, "GET", "/jobs", token="wrong-token"),
        http(ports, "GET", "/jobs", query={"token": API_TOKEN}),
        http(ports, "POST", "/ci-callback", token=None, query={"token": API_TOKEN}, body="{}"),
        http(ports, "GET", "/events", query={"status": "failed"}),
    ]
    return answers


def test_whole_run_shows_no_secret(
    run: tuple[Ports, FlakyReceiver, str], emulator: CIEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """Sweeps, failed then successful deliveries, every route and action, a CI failure: no secret anywhere."""
    ports, receiver, watch_url = run
    jobs = emulator.book.preload(4, seed=17, duration=(3, 5))
    answers: list[Any] = [handle({"action": "sweep"}, {}, ports=ports)]
    answers.append(
        http(ports, "POST", "/watches", body=json.dumps({"jobId": jobs[0].job_id, "callbackUrl": watch_url}))
    )
    answers.append(handle({"action": "watch", "jobId": jobs[1].job_id, "callbackUrl": watch_url}, {}, ports=ports))
    emulator.clock.advance(30)
    answers.append(handle({"Type": "Timer", "TriggerName": "t"}, {}, ports=ports))  # events; first attempts fail
    emulator.clock.advance(10)
    answers.append(handle({"Type": "Timer", "TriggerName": "t"}, {}, ports=ports))  # retries succeed
    answers += every_route(ports, jobs[0].job_id, watch_url)
    answers += [handle(e, {}, ports=ports) for e in (
        {"action": "describe", "jobIds": [jobs[0].job_id]}, {"action": "unwatch", "jobId": jobs[1].job_id},
        {"action": "replay", "eventId": next(iter(stored_ids(ports.records, "events")))}, {"action": "nope"},
    )]  # fmt: skip
    emulator.options.secret_key = "rotated"  # CI now refuses our signature: logged and answered
    answers.append(handle({"action": "sweep"}, {}, ports=ports))
    answers.append(http(ports, "GET", f"/jobs/{jobs[0].job_id}"))

    printed = capsys.readouterr()
    text = printed.out + printed.err + json.dumps(answers, default=str)
    assert sum(1 for n in receiver.seen.values() if n >= 2) >= 4, receiver.seen  # failed, then delivered
    assert '"statusCode": 401' in json.dumps(answers) and "CI.InvalidAuthorization" in text
    assert "/…" in text  # targets are shown, redacted
    leaked = {name: value for name, value in forbidden().items() if value in text}
    assert leaked == {}
