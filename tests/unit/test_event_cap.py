"""The 20 KB event-body cap holds for every field: a long name, message, code or metadata is cut, never sent whole."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from jobwatch.events import MAX_BODY_BYTES, body_bytes, build_event

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def record(**fields: Any) -> dict[str, Any]:
    base = {"jobId": "b1", "type": "Workflow", "name": "n", "state": "Success", "code": "Success", "message": "",
            "input": {"Prefix": "in/"}, "operation": {"WorkflowIds": "w1"}}  # fmt: skip
    return {**base, **fields}


@pytest.mark.parametrize(
    ("fields", "metadata"),
    [({"name": "x" * 50_000}, None), ({"message": "m" * 60_000}, None), ({"code": "c" * 30_000}, None),
     ({"input": {"Object": "o" * 40_000}}, None), ({"message": "m" * 17_000}, {"note": "n" * 4000}),
     ({"name": "é" * 20_000, "message": "ü" * 20_000}, {"k": "v" * 4000})],
)  # fmt: skip
def test_every_field_is_capped(fields: dict[str, Any], metadata: dict[str, Any] | None) -> None:
    """Whatever field is long, the body stays under 20 KB, keeps the job's id and state, and says it was cut."""
    event = build_event("ci.batchjob.succeeded", record(**fields), "Running", 2, bucket="b-1250000000",
                        region="ap-guangzhou", metadata=metadata, record_url="file:jobs/b1.json", now=NOW)  # fmt: skip
    body = body_bytes(event["payload"])
    assert len(body) <= MAX_BODY_BYTES
    data = event["payload"]["data"]
    assert data["jobId"] == "b1" and data["state"] == "Success" and data["truncated"] is True


def test_small_events_are_not_cut() -> None:
    """An ordinary event is sent whole."""
    event = build_event("ci.batchjob.succeeded", record(), "Running", 2, bucket="b-1250000000", region="ap-guangzhou",
                        metadata={"ticket": "T-1"}, record_url="file:jobs/b1.json", now=NOW)  # fmt: skip
    assert "truncated" not in event["payload"]["data"] and event["payload"]["data"]["metadata"] == {"ticket": "T-1"}
