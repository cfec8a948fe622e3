"""Pure core: folding observations into records, choosing events, their ids and bodies."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from jobwatch import events as ev
from jobwatch.ci.models import Job
from jobwatch.history import nonexistent_record, observe

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
CST = timezone(timedelta(hours=8))


def job(state: str, **fields: object) -> Job:
    return Job("b1", "Workflow", "demo", state, creation_time=datetime(2026, 1, 1, 19, 0, tzinfo=CST), **fields)  # type: ignore[arg-type]


class TestObserve:
    def test_new_job(self) -> None:
        """A first observation makes a full record with one history entry."""
        seen = observe(None, job("Running"), NOW)
        assert seen.changed and seen.transition and seen.previous_state is None and seen.sequence == 1
        assert seen.record["history"] == [{"state": "Running", "at": NOW.isoformat()}]
        assert seen.record["firstSeenAt"] == seen.record["updatedAt"] == NOW.isoformat()

    def test_unchanged(self) -> None:
        """The same view again changes nothing and returns the stored record as is."""
        first = observe(None, job("Running"), NOW).record
        again = observe(first, job("Running"), NOW + timedelta(minutes=1))
        assert not again.changed and not again.transition and again.record is first

    def test_state_change_appends_history(self) -> None:
        """A new state is a transition, appended to history; firstSeenAt stays."""
        first = observe(None, job("Running"), NOW).record
        later = NOW + timedelta(minutes=5)
        seen = observe(first, job("Success", end_time=later), later)
        assert seen.transition and seen.previous_state == "Running" and seen.sequence == 2
        assert [h["state"] for h in seen.record["history"]] == ["Running", "Success"]
        assert seen.record["firstSeenAt"] == NOW.isoformat() and seen.record["updatedAt"] == later.isoformat()

    def test_field_change_without_transition(self) -> None:
        """A changed message with the same state rewrites the record but is no transition."""
        first = observe(None, job("Running"), NOW).record
        seen = observe(first, job("Running", message="50% done"), NOW)
        assert seen.changed and not seen.transition and seen.record["message"] == "50% done"

    def test_nonexistent_once(self) -> None:
        """An unknown ID is recorded as non-existent once; a second time changes nothing."""
        record = nonexistent_record("b9", None, NOW)
        assert record is not None and record["nonExistent"] is True
        assert nonexistent_record("b9", record, NOW) is None


class TestEventChoice:
    @pytest.mark.parametrize(
        ("state", "notify", "kind"),
        [
            ("Success", "terminal", "ci.batchjob.succeeded"),
            ("Failed", "terminal", "ci.batchjob.failed"),
            ("Cancel", "all", "ci.batchjob.cancelled"),
            ("Running", "terminal", None),
            ("Pause", "all", "ci.batchjob.state_changed"),
        ],
    )
    def test_type_by_state_and_setting(self, state: str, notify: str, kind: str | None) -> None:
        """Terminal states always make events; others only with JOBWATCH_NOTIFY_ON=all."""
        assert ev.event_type(state, notify) == kind

    def test_ids_deterministic_and_dot_free(self) -> None:
        """The same transition gives the same id; recurring non-terminal states get distinct ids."""
        assert ev.event_id("b1", "ci.batchjob.succeeded", "Success", 7) == "evt-b1-success"
        assert ev.event_id("b1", ev.STATE_CHANGED, "Pause", 3) != ev.event_id("b1", ev.STATE_CHANGED, "Pause", 5)
        assert "." not in ev.event_id("b1", ev.STUCK, "Running", 0)


class TestBody:
    def test_design_shape(self) -> None:
        """The body has the documented fields, with the duration computed and the record linked."""
        record = observe(
            None,
            job(
                "Success",
                start_time=datetime(2026, 1, 1, 19, 0, 5, tzinfo=CST),
                end_time=datetime(2026, 1, 1, 19, 0, 17, tzinfo=CST),
            ),
            NOW,
        ).record
        event = ev.build_event(
            "ci.batchjob.succeeded",
            record,
            "Running",
            2,
            bucket="demo-1250000000",
            region="ap-guangzhou",
            metadata={"k": "v"},
            record_url="file:/s/jobs/b1.json",
            now=NOW,
        )
        data = event["payload"]["data"]
        assert (
            event["payload"]["type"] == "ci.batchjob.succeeded"
            and event["payload"]["timestamp"] == "2026-01-01T12:00:00Z"
        )
        assert data["durationSeconds"] == 12.0 and data["previousState"] == "Running" and data["metadata"] == {"k": "v"}
        assert data["record"] == "file:/s/jobs/b1.json" and event["status"] == "pending" and event["attempts"] == []

    def test_large_input_linked_not_inlined(self) -> None:
        """A body over 20 KB drops input/operation (the record link has them) and says so."""
        record = observe(None, job("Failed", operation={"UserData": "x" * 30_000}), NOW).record
        event = ev.build_event(
            "ci.batchjob.failed",
            record,
            "Running",
            2,
            bucket=None,
            region=None,
            metadata=None,
            record_url="file:/r",
            now=NOW,
        )
        body = json.dumps(event["payload"]).encode()
        assert len(body) < ev.MAX_BODY_BYTES and event["payload"]["data"]["truncated"] is True
