"""What CI echoes keeps no secret: a batch whose ``Operation.CallBack`` carries ``?token=`` and whose ``Input`` URL
carries a signed query goes through sweeps, webhooks, a chained invoke, every API route and the page's data calls,
and the token and signature are nowhere: not in the store, an answer, a delivered body or a log line. A store an
earlier version wrote with them is clean after the redaction pass."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from werkzeug import Request, Response

from devkit.ciemu import TEST_SECRET_ID, TEST_SECRET_KEY, CIEmulator, EmulatedJob
from devkit.ciemu.scf import SCFEmulator
from jobwatch import logs, scrubber
from jobwatch.config import Settings
from jobwatch.entry import handle
from jobwatch.service import Ports, secrets_of
from tests.functional.test_no_secrets import API_TOKEN, CALLBACK_TOKEN, every_route, http

if TYPE_CHECKING:
    from pytest_httpserver import HTTPServer

SIGNATURE = "ManifestSignature0badc0ffee"
KAFKA_PASSWORD = "KafkaPassword5150"
CALLBACK = f"https://fn.example.com/ci-callback?token={CALLBACK_TOKEN}"
MANIFEST = f"https://in-1250000000.cos.ap-guangzhou.myqcloud.com/m.json?q-sign-algorithm=sha1&q-signature={SIGNATURE}"
SECRETS = (CALLBACK_TOKEN, SIGNATURE, KAFKA_PASSWORD)


def batch(emulator: CIEmulator, n: int) -> EmulatedJob:
    operation = {"Tag": "Transcode", "QueueId": "q1", "CallBack": CALLBACK, "CallBackType": "Url",
                 "CallBackKafkaConfig": {"Url": f"kafka://user:{KAFKA_PASSWORD}@broker:9092/t"}}  # fmt: skip
    return emulator.book.add(
        EmulatedJob(
            f"b{n:032x}",
            "Job",
            f"echo-{n}",
            emulator.clock(),
            {"Manifest": MANIFEST},
            operation,
            submitted_for=1,
            running_for=5,
            objects=2,
            object_failure_ratio=0.0,
        )
    )


@pytest.fixture
def scf() -> Any:
    with SCFEmulator() as emulator:
        yield emulator


@pytest.fixture
def ports(emulator: CIEmulator, scf: SCFEmulator, tmp_path: Path, httpserver: HTTPServer) -> Ports:
    env = {"JOBWATCH_CI_ENDPOINT": emulator.url, "JOBWATCH_CI_BUCKET": "demo-1250000000",
           "JOBWATCH_CI_REGION": "ap-guangzhou", "TENCENTCLOUD_SECRETID": TEST_SECRET_ID,
           "TENCENTCLOUD_SECRETKEY": TEST_SECRET_KEY, "JOBWATCH_API_TOKEN": API_TOKEN,
           "JOBWATCH_CALLBACK_TOKEN": CALLBACK_TOKEN, "JOBWATCH_STORE": f"file:{tmp_path / 'store'}",
           "JOBWATCH_WEBHOOK_URL": httpserver.url_for("/hook"), "JOBWATCH_WEBHOOK_SECRET": "whsec_" + "A" * 32,
           "JOBWATCH_CALLBACK_ALLOW_NETS": "127.0.0.0/8", "JOBWATCH_CHAIN_FUNCTION": "next-step",
           "JOBWATCH_SCF_ENDPOINT": scf.url, "JOBWATCH_NOTIFY_ON": "all", "JOBWATCH_LOG_LEVEL": "DEBUG"}  # fmt: skip
    settings = Settings.from_env(env)
    logs.configure(settings.log_level, secrets_of(settings))
    return Ports.from_settings(settings)


def store_text(tmp_path: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in (tmp_path / "store").rglob("*") if p.is_file())


def test_echoed_secrets_are_nowhere(
    ports: Ports, emulator: CIEmulator, scf: SCFEmulator, httpserver: HTTPServer, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Sweeps, webhooks, a chained invoke, every route and the page's calls: the echoed secrets appear nowhere."""
    bodies: list[str] = []

    def receive(request: Request) -> Response:
        bodies.append(request.get_data(as_text=True))
        return Response("", status=204)

    httpserver.expect_request("/hook", method="POST").respond_with_handler(receive)
    jobs = [batch(emulator, n) for n in range(2)]
    answers: list[Any] = [handle({"action": "sweep"}, {}, ports=ports)]
    for _ in range(4):
        emulator.clock.advance(15)
        answers.append(handle({"Type": "Timer", "TriggerName": "t"}, {}, ports=ports))
    job_id = jobs[0].job_id
    answers += every_route(ports, job_id, httpserver.url_for("/watch-hook"))
    answers += [http(ports, "GET", f"/jobs/{job_id}/record"), http(ports, "GET", "/jobs", query={"limit": "50"}),
                http(ports, "GET", "/events", query={"limit": "50"}), http(ports, "GET", f"/jobs/{job_id}/objects"),
                http(ports, "GET", f"/jobs/{job_id},{jobs[1].job_id}")]  # fmt: skip
    answers += [handle({"action": a, "jobIds": [job_id], "jobId": job_id}, {}, ports=ports)
                for a in ("describe", "record", "objects", "report")]  # fmt: skip
    printed = capsys.readouterr()

    record = ports.records.job(job_id)
    assert record is not None and record["operation"]["CallBack"] == "https://fn.example.com/ci-callback"
    assert record["input"]["Manifest"].endswith("/m.json") and "ci-callback" in record["raw"]
    assert any('"ci.batchjob.succeeded"' in b for b in bodies) and scf.invocations
    invoked = [i.client_context for i in scf.invocations]
    texts = {"store": store_text(tmp_path), "answers": json.dumps(answers, default=str), "webhooks": "\n".join(bodies),
             "chained": "\n".join(invoked), "logs": printed.out + printed.err}  # fmt: skip
    assert "fn.example.com/ci-callback" in texts["webhooks"] and "fn.example.com/ci-callback" in texts["chained"]
    found = {(where, s) for where, text in texts.items() for s in SECRETS if s in text}
    assert found == set()


