"""What ``main_handler`` does: tell the event kind apart, run it, and shape a JSON-serialisable answer.

Timer → a sweep. ``httpMethod`` → the HTTP API (API Gateway or Function URL). ``action`` → a direct or chained
invoke. Anything else → ``{"ok": false, ...}`` naming what was expected. No exception escapes: an unexpected one
is logged with the request id and answered as an error result.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from typing import Any

from . import api, jsoncodec, logs, service
from .deadline import Deadline, from_context
from .errors import InvalidInputError, JobwatchError
from .httpmessage import error_body, error_response, respond
from .service import Ports, load_ports

__all__ = ["ACTIONS", "Ports", "handle", "load_ports"]

log = logging.getLogger("jobwatch")

ACTIONS = ("sweep", "describe", "watch", "unwatch", "replay", "record", "objects", "report", "work", "retry")


def handle(
    event: object, context: object, *, environ: Mapping[str, str] | None = None, ports: Ports | None = None
) -> Any:
    """The whole invocation; ``ports`` are injected by tests, else built from ``environ`` (os.environ)."""
    started = time.monotonic()
    request_id = context.get("request_id") if isinstance(context, dict) else None
    with logs.request_scope(str(request_id) if request_id else None):
        is_http = isinstance(event, dict) and "httpMethod" in event
        try:
            if ports is None:
                ports = load_ports(os.environ if environ is None else environ)
            deadline = from_context(context, started)
            return _dispatch(event, ports, deadline)
        except JobwatchError as exc:
            log.warning("invocation failed: %s", exc, extra={"code": exc.code})
            return error_response(exc) if is_http else {"ok": False, "error": error_body(exc)}
        except Exception:
            log.exception("unexpected error")
            message = f"unexpected error; see the function log for request {request_id or '-'}"
            if is_http:
                return respond(500, {"error": {"code": "InternalError", "message": message, "source": "jobwatch"}})
            return error_result("InternalError", message, "jobwatch")


def error_result(code: str, message: str, source: str = "caller") -> dict[str, Any]:
    return {"ok": False, "error": {"code": code, "message": message, "source": source}}


def _dispatch(event: object, ports: Ports, deadline: Deadline) -> Any:
    if not isinstance(event, dict):
        return error_result("InvalidEvent", 'expected a JSON object: a timer, HTTP or {"action": ...} event')
    if "httpMethod" in event:
        return api.handle(event, ports, deadline)
    kind = event.get("Type")
    if isinstance(kind, str) and kind.lower() == "timer":
        options = _timer_options(event.get("Message"))
        log.info("timer %s", event.get("TriggerName"), extra={"options": options})
        return service.run_sweep(ports, deadline)
    if "action" in event:
        return _action(event, ports, deadline)
    return error_result(
        "InvalidEvent",
        "expected a timer event (Type: Timer), an HTTP event (httpMethod) or a direct invoke "
        f'({{"action": one of {", ".join(ACTIONS)}}})',
    )


def _timer_options(message: object) -> dict[str, Any]:
    """The timer's Message, read as JSON options when it is a JSON object (none change the sweep yet)."""
    if not isinstance(message, str) or not message.strip():
        return {}
    try:
        value = jsoncodec.loads(message)
    except jsoncodec.JSONRefusedError as exc:
        if message.lstrip()[:1] in ("{", "["):
            log.warning("timer Message ignored: %s", exc)
        return {}
    return value if isinstance(value, dict) else {}


def _action(event: dict[str, Any], ports: Ports, deadline: Deadline) -> dict[str, Any]:
    action = event.get("action")
    if action == "sweep":
        return service.run_sweep(ports, deadline)
    if action == "retry":
        status, answer = service.retry(ports, event.get("jobId"), event, deadline)
        return {"ok": True, "created": status == 201, **answer}
    if action == "work":
        return service.run_work(ports, event.get("shard"), deadline)
    if action == "describe":
        return {"ok": True, **service.describe(ports, event.get("jobIds"), deadline, event.get("bucket", ""),
                                               event.get("region", ""))}  # fmt: skip
    if action == "watch":
        watch, created = service.watch(ports, event)
        return {"ok": True, "created": created, "watch": watch}
    if action == "unwatch":
        return {"ok": True, "jobId": service.unwatch(ports, event.get("jobId"))}
    if action == "replay":
        replayed = service.replay(ports, event.get("eventId"))  # type: ignore[arg-type]
        return {"ok": True, "eventId": replayed["id"], "status": replayed["status"]}
    if action == "record":
        return {"ok": True, **service.job_story(ports, event.get("jobId"))}
    if action == "objects":
        limit, state, cursor = event.get("limit", 100), event.get("state", ""), event.get("cursor", "")
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 1000:
            raise InvalidInputError("limit must be a whole number 1-1000")
        if not isinstance(state, str) or not isinstance(cursor, str):
            raise InvalidInputError("state and cursor are strings")
        return {"ok": True, **service.objects_page(ports, event.get("jobId"), state, limit, cursor)}
    if action == "report":
        if event.get("part") is None:
            return {"ok": True, "report": service.report_manifest(ports, event.get("jobId"))}
        data = service.report_part(ports, event.get("jobId"), event.get("part"))
        return {"ok": True, "part": event["part"], "csv": data.decode("utf-8")}
    return error_result("InvalidAction", f"action must be one of {', '.join(ACTIONS)}")
