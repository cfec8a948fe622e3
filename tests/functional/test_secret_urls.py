"""Callback URLs are secrets: targets are named by an opaque id, every answer and log line shows a URL as
``https://host/…``, and only the stored watch and the event's delivery target keep the full URL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from devkit.ciemu import CIEmulator
from jobwatch.entry import Ports, handle
from jobwatch.events import public_event, public_url
from tests.functional.apitools import JOB_ID, build_ports, call
from tests.stored import stored_ids

SECRET_PATH = "services/T0001/B0002/Xy9SecretPathPart"
SECRET_QUERY = "sig=QueryTokenValue77"
HOOK = f"https://hooks.example.com/{SECRET_PATH}?{SECRET_QUERY}"
GLOBAL_HOOK = "https://chat.example.com/webhook/GlobalPathSecret42?key=GlobalQuery42"
SECRETS = ("Xy9SecretPathPart", "QueryTokenValue77", "GlobalPathSecret42", "GlobalQuery42", "services/T0001")


def leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


@pytest.fixture
def ports(emulator: CIEmulator, tmp_path: Path) -> Ports:
    """API ports with a global webhook URL with a secret path and query; two sweeps make a failed delivery."""
    emulator.book.preload(2, seed=4, duration=(1, 2))
    ports = build_ports(emulator, tmp_path / "store", JOBWATCH_WEBHOOK_URL=GLOBAL_HOOK, JOBWATCH_LOG_LEVEL="DEBUG")
    return ports


def run_with_watch(ports: Ports, emulator: CIEmulator) -> list[Any]:
    job_id = next(iter(emulator.book.jobs))
    answers: list[Any] = [handle({"action": "sweep"}, {}, ports=ports)]
    answers.append(call(ports, "POST", "/watches", body=json.dumps({"jobId": job_id, "callbackUrl": HOOK})))
    answers.append(handle({"action": "watch", "jobId": JOB_ID, "callbackUrl": HOOK}, {}, ports=ports))
    emulator.clock.advance(30)
    answers.append(handle({"action": "sweep"}, {}, ports=ports))  # deliveries fail: no public address is reachable
    answers.append(call(ports, "GET", "/events"))
    answers.append(call(ports, "GET", "/events", query={"status": "pending"}))
    return answers


def test_events_answer_shows_no_callback_path_or_query(ports: Ports, emulator: CIEmulator) -> None:
    """GET /events names targets by opaque ids and shows URLs as https://host/… only."""
    answers = run_with_watch(ports, emulator)
    status, body, _ = answers[4]
    assert status == 200 and body["events"]
    text = json.dumps(body)
    assert leaks(text) == []
    event = body["events"][0]
    assert event["attempts"], "deliveries should have been attempted and failed"
    shown = {t["target"] for t in event["targets"].values()}
    assert "https://chat.example.com/…" in shown
    for name in event["targets"]:
        assert "/" not in name and ":" not in name  # an opaque id, not the URL
    assert {a["target"] for a in event["attempts"]} <= set(event["targets"])


def test_watch_answers_show_no_callback_path(ports: Ports, emulator: CIEmulator) -> None:
    """POST /watches and the watch action answer with the callback URL as https://host/…."""
    answers = run_with_watch(ports, emulator)
    _, created, _ = answers[1]
    assert created["watch"]["callbackUrl"] == "https://hooks.example.com/…"
    assert answers[2]["watch"]["callbackUrl"] == "https://hooks.example.com/…"
    assert leaks(json.dumps(answers, default=str)) == []


def test_logs_show_no_callback_path(ports: Ports, emulator: CIEmulator, capsys: pytest.CaptureFixture[str]) -> None:
    """DEBUG logs of failed deliveries name the target as https://host/…."""
    from jobwatch import logs

    logs.configure("DEBUG")
    run_with_watch(ports, emulator)
    printed = capsys.readouterr().out
    assert "chat.example.com/…" in printed and leaks(printed) == []


def test_delivery_still_has_the_full_url(ports: Ports, emulator: CIEmulator) -> None:
    """The stored watch and the event's stored target keep the full URL: delivery needs it."""
    run_with_watch(ports, emulator)
    watch = ports.records.watch(JOB_ID) or ports.records.finished_watch(JOB_ID)  # CI does not know JOB_ID: it ended
    assert watch is not None and watch["callbackUrl"] == HOOK
    stored = [ports.records.event(i) for i in stored_ids(ports.records, "events")]
    urls = {t.get("url") for e in stored for t in e["targets"].values()}  # type: ignore[index]
    assert GLOBAL_HOOK in urls


def test_old_events_keyed_by_url_are_shown_redacted() -> None:
    """Events stored before opaque ids (targets keyed webhook:<url>) are redacted in answers too."""
    old = {"id": "evt-b1-success", "targets": {f"webhook:{HOOK}": {"kind": "webhook", "url": HOOK, "status": "failed"},
                                               "chain:fn": {"kind": "chain", "function": "fn", "status": "delivered"}},
           "attempts": [{"target": f"webhook:{HOOK}", "status": 500}]}  # fmt: skip
    shown = public_event(old)
    assert leaks(json.dumps(shown)) == []
    assert {t["target"] for t in shown["targets"].values()} == {"https://hooks.example.com/…", "function fn"}
    assert shown["attempts"][0]["target"] in shown["targets"]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.example.com/a/b?c=d", "https://hooks.example.com/…"),
        ("https://hooks.example.com:8443/x", "https://hooks.example.com:8443/…"),
        ("https://hooks.example.com", "https://hooks.example.com/…"),
        ("https://[2606:4700::1]/x", "https://[2606:4700::1]/…"),
        ("https://user:pw@hooks.example.com/x", "https://hooks.example.com/…"),
        ("not a url at all/with/path", "(a URL)"),
    ],
)
def test_public_url(url: str, shown: str) -> None:
    """Only scheme, host and a non-default port are shown; never credentials, path or query."""
    assert public_url(url) == shown
