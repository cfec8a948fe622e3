"""Store errors are classified truthfully: only network trouble, 5xx and throttling are transient; missing or wrong
credentials and bugs are permanent, with a message that says what to fix."""

from __future__ import annotations

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
)

from jobwatch.errors import PermanentError, StoreError, StoreUnavailableError
from jobwatch.store.s3 import _translate


def client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "PutObject"
    )


@pytest.mark.parametrize(
    "exc",
    [client_error("SlowDown", 503), client_error("InternalError", 500), client_error("RequestTimeout", 400),
     EndpointConnectionError(endpoint_url="https://cos.example"), ConnectTimeoutError(endpoint_url="https://cos.example"),
     ReadTimeoutError(endpoint_url="https://cos.example")],
)  # fmt: skip
def test_transient(exc: Exception) -> None:
    """Throttling, 5xx and network failures may pass: transient."""
    assert isinstance(_translate(exc, "write", "jobs/x.json"), StoreUnavailableError)


@pytest.mark.parametrize(
    ("exc", "hint"),
    [(NoCredentialsError(), "TENCENTCLOUD_SECRETID"), (client_error("InvalidAccessKeyId", 403), "credentials"),
     (client_error("SignatureDoesNotMatch", 403), "credentials"), (client_error("AccessDenied", 403), "policy"),
     (client_error("ExpiredToken", 400), "credentials"), (client_error("NoSuchBucket", 404), "JOBWATCH_STORE")],
)  # fmt: skip
def test_credentials_and_setup_are_permanent(exc: Exception, hint: str) -> None:
    """Missing or wrong credentials, a denied action or a missing bucket: permanent, saying what to fix."""
    translated = _translate(exc, "write", "jobs/x.json")
    assert isinstance(translated, StoreError) and not isinstance(translated, StoreUnavailableError)
    assert hint in translated.message


@pytest.mark.parametrize("exc", [TypeError("bug"), AttributeError("bug"), ParamValidationError(report="bad key")])
def test_bugs_are_permanent(exc: Exception) -> None:
    """A bug (ours or a bad request we built) is not retried as if the store were down."""
    assert isinstance(_translate(exc, "write", "jobs/x.json"), PermanentError)