def test_store_of_an_earlier_version_is_cleaned(
    ports: Ports, emulator: CIEmulator, tmp_path: Path, httpserver: HTTPServer
) -> None:
    """Records, events and indexes an earlier version wrote with the secrets are redacted by the sweeps' pass."""
    httpserver.expect_request("/hook", method="POST").respond_with_data("", status=204)
    jobs = [batch(emulator, n) for n in range(3)]
    handle({"action": "sweep"}, {}, ports=ports)
    emulator.clock.advance(60)
    handle({"action": "sweep"}, {}, ports=ports)
    store = ports.records.store
    planted = 0
    for key in [*store.list("jobs/"), *store.list("events/"), *store.list("index/")]:
        document = json.loads(store.get(key) or b"{}")
        text = json.dumps(document)
        # as an earlier version stored it: CI's URLs verbatim
        text = text.replace('"https://fn.example.com/ci-callback"', json.dumps(CALLBACK))
        text = text.replace("https://fn.example.com/ci-callback<", f"{CALLBACK}<".replace("&", "&amp;"))
        if text != json.dumps(document):
            store.put(key, text.encode())
            planted += 1
    assert planted >= len(jobs) and CALLBACK_TOKEN in store_text(tmp_path)
    latest = json.loads(store.get("sweeps/latest.json") or b"{}")
    store.put("sweeps/latest.json", json.dumps({**latest, "scrubCursor": ""}).encode())  # the pass not yet run
    rewritten = 0
    for _ in range(5):
        summary = handle({"action": "sweep"}, {}, ports=ports)
        rewritten += summary.get("redacted", 0)
        if summary.get("scrubCursor") == scrubber.DONE:
            break
    # the job records are rewritten by the pass alone (their jobs have ended: no sweep writes them again)
    assert summary.get("scrubCursor") == scrubber.DONE and rewritten >= len(jobs)
    dirty = [str(p) for p in (tmp_path / "store").rglob("*") if p.is_file() and CALLBACK_TOKEN in p.read_text()]
    assert dirty == []
