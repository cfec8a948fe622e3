"""The API token never rides in a URL: /ci-callback takes only JOBWATCH_CALLBACK_TOKEN (which grants nothing else),
the API token is refused in any query string, and no log line shows a query string."""

from __future__ import annotations

import io
import json
import urllib.request
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from devkit.apiserver import make_handler
from devkit.ciemu import CIEmulator
from devkit.localserver import Serving
from jobwatch.config import Settings
from jobwatch.entry import Ports, handle
from jobwatch.errors import ConfigError
from tests.conftest import load_event
from tests.functional.apitools import CALLBACK_TOKEN, TOKEN, build_ports, call

NOTICE = json.dumps({"EventName": "TaskFinish"})


@pytest.fixture
def ports(api: Ports) -> Ports:
    """The API's ports: JOBWATCH_CALLBACK_TOKEN is set (to CALLBACK_TOKEN)."""
    return api


def test_callback_token_in_query_is_accepted(ports: Ports) -> None:
    """CI's callback with ?token=<callback token> is accepted."""
    status, body, _ = call(ports, "POST", "/ci-callback", query={"token": CALLBACK_TOKEN}, token=None, body=NOTICE)
    assert status == 202 and body["accepted"] is True


def test_api_token_in_callback_query_is_refused(ports: Ports) -> None:
    """The API token in /ci-callback's query is refused (it would end up in CI's job configuration and logs)."""
    status, body, _ = call(ports, "POST", "/ci-callback", query={"token": TOKEN}, token=None, body=NOTICE)
    assert status == 401 and "URL" in body["error"]["message"]


def test_api_token_as_bearer_does_not_open_callback(ports: Ports) -> None:
    """/ci-callback accepts only the callback token: the API token as a bearer header is not it."""
    status, _, _ = call(ports, "POST", "/ci-callback", body=NOTICE)
    assert status == 401


@pytest.mark.parametrize(("method", "path"), [("GET", "/jobs"), ("GET", "/events"), ("POST", "/sweep")])
def test_callback_token_grants_nothing_else(ports: Ports, method: str, path: str) -> None:
    """The callback token opens no other route, as a bearer header or in the query."""
    assert call(ports, method, path, token=CALLBACK_TOKEN)[0] == 401
    assert call(ports, method, path, token=None, query={"token": CALLBACK_TOKEN})[0] == 401


@pytest.mark.parametrize(("method", "path"), [("GET", "/jobs"), ("GET", "/events"), ("GET", "/healthz")])
@pytest.mark.parametrize("name", ["token", "access_token", "x"])
def test_api_token_in_any_query_is_refused(ports: Ports, method: str, path: str, name: str) -> None:
    """The API token anywhere in a query string is refused, even with a valid bearer header."""
    status, body, _ = call(ports, method, path, query={name: TOKEN})
    assert status == 401 and "URL" in body["error"]["message"]


def test_callback_without_its_token_configured_is_503(emulator: CIEmulator, tmp_path: Path) -> None:
    """Without JOBWATCH_CALLBACK_TOKEN the callback route is off (503), whatever is sent."""
    off = build_ports(emulator, tmp_path, JOBWATCH_CALLBACK_TOKEN="")
    status, body, _ = call(off, "POST", "/ci-callback", query={"token": "anything"}, token=None, body=NOTICE)
    assert status == 503 and "JOBWATCH_CALLBACK_TOKEN" in body["error"]["message"]


def test_callback_token_must_differ_from_api_token() -> None:
    """A callback token equal to the API token is a configuration error: it would put the API token in URLs."""
    with pytest.raises(ConfigError, match="JOBWATCH_CALLBACK_TOKEN"):
        Settings.from_env({"JOBWATCH_API_TOKEN": "same-token-1", "JOBWATCH_CALLBACK_TOKEN": "same-token-1"})


def test_sample_callback_event_uses_the_callback_token(ports: Ports) -> None:
    """The sample ci-callback events carry a callback token, not the API token."""
    for shape in ("functionurl", "apigateway"):
        event = load_event(f"http-{shape}-ci-callback.json")
        query = event.get("queryString") or {}
        assert query.get("token") != TOKEN and "authorization" not in {k.lower() for k in event["headers"]}


def test_local_api_server_logs_no_query(ports: Ports, monkeypatch: pytest.MonkeyPatch) -> None:
    """The local API server's access log shows paths without their query strings."""
    captured = io.StringIO()
    monkeypatch.setattr("sys.stderr", captured)
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(lambda e, c: handle(e, c, ports=ports)))
    with Serving(server) as served:
        url = f"{served.url}/ci-callback?token={CALLBACK_TOKEN}"
        request = urllib.request.Request(url, data=NOTICE.encode(), headers={"content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 202
    log = captured.getvalue()
    assert "/ci-callback" in log and CALLBACK_TOKEN not in log and "?" not in log
