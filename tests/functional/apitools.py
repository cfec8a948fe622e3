"""The HTTP API under test: ports over the emulator and a folder store, and one call helper for both event shapes."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from devkit.ciemu import TEST_SECRET_ID, TEST_SECRET_KEY, CIEmulator
from jobwatch.ci import CIClient
from jobwatch.config import Credentials, Settings
from jobwatch.entry import Ports, handle
from jobwatch.notify.guard import AddressGuard
from jobwatch.notify.outbox import Dispatcher
from jobwatch.notify.webhook import WebhookSender
from jobwatch.records import Records
from jobwatch.store import FileStore

CREDENTIALS = Credentials(TEST_SECRET_ID, TEST_SECRET_KEY)
ROOT = Path(__file__).resolve().parents[2]
TOKEN = "change-me"
CALLBACK_TOKEN = "change-me-callback"  # the sample ci-callback events carry it
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
WORKFLOW_ID, JOB_ID = "b3deffea2f84911ec9cb15254008618d9", "be8f65004eb8511eaaed4f377124a303c"
SHAPES = ("functionurl", "apigateway")


def build_ports(emulator: CIEmulator, root: Path, **env: str) -> Ports:
    settings = Settings.from_env({
        "JOBWATCH_CI_ENDPOINT": emulator.url, "JOBWATCH_CI_BUCKET": "demo-1250000000",
        "JOBWATCH_API_TOKEN": TOKEN, "JOBWATCH_WEBHOOK_SECRET": SECRET, "JOBWATCH_CALLBACK_TOKEN": CALLBACK_TOKEN,
        **env,
    })  # fmt: skip
    client = CIClient(emulator.url, CREDENTIALS, sleep=lambda s: None)
    # Public names resolve to a public address; the network guard of tests/netguard.py stops any dial to it.
    guard = AddressGuard(resolver=lambda host, port: ["93.184.216.34"])
    records = Records(FileStore(root))
    clock: Callable[[], datetime] = lambda: datetime.fromtimestamp(emulator.clock(), timezone.utc)  # noqa: E731
    notifier = Dispatcher(records, settings.webhook_secrets, webhooks=WebhookSender(guard), now=clock)
    return Ports(settings, records, lambda: client, notifier=notifier, guard=guard, clock=clock)


def call(ports: Ports, method: str, path: str, *, shape: str = "functionurl", query: dict[str, str] | None = None,
         headers: dict[str, str] | None = None, body: str | bytes | None = None, token: str | None = TOKEN,
         b64: bool = False) -> tuple[int, Any, dict[str, Any]]:  # fmt: skip
    """Send one HTTP event of the given shape through main_handler; (status, parsed body, headers)."""
    all_headers = {"content-type": "application/json"} if body is not None else {}
    if token is not None:
        all_headers["authorization"] = f"Bearer {token}"
    all_headers.update(headers or {})
    raw = body.encode() if isinstance(body, str) else body
    text = base64.b64encode(raw or b"").decode() if b64 else (raw or b"").decode("utf-8", "replace")
    event: dict[str, Any] = {"httpMethod": method, "path": path, "headers": all_headers, "queryString": query or {},
                             "body": text}  # fmt: skip
    if shape == "apigateway":
        event.update(requestContext={"path": path, "httpMethod": method, "sourceIp": "203.0.113.9", "stage": "release"},
                     isBase64Encoded=b64, queryStringParameters=query or {})  # fmt: skip
    elif b64:
        event["isBase64Encoded"] = True
    result = handle(event, {"request_id": "api-test"}, ports=ports)
    assert set(result) == {"isBase64Encoded", "statusCode", "headers", "body"}
    return result["statusCode"], json.loads(result["body"]) if result["body"] else None, result["headers"]
