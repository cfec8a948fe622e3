"""The HTTP API (README, openapi.json) over API Gateway and Function URL events.

A small table of routes (method, path pattern, handler); every route but ``/healthz`` and ``/ci-callback`` needs
``Authorization: Bearer <JOBWATCH_API_TOKEN>``, compared in constant time. ``/ci-callback`` takes only
``JOBWATCH_CALLBACK_TOKEN`` (in its query, since CI cannot add headers), which opens nothing else; the API token is
refused wherever it appears in a query string, so it never ends up in CI's job settings, access logs or proxies.
Errors are ``{"error": {"code", "message", "source"}}`` with 400, 401, 404, 405, 413, 415 or 503.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from . import callbacks, reads, watches
from .ci.models import is_valid_job_id
from .deadline import Deadline
from .errors import CIError, InvalidInputError, JobwatchError
from .events import public_event
from .httpmessage import HTTPError, Request, error_body, error_response, normalise, respond, respond_bytes

if TYPE_CHECKING:
    from .entry import Ports

log = logging.getLogger("jobwatch.api")

MAX_IDS = 100
PAGE_DEFAULT, PAGE_MAX = 20, 100
CALLBACK_REFRESH_INTERVAL = 10.0  # seconds between refreshes that CI callbacks may trigger
SCAN_LIMIT = 1000  # records read per page at most, however selective the filters
JOB_STATES = ("Submitted", "Running", "Pause", "Success", "Failed", "Cancel")
EVENT_STATUSES = ("pending", "delivered", "failed")

Handler = Callable[["Ports", Request, Deadline], dict[str, Any]]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str  # e.g. /jobs/{jobIds}
    handler: Handler
    public: bool = False

    @property
    def regex(self) -> re.Pattern[str]:
        return re.compile(re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.pattern) + "/?")


def _bad(message: str) -> HTTPError:
    return HTTPError(400, "InvalidArgument", message)


def _job_id(value: str) -> str:
    if not is_valid_job_id(value):
        raise _bad("job IDs are 1-64 characters of A-Z, a-z, 0-9, _ and -")
    return value


def _limit(query: dict[str, str]) -> int:
    raw = query.get("limit", "")
    if raw == "":
        return PAGE_DEFAULT
    if not re.fullmatch(r"[0-9]{1,3}", raw) or not 1 <= int(raw) <= PAGE_MAX:  # isdigit() admits "²"
        raise _bad(f"limit must be 1-{PAGE_MAX}")
    return int(raw)


def _cursor(query: dict[str, str], prefix: str) -> str:
    raw = query.get("cursor", "")
    if not raw:
        return ""
    try:
        key = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise _bad("cursor is not one this API gave out") from None
    if not key.startswith(prefix) or ".." in key:
        raise _bad("cursor is not one this API gave out")
    return key


def _encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def _page(ports: Ports, prefix: str, query: dict[str, str], keep: Callable[[dict[str, Any]], bool],
          view: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:  # fmt: skip
    """Stored documents under ``prefix`` after the cursor, filtered, at most ``limit``; an opaque next cursor."""
    limit, after = _limit(query), _cursor(query, prefix)
    items: list[dict[str, Any]] = []
    last = ""
    scanned = 0
    for key in ports.records.store.list(prefix, start_after=after):
        if not key.endswith(".json"):
            continue
        if len(items) == limit or scanned == SCAN_LIMIT:
            return {"items": items, "nextCursor": _encode_cursor(last)}
        scanned += 1
        last = key
        try:
            document = ports.records.load(key)
        except JobwatchError:
            continue  # a damaged document is skipped, not fatal
        if document is not None and keep(document):
            items.append(view(document))
    return {"items": items, "nextCursor": None}


# --- handlers ---------------------------------------------------------------------------------


def healthz(ports: Ports, request: Request, deadline: Deadline) -> dict[str, Any]:
    return respond(200, {"ok": True})


def live_jobs(ports: Ports, request: Request, deadline: Deadline) -> dict[str, Any]:
    ids = request.params["jobIds"].split(",")
    if len(ids) > MAX_IDS:
        raise _bad(f"at most {MAX_IDS} job IDs at once")
    result = ports.ci.describe([_job_id(i) for i in ids], deadline=deadline)
    return respond(200, {"jobs": [j.to_dict() for j in result.jobs], "nonExistJobIds": list(result.non_exist_job_ids)})


def stored_jobs(ports: Ports, request: Request, deadline: Deadline) -> dict[str, Any]:
    state, kind = request.query.get("state", ""), request.query.get("type", "")
    if state and state not in JOB_STATES:
        raise _bad(f"state must be one of {', '.join(JOB_STATES)}")
    if kind and kind not in ("Workflow", "Job"):
        raise _bad("type must be Workflow or Job")

    def keep(record: dict[str, Any]) -> bool:
        return (not state or record.get("state") == state) and (not kind or record.get("type") == kind)

    page = _page(ports, "jobs/", request.query, keep, lambda r: {k: v for k, v in r.items() if k != "raw"})
    return respond(200, {"jobs": page["items"], "nextCursor": page["nextCursor"]})


def job_record(ports: Ports, request: Request, deadline: Deadline) -> dict[str, Any]:
    return respond(200, reads.job_story(ports.records, _job_id(request.params["jobId"])))


def job_objects(ports: Ports, request: Request, deadline: Deadline) -> dict[str, Any]:
    job_id = _job_id(request.params["jobId"])
    page = reads.objects_page(ports.records, job_id, request.query.get("state", ""), _limit(request.query),
                              request.query.get("cursor", ""))  # fmt: skip
    return respond(200, {"jobId": job_id, **page})


def job_report(ports: Ports, request: Request, deadline: Deadline) -> dict[str, Any]:
    return respond(200, reads.report_manifest(ports.records, _job_id(request.params["jobId"])))


def job_report_part(ports: Ports, request: Request, deadline: Deadline) -> dict[str, Any]:
    job_id, part = _job_id(request.params["jobId"]), request.params["part"]
    data = reads.report_part(ports.records, job_id, part)
    disposition = f'attachment; filename="{job_id}-{part}"'
    return respond_bytes(200, data, "text/csv; charset=utf-8", {"Content-Disposition": disposition})


def add_watch(ports: Ports, request: Request, deadline: Deadline) -> dict[str, Any]:
    body = request.json()
    watch, created = watches.register(ports.records, body, ports.clock(), ports.settings, ports.guard)
    return respond(201 if created else 200, {"watch": watches.public_watch(watch), "created": created})


def remove_watch(ports: Ports, request: Request, deadline: Deadline) -> dict[str, Any]:
    ports.records.delete_watch(_job_id(request.params["jobId"]))
    return respond(204)


def list_events(ports: Ports, request: Request, deadline: Deadline) -> dict[str, Any]:
    status = request.query.get("status", "")
    if status and status not in EVENT_STATUSES:
        raise _bad(f"status must be one of {', '.join(EVENT_STATUSES)}")
    keep: Callable[[dict[str, Any]], bool] = lambda e: not status or e.get("status") == status  # noqa: E731
    page = _page(ports, "events/", request.query, keep, public_event)
    return respond(200, {"events": page["items"], "nextCursor": page["nextCursor"]})


def replay_event(ports: Ports, request: Request, deadline: Deadline) -> dict[str, Any]:
    from .entry import replay

    event_id = request.params["eventId"]
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,128}", event_id):
        raise _bad("not an event id")
    result = replay(ports, event_id)
    return respond(202, {"eventId": event_id, "status": result["status"]})


def sweep_now(ports: Ports, request: Request, deadline: Deadline) -> dict[str, Any]:
    from .entry import run_sweep

    return respond(200, run_sweep(ports, deadline))


def ci_callback(ports: Ports, request: Request, deadline: Deadline) -> dict[str, Any]:
    from .entry import run_sweep

    notice = callbacks.parse(request.body, request.content_type)
    body: dict[str, Any] = {"accepted": True, "eventName": notice.event_name, "jobIds": list(notice.batch_job_ids)}
    # A batch over thousands of objects sends thousands of TaskFinish callbacks: refresh at most every few seconds.
    latest = ports.records.latest_summary() or {}
    started = latest.get("startedAt")
    if started and (ports.clock() - datetime.fromisoformat(started)).total_seconds() < CALLBACK_REFRESH_INTERVAL:
        body["sweep"] = {"skipped": f"a sweep started at {started}; the next one picks this up"}
        return respond(202, body)
    summary = run_sweep(ports, deadline, extra_ids=notice.batch_job_ids)
    body["sweep"] = {k: summary[k] for k in ("ok", "jobsSeen", "transitions", "eventsEmitted")}
    return respond(202, body)


ROUTES = (
    Route("GET", "/healthz", healthz, public=True),
    Route("GET", "/jobs", stored_jobs),
    Route("GET", "/jobs/{jobIds}", live_jobs),
    Route("GET", "/jobs/{jobId}/record", job_record),
    Route("GET", "/jobs/{jobId}/objects", job_objects),
    Route("GET", "/jobs/{jobId}/report", job_report),
    Route("GET", "/jobs/{jobId}/report/{part}", job_report_part),
    Route("POST", "/watches", add_watch),
    Route("DELETE", "/watches/{jobId}", remove_watch),
    Route("GET", "/events", list_events),
    Route("POST", "/events/{eventId}/replay", replay_event),
    Route("POST", "/sweep", sweep_now),
    Route("POST", "/ci-callback", ci_callback),
)


# --- dispatch ---------------------------------------------------------------------------------


def _same(given: str, expected: str) -> bool:
    return bool(given) and hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode())


def _refuse_token_in_query(ports: Ports, request: Request) -> None:
    token = ports.settings.api_token
    if token is None:
        return
    for value in request.query.values():
        if _same(value.strip(), token) or _same(value[7:].strip(), token):
            log.warning("a request carried the API token in its URL: refused; rotate JOBWATCH_API_TOKEN")
            raise HTTPError(401, "Unauthorized", "the API token is never accepted in a URL: send it as "
                            "Authorization: Bearer, and rotate it, since it may now be in logs")  # fmt: skip


def _authorise(ports: Ports, request: Request, route: Route) -> None:
    bearer = ""
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        bearer = auth[7:].strip()
    if route.pattern == "/ci-callback":  # CI cannot add headers: its own token rides in the query
        expected = ports.settings.callback_token
        if expected is None:
            raise HTTPError(503, "NotConfigured", "CI callbacks are off: set JOBWATCH_CALLBACK_TOKEN to enable them")
        if not _same(request.query.get("token", "") or bearer, expected):
            raise HTTPError(401, "Unauthorized", "a valid ?token= (JOBWATCH_CALLBACK_TOKEN) is required")
        return
    token = ports.settings.api_token
    if token is None:
        raise HTTPError(503, "NotConfigured", "the API is off: set JOBWATCH_API_TOKEN to enable it")
    if not _same(bearer, token):
        raise HTTPError(401, "Unauthorized", "a valid Authorization: Bearer token is required",
                        {"WWW-Authenticate": 'Bearer realm="jobwatch"'})  # fmt: skip


def _match(request: Request) -> tuple[Route, dict[str, str]]:
    allowed = []
    for route in ROUTES:
        found = route.regex.fullmatch(request.path)  # match() with $ would accept a trailing newline
        if found:
            if route.method == request.method:
                return route, found.groupdict()
            allowed.append(route.method)
    if allowed:
        raise HTTPError(405, "MethodNotAllowed", f"use {', '.join(allowed)}", {"Allow": ", ".join(allowed)})
    raise HTTPError(404, "NotFound", "no such route")


def handle(event: dict[str, Any], ports: Ports, deadline: Deadline) -> dict[str, Any]:
    """Answer one HTTP event; every failure becomes a JSON error response."""
    try:
        request = normalise(event)
        _refuse_token_in_query(ports, request)
        route, params = _match(request)
        if not route.public:
            _authorise(ports, request, route)
        return route.handler(ports, replace(request, params=params), deadline)
    except HTTPError as exc:
        return error_response(exc)
    except CIError as exc:  # CI's trouble, not the caller's
        return respond(503, {"error": error_body(exc)}, {"Retry-After": "30"})
    except InvalidInputError as exc:
        return respond(400 if exc.code != "NotFound" else 404, {"error": error_body(exc)})
    except JobwatchError as exc:
        return error_response(exc)
