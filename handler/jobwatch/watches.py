"""Watch registrations: validation of ``{"jobId", "callbackUrl"?, "chainFunction"?, "metadata"?}`` and storage."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from . import jsoncodec
from .config import FUNCTION_RE, Settings
from .errors import InvalidInputError
from .events import public_url
from .ids import checked_job_id
from .notify.guard import AddressGuard
from .records import Records
from .targets import Target

MAX_METADATA_BYTES = 4096
FIELDS = ("jobId", "callbackUrl", "chainFunction", "metadata")


def validate(request: object) -> dict[str, Any]:
    """The registration's fields, checked; raises ``InvalidInputError`` naming the bad field."""
    if not isinstance(request, dict):
        raise InvalidInputError("a watch is a JSON object with jobId")
    unknown = sorted(set(request) - set(FIELDS) - {"action", "bucket", "region"})
    if unknown:
        raise InvalidInputError(f"unknown field(s): {', '.join(unknown)}")
    job_id = checked_job_id(request.get("jobId"), "jobId")
    callback = request.get("callbackUrl")
    if "callbackUrl" in request and callback is not None:
        if not isinstance(callback, str) or not callback.strip():
            raise InvalidInputError("callbackUrl, when given, must be a URL")
        callback = callback.strip()
        if not callback.lower().startswith(("https://", "http://")):
            raise InvalidInputError("callbackUrl must be an https:// URL")
    chain = request.get("chainFunction")
    if chain is not None and (not isinstance(chain, str) or not FUNCTION_RE.fullmatch(chain)):
        raise InvalidInputError("chainFunction must be <name> or <namespace>/<name>")
    metadata = request.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise InvalidInputError("metadata must be a JSON object")
        try:
            jsoncodec.check(metadata)
        except jsoncodec.JSONRefusedError as exc:
            raise InvalidInputError(f"metadata: {exc}") from None
        if len(jsoncodec.dumps(metadata, ensure_ascii=False).encode()) > MAX_METADATA_BYTES:
            raise InvalidInputError(f"metadata must be at most {MAX_METADATA_BYTES} bytes of JSON")
    return {"jobId": job_id, "callbackUrl": callback, "chainFunction": chain, "metadata": metadata or {}}


def public_watch(watch: dict[str, Any]) -> dict[str, Any]:
    """A watch as answers show it: the callback URL as ``https://host/…`` (its path and query are secrets)."""
    if watch.get("callbackUrl") is None:
        return watch
    return {**watch, "callbackUrl": public_url(watch["callbackUrl"])}


def register(
    records: Records,
    request: object,
    now: datetime,
    settings: Settings,
    guard: AddressGuard,
    target: Target | None = None,
) -> tuple[dict[str, Any], bool]:
    """Store a watch; returns (watch, created). Registering the same fields again changes nothing. With many buckets,
    ``target`` is the job's bucket, which the watch keeps.

    A callbackUrl goes through the SSRF guard now (and again at every delivery); a refused one is not stored.
    """
    fields = validate(request)
    if target is not None:
        fields.update(bucket=target.bucket, region=target.region)
    if fields["callbackUrl"] is not None:
        guard.check(fields["callbackUrl"])
        if not settings.webhook_secrets:
            raise InvalidInputError("callbackUrl needs JOBWATCH_WEBHOOK_SECRET set, to sign what is sent")
    existing = records.watch(fields["jobId"])
    if existing is not None and all(existing.get(k) == v for k, v in fields.items()):
        return existing, False
    watch = {**fields, "createdAt": now.isoformat()}
    records.put_watch(watch)
    return watch, True
