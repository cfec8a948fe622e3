"""Deadlines from SCF contexts, watch validation, and JSON logs that hide secrets."""

from __future__ import annotations

import json
import logging
import time

import pytest

from jobwatch import logs, watches
from jobwatch.backoff import retry_after_seconds
from jobwatch.deadline import Deadline, from_context
from jobwatch.errors import InvalidInputError


class TestDeadline:
    def test_callable_remaining_time(self) -> None:
        """get_remaining_time_in_millis() wins when callable."""
        d = from_context({"get_remaining_time_in_millis": lambda: 5000, "time_limit_in_ms": 900_000}, 0.0)
        assert 4.0 < d.remaining() <= 5.0

    def test_time_limit_from_start(self) -> None:
        """Without the getter, time_limit_in_ms counts from the start of the invocation."""
        clock = iter([100.0, 103.0])
        d = from_context({"time_limit_in_ms": 10_000}, started=100.0)
        assert Deadline(d.at, clock=lambda: next(clock)).remaining() == 10.0

    @pytest.mark.parametrize(
        "context", [{}, None, [], {"time_limit_in_ms": "x"}, {"get_remaining_time_in_millis": lambda: "x"}]
    )
    def test_default_for_local_runs(self, context: object) -> None:
        """Empty or odd contexts fall back to the default budget."""
        assert 59 < from_context(context, time.monotonic()).remaining() <= 60

    @pytest.mark.parametrize(
        "context",
        [
            {"get_remaining_time_in_millis": lambda: 1 / 0},
            {"get_remaining_time_in_millis": lambda: float("nan")},
            {"get_remaining_time_in_millis": lambda: float("inf")},
            {"get_remaining_time_in_millis": lambda: 1e18},
            {"get_remaining_time_in_millis": lambda: 10**400},
            {"time_limit_in_ms": float("inf")},
            {"time_limit_in_ms": float("nan")},
            {"time_limit_in_ms": 1e18},
            {"time_limit_in_ms": -5},
        ],
    )
    def test_unusable_figures_fall_back(self, context: object) -> None:
        """A getter that raises, or NaN, infinity or an absurd figure, counts as no figure: the default budget."""
        assert 59 < from_context(context, time.monotonic()).remaining() <= 60

    def test_expired_with_margin(self) -> None:
        """expired(margin) is true once less than the margin is left."""
        d = Deadline(10.0, clock=lambda: 8.0)
        assert d.expired(3.0) and not d.expired(1.0)


class TestWatchValidation:
    def test_minimal(self) -> None:
        """A jobId alone is a valid watch with empty metadata."""
        assert watches.validate({"jobId": "b1"}) == {
            "jobId": "b1",
            "callbackUrl": None,
            "chainFunction": None,
            "metadata": {},
        }

    @pytest.mark.parametrize(
        "bad",
        [
            None,
            [],
            {"jobId": ""},
            {"jobId": "a/b"},
            {"jobId": "b1", "callbackUrl": ""},
            {"jobId": "b1", "callbackUrl": 5},
            {"jobId": "b1", "callbackUrl": "javascript:alert(1)"},
            {"jobId": "b1", "metadata": {"x": "y" * 5000}},
            {"jobId": "b1", "chainFunction": "-bad"},
            {"jobId": "b1", "surprise": True},
        ],
    )
    def test_refused(self, bad: object) -> None:
        """Bad fields raise InvalidInputError."""
        with pytest.raises(InvalidInputError):
            watches.validate(bad)


class TestLogs:
    def test_json_lines_with_request_id_and_no_secrets(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Each line is JSON with the request id; a secret value in a message is masked."""
        logs.configure("INFO", ["super-secret-key"])
        with logs.request_scope("req-7"):
            logging.getLogger("jobwatch.test").info("using super-secret-key now", extra={"jobId": "b1"})
        line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert line["requestId"] == "req-7" and line["jobId"] == "b1" and line["level"] == "INFO"
        assert "super-secret-key" not in line["message"] and "***" in line["message"]


class TestRetryAfter:
    @pytest.mark.parametrize(
        ("value", "low", "high"), [("7", 7, 7), ("0", 0, 0), (None, None, None), ("soon", None, None)]
    )
    def test_seconds_and_junk(self, value: str | None, low: float | None, high: float | None) -> None:
        """Delta seconds are read as such; absent or unreadable values are None."""
        got = retry_after_seconds(value)
        assert got == low == high or (got is not None and low is not None and high is not None and low <= got <= high)

    def test_http_date(self) -> None:
        """An HTTP date two minutes ahead is about 120 seconds."""
        from datetime import datetime, timedelta, timezone
        from email.utils import format_datetime

        when = format_datetime(datetime.now(timezone.utc) + timedelta(minutes=2), usegmt=True)
        got = retry_after_seconds(when)
        assert got is not None and 110 <= got <= 121
