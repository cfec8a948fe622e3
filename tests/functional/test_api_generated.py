"""Generated HTTP requests, over 2,000 of them: methods, paths, queries, headers, bodies (JSON, XML, hostile, deep,
non-finite, base64, Unicode) in both event shapes never get a 5xx, an uncaught exception or a non-JSON answer."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobwatch.api import ROUTES
from jobwatch.entry import Ports, handle
from tests.functional.apitools import CALLBACK_TOKEN, JOB_ID, TOKEN, WORKFLOW_ID

EXAMPLES = 2_100
PARAMS = {"jobIds": f"{WORKFLOW_ID},{JOB_ID}", "jobId": JOB_ID, "eventId": f"evt-{WORKFLOW_ID}-success",
          "part": "objects-00001.csv", "asset": "app.js"}  # fmt: skip
ROUTES_FILLED = [(r.method, re.sub(r"\{(\w+)\}", lambda m: PARAMS[m.group(1)], r.pattern)) for r in ROUTES]

texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
odd_digits = st.sampled_from(["²", "١٠", "１０", "0", "-1", "100", "101", "007", " 5", "5\n", "1e2", "NaN"])
segments = st.one_of(
    st.sampled_from(["jobs", "watches", "events", "sweep", "ci-callback", "healthz", "replay", "record", "objects",
                     "report", "ui", WORKFLOW_ID, JOB_ID, f"evt-{WORKFLOW_ID}-success", "b1", "..", "%2e%2e", "",
                     "b1\n", "b1%00", "b\u00e91", "b1,b2", "a" * 65]),
    texts,
)  # fmt: skip
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)
json_bodies = st.one_of(
    json_values.map(json.dumps),
    st.fixed_dictionaries({"jobId": st.one_of(st.just(JOB_ID), texts)},
                          optional={"callbackUrl": texts, "metadata": json_values, "chainFunction": texts})
    .map(json.dumps),
    st.integers(0, 3_000).map(lambda depth: '{"jobId": "b1", "metadata": ' + "[" * depth + "1" + "]" * depth + "}"),
    st.sampled_from(['{"jobId": "b1", "metadata": {"x": NaN}}', '{"x": Infinity}', "[-Infinity]", '{"a": 1e999}',
                     '{"EventName": "TaskFinish", "JobId": "b' + "0" * 32 + '"}', '{"EventName": "WorkflowFinish"}',
                     "{", "[]", "null", '"\\ud800"']),
)  # fmt: skip
xml_bodies = st.sampled_from([
    "<Response><EventName>TaskFinish</EventName></Response>",
    '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><Response>&x;</Response>',
    "<Response><EventName>WorkflowFinish</EventName><JobId>b" + "1" * 32 + "</JobId></Response>",
    "<Response><EventName>",
    "<?xml version='1.0' encoding='UTF-16'?><a/>",
])  # fmt: skip
bodies = st.one_of(st.none(), texts, json_bodies, xml_bodies)
header_values = st.one_of(
    st.sampled_from([f"Bearer {TOKEN}", f"bearer {TOKEN}", f"Bearer {CALLBACK_TOKEN}", "Bearer ", "Basic x",
                     "application/json", "application/json; charset=utf-8", "application/xml", "text/xml",
                     "application/x-www-form-urlencoded", "text/plain"]),
    texts,
    st.lists(texts, max_size=3),
)  # fmt: skip
queries = st.dictionaries(
    st.one_of(st.sampled_from(["state", "type", "limit", "cursor", "status", "token", "access_token"]), texts),
    st.one_of(texts, odd_digits, st.sampled_from([TOKEN, CALLBACK_TOKEN, "Success", "Workflow", "failed"])),
    max_size=4,
)  # fmt: skip


@st.composite
def http_events(draw: st.DrawFn) -> dict[str, Any]:
    if draw(st.booleans()):  # a real route with a valid token, so the bad parts reach the handlers
        method, path = draw(st.sampled_from(ROUTES_FILLED))
        path += draw(st.sampled_from(["", "", "/", "\n", "%0a", "/x"]))
        headers: dict[str, Any] = {
            "authorization": f"Bearer {TOKEN}",
            "content-type": draw(st.sampled_from(["application/json", "application/xml"])),
        }
    else:
        method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "get", "", "GET\n"]))
        path = "/" + "/".join(draw(st.lists(segments, max_size=4)))
        headers = draw(st.dictionaries(st.sampled_from(["authorization", "Authorization", "content-type",
                                                        "Content-Type", "x-other"]), header_values))  # fmt: skip
    query = draw(queries)
    body = draw(bodies)
    event: dict[str, Any] = {"httpMethod": method, "path": path, "headers": headers, "body": body}
    encode = draw(st.sampled_from(["plain", "base64", "bad-base64"]))
    if encode == "base64" and body is not None:
        event["body"] = base64.b64encode(body.encode("utf-8", "surrogatepass")).decode()
        event["isBase64Encoded"] = True
    elif encode == "bad-base64":
        event["isBase64Encoded"] = True
    if draw(st.booleans()):  # API Gateway shape
        event.update(requestContext={"sourceIp": "203.0.113.1", "path": path, "httpMethod": method},
                     queryStringParameters=query)  # fmt: skip
        event.setdefault("isBase64Encoded", False)
    else:
        event["queryString"] = query
    return event


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                        HealthCheck.too_slow])  # fmt: skip
@given(event=http_events())
def test_generated_requests_never_5xx(api: Ports, event: dict[str, Any]) -> None:
    """A generated request gets a 2xx-4xx integration response with a JSON (or empty) body, never an exception."""
    result = handle(event, {"request_id": "fuzz"}, ports=api)
    assert set(result) == {"isBase64Encoded", "statusCode", "headers", "body"}, result
    assert 200 <= result["statusCode"] < 500, (event, result)
    kind = result["headers"]["Content-Type"]
    if not kind.startswith("application/json"):  # the status page, its assets and report parts
        assert result["statusCode"] == 200 and kind.split(";")[0] in (
            "text/html",
            "text/css",
            "text/javascript",
            "text/csv",
        )
    elif result["body"]:
        answer = json.loads(result["body"])
        if result["statusCode"] >= 400:
            assert set(answer["error"]) == {"code", "message", "source"}
