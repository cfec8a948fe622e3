"""HTTP messages for API Gateway and Function URL events: one normalised request, one response shape.

Both event shapes carry ``httpMethod``, ``path``, ``headers``, ``queryString`` and ``body`` (API Gateway adds
``requestContext`` and ``isBase64Encoded``). Header names are matched case-insensitively; a base64 body is
decoded; anything malformed is an ``HTTPError`` with the status to answer, never an exception of another kind.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

from . import jsoncodec
from .errors import JobwatchError, PermanentError

MAX_BODY_BYTES = 64 * 1024
MAX_BASE64_CHARS = (MAX_BODY_BYTES + 2) // 3 * 4 + 4  # checked before decoding
JSON_TYPE = "application/json; charset=utf-8"


class HTTPError(PermanentError):
    """An answer other than success: its status and a code for the JSON error body."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.headers = headers or {}
        self.source = "config" if status == 503 else "caller"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # filled by the router

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def json(self) -> Any:
        """The body as JSON; 415 for another content type, 400 for bad JSON."""
        if self.content_type not in ("application/json", ""):
            raise HTTPError(415, "UnsupportedMediaType", "send the body as application/json")
        try:
            return jsoncodec.loads(self.body or b"null")
        except jsoncodec.JSONRefusedError as exc:
            raise HTTPError(400, "InvalidArgument", f"the body is refused: {exc}") from None


def _text(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise HTTPError(400, "InvalidArgument", f"the event's {name} must be a string")
    return value


def normalise(event: dict[str, Any]) -> Request:
    """The request an HTTP event describes; ``HTTPError`` (400/413) when a part is missing or malformed."""
    method = _text(event.get("httpMethod"), "httpMethod").upper()
    path = _text(event.get("path"), "path")
    if not path.startswith("/") or len(path) > 2048:
        raise HTTPError(400, "InvalidArgument", "the path must start with / and be at most 2048 characters")
    raw_headers = event.get("headers") or {}
    raw_query = event.get("queryString") or event.get("queryStringParameters") or {}
    if not isinstance(raw_headers, dict) or not isinstance(raw_query, dict):
        raise HTTPError(400, "InvalidArgument", "headers and queryString must be objects")
    headers = {}
    for name, value in raw_headers.items():
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        headers[str(name).lower()] = str(value)
    query = {}
    for name, value in raw_query.items():
        if isinstance(value, list):
            value = value[0] if value else ""
        query[str(name)] = "" if value is None else str(value)
    body_text = event.get("body")
    if body_text is None:
        body = b""
    elif not isinstance(body_text, str):
        raise HTTPError(400, "InvalidArgument", "the body must be a string")
    elif len(body_text) > MAX_BASE64_CHARS or (len(body_text) > MAX_BODY_BYTES and not event.get("isBase64Encoded")):
        raise HTTPError(413, "PayloadTooLarge", f"bodies are limited to {MAX_BODY_BYTES} bytes")
    elif event.get("isBase64Encoded") is True:
        try:
            body = base64.b64decode(body_text, validate=True)
        except (binascii.Error, ValueError):
            raise HTTPError(400, "InvalidArgument", "the body is flagged base64 but is not") from None
    else:
        body = body_text.encode("utf-8", "surrogatepass")
    if len(body) > MAX_BODY_BYTES:
        raise HTTPError(413, "PayloadTooLarge", f"bodies are limited to {MAX_BODY_BYTES} bytes")
    return Request(method, path, query, headers, body)


def respond(status: int, body: Any = None, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """An integration response: ``{isBase64Encoded, statusCode, headers, body}`` (204 has an empty body)."""
    return {
        "isBase64Encoded": False,
        "statusCode": status,
        "headers": {"Content-Type": JSON_TYPE, "Cache-Control": "no-store", **(headers or {})},
        "body": "" if body is None else jsoncodec.dumps(body, ensure_ascii=False),
    }


def respond_bytes(status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """A non-JSON answer (a CSV part): text as is, anything else base64."""
    try:
        body, encoded = data.decode("utf-8"), False
    except UnicodeDecodeError:
        body, encoded = base64.b64encode(data).decode(), True
    return {
        "isBase64Encoded": encoded,
        "statusCode": status,
        "headers": {
            "Content-Type": content_type,
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            **(headers or {}),
        },
        "body": body,
    }


STATUS_OF_CODE = {"NotFound": 404, "Forbidden": 403, "Conflict": 409, "InvalidConfiguration": 503}


def error_response(exc: JobwatchError) -> dict[str, Any]:
    """The JSON error of the HTTP API; permanent errors are the caller's (4xx), transient ones 503."""
    if isinstance(exc, HTTPError):
        status, headers = exc.status, exc.headers
    else:
        status = STATUS_OF_CODE.get(exc.code, 400 if isinstance(exc, PermanentError) else 503)
        headers = {"Retry-After": "30"} if status == 503 else {}
    return respond(status, {"error": error_body(exc)}, headers)


def error_body(exc: JobwatchError) -> dict[str, str]:
    """``{"code", "message", "source"}``: what failed, and who (caller, ci, store, config or jobwatch)."""
    return {"code": exc.code, "message": exc.message, "source": exc.source}
