"""The HTTP side (API Gateway and Function URL events), answered in the integration-response format.

Today only ``GET /healthz`` is served; every other route answers 501 until the HTTP API issue lands.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .errors import InvalidInputError, JobwatchError, PermanentError

if TYPE_CHECKING:
    from .entry import Ports

STATUS_OF = {"InvalidArgument": 400, "InvalidEvent": 400, "NotFound": 404, "InvalidConfiguration": 503}


def respond(status: int, body: dict[str, Any]) -> dict[str, Any]:
    """An integration response: ``{isBase64Encoded, statusCode, headers, body}``."""
    return {
        "isBase64Encoded": False,
        "statusCode": status,
        "headers": {"Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store"},
        "body": json.dumps(body, ensure_ascii=False),
    }


def error_response(exc: JobwatchError) -> dict[str, Any]:
    status = STATUS_OF.get(exc.code, 400 if isinstance(exc, PermanentError) else 503)
    return respond(status, {"error": {"code": exc.code, "message": exc.message}})


def handle(event: dict[str, Any], ports: Ports) -> dict[str, Any]:
    method = event.get("httpMethod")
    path = event.get("path")
    if not isinstance(method, str) or not isinstance(path, str) or not path.startswith("/"):
        raise InvalidInputError("an HTTP event needs httpMethod and a path starting with /")
    if not isinstance(event.get("headers", {}), dict):
        raise InvalidInputError("headers must be an object")
    if path.rstrip("/") == "/healthz":
        if method.upper() != "GET":
            return respond(405, {"error": {"code": "MethodNotAllowed", "message": "use GET /healthz"}})
        return respond(200, {"ok": True})
    return respond(
        501, {"error": {"code": "NotImplemented", "message": f"{method.upper()} {path[:200]} is not served yet"}}
    )
