"""Strict input at every door: ASCII-only numbers, bounded JSON nesting, no NaN or Infinity, whole-path routes,
control characters in direct-invoke IDs, and a base64 body's size checked before it is decoded."""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path
from typing import Any

import pytest

from devkit.ciemu import CIEmulator
from jobwatch import httpmessage
from jobwatch.entry import Ports, handle
from tests.functional.apitools import CALLBACK_TOKEN, JOB_ID, TOKEN, call


def nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


def nested_text(depth: int) -> str:
    """``depth`` nested arrays as JSON text (json.dumps itself would recurse too deeply)."""
    return "[" * depth + '"x"' + "]" * depth


@pytest.mark.parametrize("digits", ["²", "¹⁰", "٣", "１０", "1\u0660", "+5", "-1", " 5", "5 "])
@pytest.mark.parametrize("path", ["/jobs", "/events"])
def test_limit_is_ascii_digits_only(api: Ports, path: str, digits: str) -> None:
    """A limit that is not plain ASCII digits is a 400, never a 500 (some Unicode digits pass isdigit())."""
    status, body, _ = call(api, "GET", path, query={"limit": digits})
    assert status == 400 and body["error"]["code"] == "InvalidArgument"


@pytest.mark.parametrize("depth", [33, 5_000, 20_000])
def test_deep_json_body_is_400(api: Ports, depth: int) -> None:
    """A JSON body nested deeper than 32 levels is a 400, not a RecursionError."""
    body = f'{{"jobId": "{JOB_ID}", "metadata": {{"deep": {nested_text(depth)}}}}}'
    status, answer, _ = call(api, "POST", "/watches", body=body)
    assert status == 400 and "nest" in answer["error"]["message"]
    assert api.records.watch(JOB_ID) is None


def test_json_at_the_depth_limit_is_accepted(api: Ports) -> None:
    """A body exactly 32 levels deep is fine (the limit is a limit, not a ban on nesting)."""
    body = {"jobId": JOB_ID, "metadata": {"deep": nested(29)}}  # body, metadata, deep + 29 lists = 32 levels
    status, _, _ = call(api, "POST", "/watches", body=json.dumps(body))
    assert status == 201


@pytest.mark.parametrize("depth", [33, 20_000])
def test_deep_json_ci_callback_is_400(api: Ports, depth: int) -> None:
    """A CI callback nested too deeply is a 400."""
    body = f'{{"EventName": "TaskFinish", "JobsDetail": {nested_text(depth)}}}'
    status, answer, _ = call(api, "POST", "/ci-callback", query={"token": CALLBACK_TOKEN}, token=None, body=body)
    assert status == 400 and answer["error"]["code"] == "InvalidArgument"


def test_deep_timer_message_is_not_an_internal_error(api: Ports) -> None:
    """A timer whose Message is deeply nested JSON still sweeps; its options are ignored with a warning."""
    event = {"Type": "Timer", "TriggerName": "t", "Time": "2026-01-01T00:00:00Z", "Message": nested_text(50_000)}
    result = handle(event, {"request_id": "deep"}, ports=api)
    assert result.get("ok") is True and "jobsSeen" in result


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_refused_in_bodies(api: Ports, constant: str) -> None:
    """NaN and Infinity in a JSON body are a 400 and nothing is stored."""
    body = f'{{"jobId": "{JOB_ID}", "metadata": {{"x": {constant}}}}}'
    status, answer, _ = call(api, "POST", "/watches", body=body)
    assert status == 400 and answer["error"]["code"] == "InvalidArgument"
    assert api.records.watch(JOB_ID) is None


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_nan_refused_from_direct_invoke(api: Ports, value: float) -> None:
    """A direct invoke carrying a non-finite number in metadata is InvalidArgument and is never stored."""
    result = handle({"action": "watch", "jobId": JOB_ID, "metadata": {"n": value}}, {}, ports=api)
    assert result["ok"] is False and result["error"]["code"] == "InvalidArgument"
    assert api.records.watch(JOB_ID) is None


def test_deep_metadata_from_direct_invoke_refused(api: Ports) -> None:
    """A direct invoke with metadata nested past the limit is InvalidArgument, not a RecursionError."""
    result = handle({"action": "watch", "jobId": JOB_ID, "metadata": {"d": nested(5_000)}}, {}, ports=api)
    assert result["ok"] is False and result["error"]["code"] == "InvalidArgument"


