"""The exception tree: transient vs permanent, CI fields, and the translation of CI answers."""

from __future__ import annotations

from typing import NamedTuple

import pytest
from urllib3 import HTTPHeaderDict

from jobwatch.ci.client import error_from_response
from jobwatch.errors import (
    CIAuthError,
    CIBadResponseError,
    CIConnectionError,
    CINotFoundError,
    CIPermanentError,
    CIThrottledError,
    CITransientError,
    ConfigError,
    InvalidInputError,
    JobwatchError,
    PermanentError,
    TransientError,
    UnsafeXMLError,
)


class Answer(NamedTuple):
    op: str
    status: int
    headers: HTTPHeaderDict
    content: bytes


def response(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> Answer:
    """A CI answer as the client hands it to ``error_from_response``; headers case-insensitive, as urllib3's."""
    return Answer("list", status, HTTPHeaderDict(headers or {}), body)


def ci_error(code: str, message: str = "m") -> bytes:
    return (
        f"<?xml version='1.0' encoding='utf-8' ?><Error><Code>{code}</Code><Message>{message}</Message>"
        "<RequestId>req-1</RequestId><TraceId>trace-1</TraceId></Error>"
    ).encode()


class TestTree:
    @pytest.mark.parametrize("cls", [CIThrottledError, CIConnectionError, CIBadResponseError, CITransientError])
    def test_transient_leaves(self, cls: type[JobwatchError]) -> None:
        """Throttling, network and unreadable answers are transient."""
        assert issubclass(cls, TransientError) and not issubclass(cls, PermanentError)

    @pytest.mark.parametrize(
        "cls", [CIAuthError, CINotFoundError, CIPermanentError, ConfigError, InvalidInputError, UnsafeXMLError]
    )
    def test_permanent_leaves(self, cls: type[JobwatchError]) -> None:
        """Auth, not-found, config, input and unsafe XML are permanent."""
        assert issubclass(cls, PermanentError) and not issubclass(cls, TransientError)


class TestTranslation:
    def test_fields_from_error_body(self) -> None:
        """Code, Message, RequestId, TraceId and status come from CI's <Error> body."""
        err = error_from_response(*response(400, ci_error("InvalidArgument", "bad id")))
        assert type(err) is CIPermanentError
        assert (err.status, err.ci_code, err.request_id, err.trace_id) == (400, "InvalidArgument", "req-1", "trace-1")
        assert "bad id" in str(err) and "req-1" in str(err)

    @pytest.mark.parametrize(
        ("status", "code", "cls"),
        [
            (429, "SlowDown", CIThrottledError),
            (503, "SlowDown", CIThrottledError),
            (403, "QueueSaturated", CIThrottledError),
            (500, "InternalError", CITransientError),
            (503, "ServiceUnavailable", CITransientError),
            (501, "NotImplemented", CIPermanentError),
            (401, "InvalidAuthorization", CIAuthError),
            (401, "SignatureExpired", CIAuthError),
            (403, "AccessDenied", CIAuthError),
            (404, "InvalidUrl", CINotFoundError),
            (400, "ResourceNotFound", CINotFoundError),
            (301, "PermanentRedirect", CIPermanentError),
        ],
    )
    def test_status_and_code_pick_the_class(self, status: int, code: str, cls: type[Exception]) -> None:
        """Each documented CI error lands on the right branch."""
        assert type(error_from_response(*response(status, ci_error(code)))) is cls

    def test_retry_after_seconds(self) -> None:
        """Retry-After in seconds is carried on the throttling error."""
        err = error_from_response(*response(429, ci_error("SlowDown"), {"Retry-After": "7"}))
        assert isinstance(err, CIThrottledError) and err.retry_after == 7.0

    def test_unreadable_error_body(self) -> None:
        """A non-XML error body still yields an error from the status, with the header request id."""
        err = error_from_response(*response(502, b"<html>bad gateway", {"x-ci-request-id": "hdr-req"}))
        assert type(err) is CITransientError and err.request_id == "hdr-req" and err.ci_code is None

    def test_hostile_error_body_not_expanded(self) -> None:
        """An error body with entities is ignored, not parsed."""
        body = b'<!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]><Error><Code>&x;</Code></Error>'
        err = error_from_response(*response(400, body))
        assert err.ci_code is None and "root:" not in str(err)
