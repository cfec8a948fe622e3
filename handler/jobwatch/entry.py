"""What ``main_handler`` does: tell the event kind apart, run it, and shape a JSON-serialisable answer.

Timer → a sweep. ``httpMethod`` → the HTTP API (API Gateway or Function URL). ``action`` → a direct or chained
invoke. Anything else → ``{"ok": false, ...}`` naming what was expected. No exception escapes: an unexpected one
is logged with the request id and answered as an error result.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from . import api, jsoncodec, logs, reads, watches
from .ci.client import CIClient
from .ci.models import is_valid_job_id
from .config import Settings
from .deadline import Deadline, from_context
from .errors import ConfigError, InvalidInputError, JobwatchError
from .httpmessage import error_body, error_response, respond
from .notify.chain import ChainInvoker
from .notify.guard import AddressGuard
from .notify.outbox import Dispatcher
from .notify.webhook import WebhookSender
from .records import Records
from .store import open_store
from .sweep import CISource, Notifier, Sweeper

log = logging.getLogger("jobwatch")

ACTIONS = ("sweep", "describe", "watch", "unwatch", "replay", "record", "objects", "report")
MAX_DESCRIBE_IDS = 100


@dataclass
class Ports:
    """The adapters one invocation uses; built once per settings and reused by warm instances."""

    settings: Settings
    records: Records
    ci_factory: Callable[[], CISource]
    notifier: Notifier | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(timezone.utc), repr=False)
    guard: AddressGuard = field(default=None, repr=False)  # type: ignore[assignment]  # set in __post_init__
    _ci: CISource | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.guard is None:
            self.guard = AddressGuard(self.settings.callback_allow_nets)

    @property
    def ci(self) -> CISource:
        if self._ci is None:
            self._ci = self.ci_factory()
        return self._ci

    @classmethod
    def from_settings(cls, settings: Settings) -> Ports:
        records = Records(open_store(settings))
        ports = cls(settings, records, lambda: CIClient.from_settings(settings))
        ports.notifier = Dispatcher(
            records,
            settings.webhook_secrets,
            webhooks=WebhookSender(ports.guard),
            chain=ChainInvoker(settings.credentials, settings.function_region),
        )
        return ports


_cache_lock = threading.Lock()
_settings_cache: dict[tuple[tuple[str, str], ...], Settings] = {}
_ports_cache: dict[Settings, Ports] = {}


def load_ports(environ: Mapping[str, str]) -> Ports:
    """Settings read once per environment, and their adapters, cached for warm starts."""
    key = tuple(sorted((k, v) for k, v in environ.items() if k.startswith(("JOBWATCH_", "TENCENTCLOUD_"))))
    with _cache_lock:
        settings = _settings_cache.get(key)
        if settings is None:
            settings = _settings_cache[key] = Settings.from_env(environ)
            logs.configure(settings.log_level, _secrets(settings))
        ports = _ports_cache.get(settings)
        if ports is None:
            ports = _ports_cache[settings] = Ports.from_settings(settings)
        return ports


def _secrets(settings: Settings) -> list[str]:
    found = [*settings.webhook_secrets, settings.api_token or "", settings.callback_token or ""]
    if settings.credentials:
        found += [settings.credentials.secret_key, settings.credentials.token or ""]
    return found


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
        return run_sweep(ports, deadline)
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


def run_sweep(ports: Ports, deadline: Deadline, extra_ids: tuple[str, ...] = ()) -> dict[str, Any]:
    """One sweep; the summary comes back without the bookkeeping the next sweep needs."""
    if not ports.settings.ci_bucket and not ports.settings.ci_endpoint:
        raise ConfigError("JOBWATCH_CI_BUCKET", "required for a sweep")
    margin = max(0.5, min(3.0, deadline.remaining() * 0.1))
    sweeper = Sweeper(ports.settings, ports.ci, ports.records, notifier=ports.notifier, now=ports.clock, margin=margin)
    summary = sweeper.run(deadline, extra_ids=extra_ids)
    public = {k: v for k, v in summary.items() if k not in ("known", "stuckReported", "historyFrom", "baselined")}
    return {"ok": not summary["errors"], **public}


def replay(ports: Ports, event_id: str) -> dict[str, Any]:
    """Re-queue one event for delivery at the next sweep."""
    if not isinstance(ports.notifier, Dispatcher):
        raise ConfigError("JOBWATCH_WEBHOOK_URL", "no delivery is configured")
    return ports.notifier.replay(event_id)


def _action(event: dict[str, Any], ports: Ports, deadline: Deadline) -> dict[str, Any]:
    action = event.get("action")
    now = ports.clock()
    if action == "sweep":
        return run_sweep(ports, deadline)
    if action == "describe":
        ids = event.get("jobIds")
        if not isinstance(ids, list) or not 1 <= len(ids) <= MAX_DESCRIBE_IDS:
            raise InvalidInputError(f"jobIds must be a list of 1-{MAX_DESCRIBE_IDS} job IDs")
        if not all(isinstance(i, str) and is_valid_job_id(i) for i in ids):
            raise InvalidInputError("job IDs are 1-64 characters of A-Z, a-z, 0-9, _ and -")
        result = ports.ci.describe(ids, deadline=deadline)
        return {
            "ok": True,
            "jobs": [j.to_dict() for j in result.jobs],
            "nonExistJobIds": list(result.non_exist_job_ids),
        }
    if action == "watch":
        watch, created = watches.register(ports.records, event, now, ports.settings, ports.guard)
        return {"ok": True, "created": created, "watch": watches.public_watch(watch)}
    if action == "unwatch":
        job_id = event.get("jobId")
        if not isinstance(job_id, str) or not is_valid_job_id(job_id):
            raise InvalidInputError("jobId must be 1-64 characters of A-Z, a-z, 0-9, _ and -")
        ports.records.delete_watch(job_id)
        return {"ok": True, "jobId": job_id}
    if action == "replay":
        event_id = event.get("eventId")
        if not isinstance(event_id, str):
            raise InvalidInputError("eventId must be an event id")
        replayed = replay(ports, event_id)
        return {"ok": True, "eventId": event_id, "status": replayed["status"]}
    if action in ("record", "objects", "report"):
        return _read(event, ports)
    return error_result("InvalidAction", f"action must be one of {', '.join(ACTIONS)}")


def _read(event: dict[str, Any], ports: Ports) -> dict[str, Any]:
    """The HTTP API's reads of one job, for a direct invoke: record, objects (a page), report (or one part)."""
    job_id = event.get("jobId")
    if not isinstance(job_id, str) or not is_valid_job_id(job_id):
        raise InvalidInputError("jobId must be 1-64 characters of A-Z, a-z, 0-9, _ and -")
    action = event["action"]
    if action == "record":
        return {"ok": True, **reads.job_story(ports.records, job_id)}
    if action == "objects":
        limit, state, cursor = event.get("limit", 100), event.get("state", ""), event.get("cursor", "")
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 1000:
            raise InvalidInputError("limit must be a whole number 1-1000")
        if not isinstance(state, str) or not isinstance(cursor, str):
            raise InvalidInputError("state and cursor are strings")
        return {"ok": True, "jobId": job_id, **reads.objects_page(ports.records, job_id, state, limit, cursor)}
    part = event.get("part")
    if part is None:
        return {"ok": True, "report": reads.report_manifest(ports.records, job_id)}
    if not isinstance(part, str):
        raise InvalidInputError("part is a part's file name, e.g. objects-00001.csv")
    return {"ok": True, "part": part, "csv": reads.report_part(ports.records, job_id, part).decode("utf-8")}
