"""The HTTP API (README, openapi.json) over API Gateway and Function URL events.

A small table of routes (method, path pattern, handler); every route but ``/healthz`` and ``/ci-callback`` needs
``Authorization: Bearer <JOBWATCH_API_TOKEN>``, compared in constant time. ``/ci-callback`` takes only
``JOBWATCH_CALLBACK_TOKEN`` (in its query, since CI cannot add headers), which opens nothing else; the API token is
refused wherever it appears in a query string, so it never ends up in CI's job settings, access logs or proxies.
Errors are ``{"error": {"code", "message", "source"}}`` with 400, 401, 404, 405, 413, 415 or 503.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from . import callbacks, service, ui
from .deadline import Deadline
from .errors import CIError, InvalidInputError, JobwatchError
from .httpmessage import (
    STATUS_OF_CODE,
    HTTPError,
    Request,
    error_body,
    error_response,
    normalise,
    respond,
    respond_bytes,
)
from .ids import checked_event_id, checked_job_id
from .service import Ports

log = logging.getLogger("jobwatch.api")

MAX_IDS = 100
PAGE_DEFAULT, PAGE_MAX = 20, 100
CALLBACK_REFRESH_INTERVAL = 10.0  # seconds between refreshes that CI callbacks may trigger

Handler = Callable[[Ports, Request, Deadline], dict[str, Any]]


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


def _limit(query: dict[str, str]) -> int:
    raw = query.get("limit", "")
    if raw == "":
        return PAGE_DEFAULT
    if not re.fullmatch(r"[0-9]{1,3}", raw) or not 1 <= int(raw) <= PAGE_MAX:  # isdigit() admits "²"
        raise _bad(f"limit must be 1-{PAGE_MAX}")
    return int(raw)


# --- handlers ---------------------------------------------------------------------------------


def healthz(ports: Ports, request: Request, deadline: Deadline) -> dict[str, Any]:
    return respond(200, {"ok": True})


def live_jobs(ports: Ports, request: Request, deadline: Deadline) -> dict[str, Any]:
    ids = request.params["jobIds"].split(",")
    if len(ids) > MAX_IDS:
        raise _bad(f"at most {MAX_IDS} job IDs at once")
    place = (request.query.get("bucket", ""), request.query.get("region", ""))
    return respond(200, service.describe(ports, [checked_job_id(i) for i in ids], deadline, *place))


def stored_jobs(ports: Ports, request: Request, deadline: Deadline) -> dict[str, Any]:
    query = request.query
    filters = (query.get("state", ""), query.get("type", ""), _limit(query), query.get("cursor", ""))
    page = service.list_jobs(ports, *filters, search=query.get("search", ""), bucket=query.get("bucket", ""),
                             region=query.get("region", ""))  # fmt: skip
    return respond(200, page)


def job_record(ports: Ports, request: Request, deadline: Deadline) -> dict[str, Any]:
    return respond(200, service.job_story(ports, checked_job_id(request.params["jobId"])))


def job_objects(ports: Ports, request: Request, deadline: Deadline) -> dict[str, Any]:
    query = request.query
    page = service.objects_page(ports, checked_job_id(request.params["jobId"]), query.get("state", ""), _limit(query),
                                query.get("cursor", ""))  # fmt: skip
    return respond(200, page)


def job_report(ports: Ports, request: Request, deadline: Deadline) -> dict[str, Any]:
    return respond(200, service.report_manifest(ports, checked_job_id(request.params["jobId"])))


def job_report_part(ports: Ports, request: Request, deadline: Deadline) -> dict[str, Any]:
    job_id, part = checked_job_id(request.params["jobId"]), request.params["part"]
    data = service.report_part(ports, job_id, part)
    disposition = f'attachment; filename="{job_id}-{part}"'
    return respond_bytes(200, data, "text/csv; charset=utf-8", {"Content-Disposition": disposition})


def retry_job(ports: Ports, request: Request, deadline: Deadline) -> dict[str, Any]:
    status, answer = service.retry(ports, request.params["jobId"], request.json() if request.body else {}, deadline)
    return respond(status, answer)


def add_watch(ports: Ports, request: Request, deadline: Deadline) -> dict[str, Any]:
    watch, created = service.watch(ports, request.json())
    return respond(201 if created else 200, {"watch": watch, "created": created})


def remove_watch(ports: Ports, request: Request, deadline: Deadline) -> dict[str, Any]:
    service.unwatch(ports, checked_job_id(request.params["jobId"]))
    return respond(204)


def list_events(ports: Ports, request: Request, deadline: Deadline) -> dict[str, Any]:
    query = request.query
    return respond(200, service.list_events(ports, query.get("status", ""), _limit(query), query.get("cursor", "")))


def replay_event(ports: Ports, request: Request, deadline: Deadline) -> dict[str, Any]:
    event_id = checked_event_id(request.params["eventId"])
    result = service.replay(ports, event_id)
    return respond(202, {"eventId": event_id, "status": result["status"]})


def list_targets(ports: Ports, request: Request, deadline: Deadline) -> dict[str, Any]:
    return respond(200, service.targets(ports))


def sweep_now(ports: Ports, request: Request, deadline: Deadline) -> dict[str, Any]:
    return respond(200, service.run_sweep(ports, deadline))


def ci_callback(ports: Ports, request: Request, deadline: Deadline) -> dict[str, Any]:
    notice = callbacks.parse(request.body, request.content_type)
    body: dict[str, Any] = {"accepted": True, "eventName": notice.event_name, "jobIds": list(notice.batch_job_ids)}
    # A batch over thousands of objects sends thousands of TaskFinish callbacks: refresh at most every few seconds.
    # The last finished sweep says when it started; callbacks arriving together race for a lease (a conditional
    # create per 10-second window), so a storm starts one refresh, however many instances answer it.
    now = ports.clock()
    latest = ports.records.latest_summary() or {}
    started = latest.get("startedAt")
    if started and (now - datetime.fromisoformat(started)).total_seconds() < CALLBACK_REFRESH_INTERVAL:
        body["sweep"] = {"skipped": f"a sweep started at {started}; the next one picks this up"}
        return respond(202, body)
    if not ports.records.claim_refresh(now, CALLBACK_REFRESH_INTERVAL):
        body["sweep"] = {"skipped": "another callback's refresh is running; it picks this up"}
        return respond(202, body)
    summary = service.run_sweep(ports, deadline, extra_ids=notice.batch_job_ids)
    body["sweep"] = {k: summary[k] for k in ("ok", "jobsSeen", "transitions", "eventsEmitted")}
    return respond(202, body)


def status_page(ports: Ports, request: Request, deadline: Deadline) -> dict[str, Any]:
    return ui.page(request.path)


def status_page_asset(ports: Ports, request: Request, deadline: Deadline) -> dict[str, Any]:
    return ui.asset(request.params["asset"])


ROUTES = (
    Route("GET", "/healthz", healthz, public=True),
    Route("GET", "/ui", status_page, public=True),
    Route("GET", "/ui/{asset}", status_page_asset, public=True),
    Route("GET", "/jobs", stored_jobs),
    Route("GET", "/jobs/{jobIds}", live_jobs),
    Route("GET", "/jobs/{jobId}/record", job_record),
    Route("GET", "/jobs/{jobId}/objects", job_objects),
    Route("GET", "/jobs/{jobId}/report", job_report),
    Route("GET", "/jobs/{jobId}/report/{part}", job_report_part),
    Route("POST", "/jobs/{jobId}/retry", retry_job),
    Route("POST", "/watches", add_watch),
    Route("DELETE", "/watches/{jobId}", remove_watch),
    Route("GET", "/events", list_events),
    Route("POST", "/events/{eventId}/replay", replay_event),
    Route("GET", "/targets", list_targets),
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
        return respond(STATUS_OF_CODE.get(exc.code, 400), {"error": error_body(exc)})
    except JobwatchError as exc:
        return error_response(exc)
