"""Error codes say who failed: CI's own codes reach callers with a ``CI.`` prefix and ``source: "ci"``; jobwatch's
unexpected errors keep ``InternalError`` with ``source: "jobwatch"``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from devkit.ciemu import CIEmulator
from jobwatch.entry import Ports, handle
from tests.functional.apitools import JOB_ID, call

if TYPE_CHECKING:
    import pytest


def test_ci_internal_error_is_prefixed_over_http(api: Ports, emulator: CIEmulator) -> None:
    """CI answering InternalError (500) on a live query gives 503 with code CI.InternalError and source ci."""
    emulator.faults.error_ratio = 1.0
    status, body, headers = call(api, "GET", f"/jobs/{JOB_ID}")
    assert status == 503 and headers["Retry-After"]
    assert body["error"]["code"] == "CI.InternalError" and body["error"]["source"] == "ci"


def test_ci_error_is_prefixed_in_direct_invoke(api: Ports, emulator: CIEmulator) -> None:
    """The describe action answers CI's failure with the CI. prefix too."""
    emulator.faults.error_ratio = 1.0
    result = handle({"action": "describe", "jobIds": [JOB_ID]}, {}, ports=api)
    assert result["ok"] is False
    assert result["error"]["code"] == "CI.InternalError" and result["error"]["source"] == "ci"


def test_own_bug_is_internal_error_from_jobwatch(api: Ports, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unexpected exception inside jobwatch is InternalError with source jobwatch, on both faces."""

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(api.records, "watch", broken)
    status, body, _ = call(api, "POST", "/watches", body=f'{{"jobId": "{JOB_ID}"}}')
    assert status == 500 and body["error"]["code"] == "InternalError" and body["error"]["source"] == "jobwatch"
    assert "a bug" not in body["error"]["message"]
    result = handle({"action": "watch", "jobId": JOB_ID}, {}, ports=api)
    assert result["error"]["code"] == "InternalError" and result["error"]["source"] == "jobwatch"


def test_ci_connection_failure_names_ci(api: Ports, emulator: CIEmulator) -> None:
    """CI out of reach (no code from CI) is still attributed to CI."""
    emulator.faults.drop_ratio = 1.0
    status, body, _ = call(api, "GET", f"/jobs/{JOB_ID}")
    assert status == 503 and body["error"]["source"] == "ci" and body["error"]["code"].startswith("CI")


def test_caller_errors_name_the_caller(api: Ports) -> None:
    """A bad request is the caller's: source caller."""
    status, body, _ = call(api, "GET", "/jobs", query={"limit": "0"})
    assert status == 400 and body["error"]["source"] == "caller"
