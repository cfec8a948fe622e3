"""The HTTP API through main_handler, in both event shapes: every route, a bad-input suite, generated requests."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest

from devkit.ciemu import CIEmulator
from jobwatch.api import ROUTES
from jobwatch.ci import CIClient
from jobwatch.config import Settings
from jobwatch.entry import Ports, handle
from jobwatch.records import Records
from jobwatch.store import FileStore
from tests.conftest import load_event
from tests.functional.apitools import CALLBACK_TOKEN, CREDENTIALS, JOB_ID, ROOT, SHAPES, TOKEN, WORKFLOW_ID, call

EXPECTED = {
    "healthz": 200, "jobs-list": 200, "jobs-live": 200, "watch-create": 201, "watch-delete": 204,
    "events-list": 200, "event-replay": 202, "sweep": 200, "ci-callback": 202, "job-record": 200,
    "job-objects": 200, "job-report": 200, "job-report-part": 200, "targets": 200,
}  # fmt: skip


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_route_from_sample_events(api: Ports, shape: str, name: str) -> None:
    """Each sample event in events/ (both shapes) gets its documented success status through main_handler."""
    result = handle(load_event(f"http-{shape}-{name}.json"), {"request_id": "r"}, ports=api)
    assert result["statusCode"] == EXPECTED[name], result["body"]
    assert result["headers"]["Content-Type"].startswith("text/csv" if name == "job-report-part" else "application/json")


class TestRoutes:
    def test_live_jobs(self, api: Ports) -> None:
        """GET /jobs/{ids} asks CI now and reports unknown IDs."""
        status, body, _ = call(api, "GET", f"/jobs/{WORKFLOW_ID},{JOB_ID},b{'0' * 32}")
        assert status == 200 and {j["jobId"] for j in body["jobs"]} == {WORKFLOW_ID, JOB_ID}
        assert body["nonExistJobIds"] == ["b" + "0" * 32]

    def test_stored_jobs_filtered_and_paged(self, api: Ports, emulator: CIEmulator) -> None:
        """GET /jobs filters by state and type, and a cursor walk returns every record once."""
        emulator.book.preload(25, seed=3, duration=(500, 600))
        call(api, "POST", "/sweep")
        _, done, _ = call(api, "GET", "/jobs", query={"state": "Success"})
        assert [j["jobId"] for j in done["jobs"]] == [WORKFLOW_ID] and "raw" not in done["jobs"][0]
        _, jobs_only, _ = call(api, "GET", "/jobs", query={"type": "Job", "limit": "100"})
        assert jobs_only["jobs"] and {j["type"] for j in jobs_only["jobs"]} == {"Job"}
        seen: list[str] = []
        cursor = ""
        while True:
            _, page, _ = call(api, "GET", "/jobs", query={"limit": "4", **({"cursor": cursor} if cursor else {})})
            seen += [j["jobId"] for j in page["jobs"]]
            if not page["nextCursor"]:
                break
            cursor = page["nextCursor"]
        assert len(seen) == len(set(seen)) == 27

    def test_watch_lifecycle(self, api: Ports) -> None:
        """POST /watches answers 201, then 200 when identical; DELETE answers 204 and removes it."""
        watch = {"jobId": JOB_ID, "callbackUrl": "https://hooks.example.com/ci", "metadata": {"k": "v"}}
        assert call(api, "POST", "/watches", body=json.dumps(watch))[0] == 201
        status, body, _ = call(api, "POST", "/watches", body=json.dumps(watch))
        assert status == 200 and body["created"] is False
        assert call(api, "DELETE", f"/watches/{JOB_ID}")[0] == 204
        assert api.records.watch(JOB_ID) is None

    def test_events_and_replay(self, api: Ports) -> None:
        """GET /events lists the stored event; POST /events/{id}/replay re-queues it (202)."""
        _, body, _ = call(api, "GET", "/events")
        (event,) = body["events"]
        assert event["id"] == f"evt-{WORKFLOW_ID}-success"
        status, replayed, _ = call(api, "POST", f"/events/{event['id']}/replay")
        assert status == 202 and replayed["eventId"] == event["id"]
        assert call(api, "GET", "/events", query={"status": "failed"})[1]["events"] == []

    def test_callback_refreshes_at_once(self, api: Ports, emulator: CIEmulator) -> None:
        """A CI callback runs a refresh: a job that just finished gets its event in the same call."""
        emulator.clock.advance(600)  # the Job-type sample has finished by now (and the last sweep is old)
        status, body, _ = call(api, "POST", "/ci-callback", query={"token": CALLBACK_TOKEN}, token=None,
                               headers={"content-type": "application/json"},
                               body=json.dumps({"EventName": "TaskFinish", "JobsDetail": {"JobId": "j1", "State": "Success"}}))  # fmt: skip
        assert status == 202 and body["sweep"]["eventsEmitted"] == 1
        assert api.records.event(f"evt-{JOB_ID}-success") is not None

    def test_callback_storm_refreshes_once(self, api: Ports, emulator: CIEmulator) -> None:
        """Many callbacks within seconds (one per media job) trigger one refresh, not one each."""
        emulator.clock.advance(600)
        body = json.dumps({"EventName": "TaskFinish"})
        answers = [call(api, "POST", "/ci-callback", body=body, token=CALLBACK_TOKEN)[1]["sweep"] for _ in range(5)]
        assert "jobsSeen" in answers[0] and all("skipped" in a for a in answers[1:])
        emulator.clock.advance(11)
        assert "jobsSeen" in call(api, "POST", "/ci-callback", body=body, token=CALLBACK_TOKEN)[1]["sweep"]

    def test_callback_names_batch_job(self, api: Ports, emulator: CIEmulator) -> None:
        """Batch-job IDs a callback carries are reported and described."""
        emulator.clock.advance(60)
        xml = f"<Response><EventName>WorkflowFinish</EventName><WorkflowExecution><JobId>{JOB_ID}</JobId></WorkflowExecution></Response>"
        status, body, _ = call(
            api, "POST", "/ci-callback", headers={"content-type": "application/xml"}, body=xml, token=CALLBACK_TOKEN
        )
        assert status == 202 and body["jobIds"] == [JOB_ID]

    def test_base64_body(self, api: Ports) -> None:
        """A base64-flagged body (API Gateway option) is decoded."""
        watch = json.dumps({"jobId": JOB_ID})
        assert call(api, "POST", "/watches", shape="apigateway", body=watch, b64=True)[0] == 201

    def test_api_off_without_token(self, emulator: CIEmulator, tmp_path: Path) -> None:
        """Without JOBWATCH_API_TOKEN every route but /healthz answers 503."""
        settings = Settings.from_env({"JOBWATCH_CI_ENDPOINT": emulator.url, "JOBWATCH_CI_BUCKET": "demo-1250000000"})
        ports = Ports(settings, Records(FileStore(tmp_path)), lambda: CIClient(emulator.url, CREDENTIALS))
        assert call(ports, "GET", "/jobs")[0] == 503 and call(ports, "GET", "/healthz", token=None)[0] == 200

    def test_ci_outage_is_503(self, api: Ports, emulator: CIEmulator) -> None:
        """When CI is down, a live query answers 503 with Retry-After, not 500."""
        emulator.faults.error_ratio = 1.0
        status, body, headers = call(api, "GET", f"/jobs/{JOB_ID}")
        assert status == 503 and body["error"]["code"] == "CI.InternalError" and headers["Retry-After"]


HOSTILE_XML = [
    '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><Response><EventName>&x;</EventName></Response>',
    '<!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1:1/x.dtd"> %p;]><Response/>',
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><Response>&lol2;</Response>',
    "<Response><EventName>TaskFinish</EventName><JobsDetail>",
    "<Response><EventName>Nope</EventName></Response>",
    "<Response/>",
]

BAD: list[tuple[str, str, str, dict[str, Any], int]] = [
    # (id, method, path, options for call(), expected status)
    ("no-token", "GET", "/jobs", {"token": None}, 401),
    ("wrong-token", "GET", "/jobs", {"token": "nope"}, 401),
    ("token-prefix", "GET", "/jobs", {"token": TOKEN[:-1]}, 401),
    ("token-longer", "GET", "/jobs", {"token": TOKEN + "x"}, 401),
    ("basic-auth", "GET", "/jobs", {"token": None, "headers": {"authorization": "Basic Y2hhbmdlLW1lOg=="}}, 401),
    ("query-token-elsewhere", "GET", "/jobs", {"token": None, "query": {"token": TOKEN}}, 401),
    ("callback-wrong-query-token", "POST", "/ci-callback", {"token": None, "query": {"token": "x"}, "body": "<a/>"}, 401),
    ("unknown-route", "GET", "/nope", {}, 404),
    ("unknown-nested", "GET", "/jobs/b1/extra", {}, 404),
    ("root", "GET", "/", {}, 404),
    ("traversal-route", "GET", "/../etc/passwd", {}, 404),
    ("method-jobs", "POST", "/jobs", {}, 405),
    ("method-healthz", "DELETE", "/healthz", {}, 405),
    ("method-watches", "GET", "/watches", {}, 405),
    ("method-watch-put", "PUT", "/watches/b1", {}, 405),
    ("method-sweep", "GET", "/sweep", {}, 405),
    ("method-replay", "GET", "/events/evt-1/replay", {}, 405),
    ("method-callback", "GET", "/ci-callback", {}, 405),
    ("method-patch", "PATCH", "/events", {}, 405),
    ("id-traversal", "GET", "/jobs/..%2F..%2Fetc", {}, 400),
    ("id-dots", "GET", "/jobs/b1.json", {}, 400),
    ("id-too-long", "GET", "/jobs/" + "b" * 65, {}, 400),
    ("id-101", "GET", "/jobs/" + ",".join(f"b{i}" for i in range(101)), {}, 400),
    ("id-empty-item", "GET", "/jobs/b1,,b2", {}, 400),
    ("id-unicode", "GET", "/jobs/b\u00e91", {}, 400),
    ("delete-bad-id", "DELETE", "/watches/b1;rm", {}, 400),
    ("replay-bad-id", "POST", "/events/evt.1/replay", {}, 400),
    ("replay-unknown", "POST", "/events/evt-none/replay", {}, 404),
    ("state-bad", "GET", "/jobs", {"query": {"state": "Done"}}, 400),
    ("type-bad", "GET", "/jobs", {"query": {"type": "Batch"}}, 400),
    ("limit-zero", "GET", "/jobs", {"query": {"limit": "0"}}, 400),
    ("limit-big", "GET", "/jobs", {"query": {"limit": "101"}}, 400),
    ("limit-text", "GET", "/events", {"query": {"limit": "ten"}}, 400),
    ("cursor-garbage", "GET", "/jobs", {"query": {"cursor": "!!!"}}, 400),
    ("cursor-foreign", "GET", "/jobs", {"query": {"cursor": base64.urlsafe_b64encode(b"watches/x.json").decode()}}, 400),
    ("status-bad", "GET", "/events", {"query": {"status": "lost"}}, 400),
    ("watch-no-body", "POST", "/watches", {"body": ""}, 400),
    ("watch-not-json", "POST", "/watches", {"body": "{jobId:"}, 400),
    ("watch-array", "POST", "/watches", {"body": "[]"}, 400),
    ("watch-no-id", "POST", "/watches", {"body": "{}"}, 400),
    ("watch-bad-id", "POST", "/watches", {"body": '{"jobId": "../x"}'}, 400),
    ("watch-blank-url", "POST", "/watches", {"body": '{"jobId": "b1", "callbackUrl": " "}'}, 400),
    ("watch-private-url", "POST", "/watches", {"body": '{"jobId": "b1", "callbackUrl": "https://10.0.0.1/"}'}, 400),
    ("watch-metadata-url", "POST", "/watches", {"body": '{"jobId": "b1", "callbackUrl": "http://169.254.169.254/"}'}, 400),
    ("watch-http-url", "POST", "/watches", {"body": '{"jobId": "b1", "callbackUrl": "http://hooks.example.com/"}'}, 400),
    ("watch-numeric-url", "POST", "/watches", {"body": '{"jobId": "b1", "callbackUrl": "https://2130706433/"}'}, 400),
    ("watch-big-metadata", "POST", "/watches", {"body": json.dumps({"jobId": "b1", "metadata": {"x": "y" * 5000}})}, 400),
    ("watch-bad-chain", "POST", "/watches", {"body": '{"jobId": "b1", "chainFunction": "a b"}'}, 400),
    ("watch-extra-field", "POST", "/watches", {"body": '{"jobId": "b1", "admin": true}'}, 400),
    ("watch-text-type", "POST", "/watches", {"body": '{"jobId": "b1"}', "headers": {"content-type": "text/plain"}}, 415),
    ("watch-form-type", "POST", "/watches",
     {"body": "jobId=b1", "headers": {"content-type": "application/x-www-form-urlencoded"}}, 415),
    ("watch-oversized", "POST", "/watches", {"body": json.dumps({"jobId": "b1", "pad": "x" * 70_000})}, 413),
    ("watch-bad-base64", "POST", "/watches", {"body": "not base64!", "b64": False, "shape": "apigateway-b64"}, 400),
    ("callback-empty", "POST", "/ci-callback", {"token": CALLBACK_TOKEN, "body": "", "headers": {"content-type": "application/xml"}}, 400),
    ("callback-yaml", "POST", "/ci-callback", {"token": CALLBACK_TOKEN, "body": "a: 1", "headers": {"content-type": "application/yaml"}}, 415),
    ("callback-json-bad", "POST", "/ci-callback", {"token": CALLBACK_TOKEN, "body": "{", "headers": {"content-type": "application/json"}}, 400),
    ("callback-json-no-name", "POST", "/ci-callback", {"token": CALLBACK_TOKEN, "body": "{}", "headers": {"content-type": "application/json"}}, 400),
    ("callback-oversized", "POST", "/ci-callback", {"token": CALLBACK_TOKEN, "body": "<a>" + "x" * 70_000 + "</a>",
                                                    "headers": {"content-type": "application/xml"}}, 413),
    *[(f"callback-xml-{i}", "POST", "/ci-callback", {"token": CALLBACK_TOKEN, "body": x, "headers": {"content-type": "application/xml"}}, 400)
      for i, x in enumerate(HOSTILE_XML)],
]  # fmt: skip


@pytest.mark.parametrize(("case", "method", "path", "options", "status"), BAD, ids=[b[0] for b in BAD])
def test_bad_input(api: Ports, case: str, method: str, path: str, options: dict[str, Any], status: int) -> None:
    """Each bad request gets its documented 4xx and a JSON error, never a 5xx; nothing is stored."""
    options = dict(options)
    if options.pop("shape", None) == "apigateway-b64":
        event = {"httpMethod": method, "path": path, "headers": {"authorization": f"Bearer {TOKEN}"},
                 "body": options["body"], "isBase64Encoded": True, "requestContext": {}}  # fmt: skip
        result = handle(event, {}, ports=api)
        got, body = result["statusCode"], json.loads(result["body"])
    else:
        got, body, _ = call(api, method, path, **options)
    assert got == status, body
    assert set(body["error"]) == {"code", "message", "source"} and body["error"]["message"]
    assert api.records.watch("b1") is None


@pytest.mark.parametrize(
    "event",
    [
        {"httpMethod": "GET", "path": "/healthz", "headers": ["x"]},
        {"httpMethod": "GET", "path": "/healthz", "queryString": "a=1"},
        {"httpMethod": "GET", "path": "/healthz", "body": 5},
        {"httpMethod": None, "path": "/healthz"},
        {"httpMethod": "GET", "path": "healthz"},
    ],
)
def test_malformed_events_are_400(api: Ports, event: dict[str, Any]) -> None:
    """HTTP events with malformed parts are answered 400 in the integration format."""
    result = handle(event, {}, ports=api)
    assert result["statusCode"] == 400 and json.loads(result["body"])["error"]["code"] == "InvalidArgument"


class TestOpenAPI:
    spec = json.loads((ROOT / "openapi.json").read_text())

    def test_valid_document(self) -> None:
        """openapi.json is a valid OpenAPI 3 document."""
        from openapi_spec_validator import validate

        validate(self.spec)

    def test_routes_match_router(self) -> None:
        """The document and the router list exactly the same (method, path) pairs."""
        documented = {(m.upper(), p) for p, ops in self.spec["paths"].items() for m in ops}
        served = {(r.method, r.pattern) for r in ROUTES}
        assert documented == served

    def test_public_routes_match(self) -> None:
        """Routes without auth in the router are exactly those with empty security in the document."""
        open_doc = {p for p, ops in self.spec["paths"].items() for o in ops.values() if o.get("security") == []}
        assert open_doc == {r.pattern for r in ROUTES if r.public}

    def test_readme_shows_every_route(self) -> None:
        """The README has a curl example for every route."""
        readme = (ROOT / "README.md").read_text().replace("\\\n", " ")  # join continued shell lines
        for route in ROUTES:
            prefix = re.sub(r"\{\w+\}.*", "", route.pattern)
            assert re.search(rf"curl[^\n]*-X {route.method}[^\n]*{re.escape(prefix)}", readme) or (
                route.method == "GET" and re.search(rf"curl[^\n]*{re.escape(prefix)}", readme)
            ), route