def test_no_store_write_or_answer_holds_nan(api: Ports) -> None:
    """Serialising a non-finite number anywhere raises instead of writing NaN (allow_nan=False on every dump)."""
    from jobwatch import events, records

    with pytest.raises(ValueError):
        records.dumps({"x": math.nan})
    with pytest.raises(ValueError):
        events.body_bytes({"x": math.inf})
    with pytest.raises(ValueError):
        httpmessage.respond(200, {"x": math.nan})


@pytest.mark.parametrize("path", ["/healthz\n", "/jobs\n", "/healthz\r\n", "/events\n/", "/sweep\x00"])
def test_routes_match_the_whole_path(api: Ports, path: str) -> None:
    """A trailing newline or control character does not match a route."""
    status, body, _ = call(api, "GET" if "sweep" not in path else "POST", path)
    assert status in (400, 404), body


@pytest.mark.parametrize(
    "event",
    [
        {"action": "replay", "eventId": "evt\x00x"},
        {"action": "replay", "eventId": "evt-1\n"},
        {"action": "replay", "eventId": "evt\u202e1"},
        {"action": "unwatch", "jobId": "b1\x00"},
        {"action": "unwatch", "jobId": "b1\n"},
        {"action": "watch", "jobId": "b1\r"},
        {"action": "describe", "jobIds": ["b1", "b2\x07"]},
    ],
)
def test_control_characters_in_ids_are_invalid_argument(api: Ports, event: dict[str, Any]) -> None:
    """Control characters in IDs from a direct invoke give InvalidArgument, never InternalError."""
    result = handle(event, {}, ports=api)
    assert result["ok"] is False and result["error"]["code"] == "InvalidArgument", result


def test_base64_body_size_checked_before_decoding(api: Ports, monkeypatch: pytest.MonkeyPatch) -> None:
    """An oversized base64 body is a 413 without being decoded."""
    decoded: list[int] = []
    real = httpmessage.base64.b64decode

    def spy(data: Any, *args: Any, **kwargs: Any) -> bytes:
        decoded.append(len(data))
        return real(data, *args, **kwargs)

    monkeypatch.setattr(httpmessage.base64, "b64decode", spy)
    event = {"httpMethod": "POST", "path": "/watches", "headers": {"authorization": f"Bearer {TOKEN}"},
             "body": "QUFB" * 2_000_000, "isBase64Encoded": True}  # fmt: skip
    result = handle(event, {}, ports=api)
    assert result["statusCode"] == 413 and decoded == []


def test_large_text_body_refused_before_encoding(api: Ports, emulator: CIEmulator, tmp_path: Path) -> None:
    """A plain body over the limit is a 413."""
    status, body, _ = call(api, "POST", "/watches", body="x" * (httpmessage.MAX_BODY_BYTES + 1))
    assert status == 413 and body["error"]["code"] == "PayloadTooLarge"


@pytest.mark.parametrize("number", ["1e400", "-1e400", "1.5e309"])
def test_huge_number_in_ci_callback_is_400(api: Ports, number: str) -> None:
    """A callback holding a number too large for a double (Python reads it as infinity) is refused with 400."""
    body = f'{{"EventName": "TaskFinish", "JobsDetail": {{"JobId": "{JOB_ID}", "Progress": {number}}}}}'
    status, answer, _ = call(api, "POST", "/ci-callback", query={"token": CALLBACK_TOKEN}, token=None, body=body)
    assert status == 400 and answer["error"]["code"] == "InvalidArgument"


@pytest.mark.parametrize("key", ["jobs/", "events/", "n:0", "k:jobs/", "o:0"])
@pytest.mark.parametrize("path", ["/jobs", "/events"])
def test_forged_cursor_is_400(api: Ports, path: str, key: str) -> None:
    """A cursor jobwatch did not give out (an unsigned key, offset or one of another listing) is a 400."""
    forged = base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")
    for cursor in (forged, forged + ".AAAAAAAAAAAAAAAAAAAAAA"):
        status, answer, _ = call(api, "GET", path, query={"cursor": cursor})
        assert status == 400 and answer["error"]["code"] == "InvalidArgument", (cursor, answer)


def test_issued_cursor_continues(api: Ports) -> None:
    """A cursor from a page continues that listing; the same cursor on the objects route is refused."""
    status, first, _ = call(api, "GET", "/jobs", query={"limit": "1"})
    assert status == 200 and first["nextCursor"]
    status, second, _ = call(api, "GET", "/jobs", query={"limit": "1", "cursor": first["nextCursor"]})
    assert status == 200 and second["jobs"] and second["jobs"][0]["jobId"] != first["jobs"][0]["jobId"]
    status, _, _ = call(api, "GET", f"/jobs/{JOB_ID}/objects", query={"cursor": first["nextCursor"]})
    assert status == 400
