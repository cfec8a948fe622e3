"""The S3-API store: COS through its S3-compatible endpoint, or any S3 service. boto3 is imported lazily.

Each call is bounded in total (``CALL_TIMEOUT``): botocore's read timeout restarts with every byte, so a store that
trickles its answers would otherwise hold a sweep without end. Conditional create sends ``If-None-Match: *`` (S3: 412
when the key exists) and, for COS, also ``x-cos-forbid-overwrite: true`` (409 FileAlreadyExists). COS ignores the
latter on a bucket that has ever had versioning, so such a bucket is refused once, with the reason.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from ..config import Credentials
from ..deadline import call_within
from ..errors import StoreError, StoreUnavailableError

CALL_TIMEOUT = 30.0  # seconds one store call may take in all, its retries included
_EXISTS = {"PreconditionFailed", "FileAlreadyExists", "412"}
# ConditionalRequestConflict (409): S3's answer while another conditional write of the key is in progress.
_TRANSIENT = {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "Throttling", "503", "500",
              "ConditionalRequestConflict"}  # fmt: skip


class S3Store:
    """Objects under ``s3://bucket/prefix``; the boto3 client is injected or built on first use."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        client: Any = None,
        endpoint_url: str | None = None,
        region: str | None = None,
        credentials: Credentials | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._client = client
        self._endpoint_url = endpoint_url
        self._region = region
        self._credentials = credentials
        self._lock = threading.Lock()
        self._versioning_checked = False

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = _build_client(self._endpoint_url, self._region, self._credentials)
            return self._client

    def _key(self, key: str) -> str:
        return self.prefix + key

    def _call(self, method: str, **arguments: Any) -> Any:
        """One client call, given up after ``CALL_TIMEOUT`` seconds (a ``TimeoutError``, read as unavailable)."""
        call = getattr(self.client, method)
        return call_within(lambda: call(**arguments), CALL_TIMEOUT, f"store {method}")

    def get(self, key: str) -> bytes | None:
        try:
            return call_within(lambda: self._read(key), CALL_TIMEOUT, "store get_object")
        except Exception as exc:
            if _code(exc) in ("NoSuchKey", "404"):
                return None
            raise _translate(exc, "read", key) from exc

    def _read(self, key: str) -> bytes:
        response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        return bytes(response["Body"].read())

    def put(self, key: str, data: bytes, content_type: str = "application/json") -> None:
        try:
            self._call("put_object", Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type)
        except Exception as exc:
            raise _translate(exc, "write", key) from exc

    def create(self, key: str, data: bytes) -> bool:
        self._check_versioning()
        try:
            self._call(
                "put_object",
                Bucket=self.bucket,
                Key=self._key(key),
                Body=data,
                ContentType="application/json",
                IfNoneMatch="*",
            )
            return True
        except Exception as exc:
            if _code(exc) in _EXISTS:
                return False
            raise _translate(exc, "create", key) from exc

    def list(self, prefix: str, start_after: str = "") -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        extra = {"StartAfter": self._key(start_after)} if start_after else {}
        try:
            pages = iter(paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix), **extra))
            while (page := call_within(lambda: next(pages, None), CALL_TIMEOUT, "store list_objects_v2")) is not None:
                for item in page.get("Contents", []):
                    yield item["Key"][len(self.prefix) :]
        except Exception as exc:
            raise _translate(exc, "list", prefix) from exc

    def delete(self, key: str) -> None:
        try:
            self._call("delete_object", Bucket=self.bucket, Key=self._key(key))
        except Exception as exc:
            raise _translate(exc, "delete", key) from exc

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def _check_versioning(self) -> None:
        if self._versioning_checked:
            return
        try:
            status = self._call("get_bucket_versioning", Bucket=self.bucket).get("Status")
        except Exception as exc:
            raise _translate(exc, "check versioning of", self.bucket) from exc
        if status in ("Enabled", "Suspended"):
            raise StoreError(
                f"store bucket {self.bucket} has versioning {status}: COS then ignores x-cos-forbid-overwrite, "
                "so events could be emitted twice. Use a bucket that never had versioning enabled."
            )
        self._versioning_checked = True


def _build_client(endpoint_url: str | None, region: str | None, credentials: Credentials | None) -> Any:
    import boto3
    from botocore.config import Config

    # COS wants virtual-hosted addressing; local S3 servers (moto, MinIO) want paths.
    virtual = endpoint_url is not None and ("myqcloud.com" in endpoint_url or "tencentcos" in endpoint_url)
    config = Config(
        s3={"addressing_style": "virtual" if virtual else "path"},
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=3,
        read_timeout=10,
    )
    client = boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region or "ap-guangzhou",
        aws_access_key_id=credentials.secret_id if credentials else None,
        aws_secret_access_key=credentials.secret_key if credentials else None,
        aws_session_token=credentials.token if credentials else None,
        config=config,
    )
    client.meta.events.register("before-sign.s3.PutObject", _forbid_overwrite)
    return client


def _forbid_overwrite(request: Any, **_: Any) -> None:
    # COS's own conditional create; S3 services ignore unknown x- headers.
    if request.headers.get("If-None-Match") == "*":
        request.headers["x-cos-forbid-overwrite"] = "true"


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        code = str(error.get("Code", ""))
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return code or str(status or "")
    return ""


_CREDENTIAL_CODES = {
    "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "TokenRefreshRequired",
    "InvalidSecurity", "AuthorizationHeaderMalformed",
}  # fmt: skip


def _translate(exc: Exception, action: str, key: str) -> Exception:
    """The error tree's view of a store failure: transient only for network trouble, 5xx and throttling."""
    from botocore.exceptions import (
        ClientError,
        ConnectionError,
        HTTPClientError,
        NoCredentialsError,
        PartialCredentialsError,
    )

    what = f"store could not {action} {key}"
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return StoreError(f"{what}: no credentials: set TENCENTCLOUD_SECRETID/SECRETKEY (SCF sets them from the "
                          "function's execution role)")  # fmt: skip
    if isinstance(exc, TimeoutError):  # the call's total time ran out (call_within)
        return StoreUnavailableError(f"{what}: no answer within {CALL_TIMEOUT:.0f} s")
    if isinstance(exc, (ConnectionError, HTTPClientError)):  # connect/read timeouts, resets, unreachable endpoint
        return StoreUnavailableError(f"{what}: {type(exc).__name__}")
    if not isinstance(exc, ClientError):  # a bug or a request we built wrong: retrying will not help
        return StoreError(f"{what}: unexpected {type(exc).__name__} (a bug: please report it with the log line)")
    code = _code(exc)
    response = getattr(exc, "response", None)
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) if isinstance(response, dict) else 0
    if code in _TRANSIENT or (isinstance(status, int) and status >= 500):
        return StoreUnavailableError(f"{what}: {code or status}")
    if code in _CREDENTIAL_CODES:
        return StoreError(f"{what}: {code}: the store refused the credentials; check TENCENTCLOUD_SECRETID/SECRETKEY "
                          "or the execution role")  # fmt: skip
    if code == "AccessDenied" or status == 403:
        return StoreError(f"{what}: {code or status}: the role's policy must allow it (deploy/cam-policy.json)")
    if code == "NoSuchBucket":
        return StoreError(f"{what}: NoSuchBucket: check the bucket in JOBWATCH_STORE and JOBWATCH_STORE_ENDPOINT")
    return StoreError(f"{what}: {code or status}")
