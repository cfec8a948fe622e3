"""Pure event building: which transitions make events, their deterministic ids, and their JSON body."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from . import jsoncodec

TERMINAL_TYPES = {
    "Success": "ci.batchjob.succeeded",
    "Failed": "ci.batchjob.failed",
    "Cancel": "ci.batchjob.cancelled",
}
STATE_CHANGED = "ci.batchjob.state_changed"
STUCK = "ci.batchjob.stuck"
PROGRESS = "ci.batchjob.progress"
FAILING = "ci.batchjob.failing"  # once per batch, whatever JOBWATCH_NOTIFY_ON says
RETRIED = "ci.batchjob.retried"  # once per retry of a batch's failed objects
MAX_BODY_BYTES = 20 * 1024


def event_type(state: str, notify_on: str) -> str | None:
    """The event a move into ``state`` makes, or None when JOBWATCH_NOTIFY_ON does not select it."""
    if state in TERMINAL_TYPES:
        return TERMINAL_TYPES[state]
    return STATE_CHANGED if notify_on == "all" else None


def event_id(job_id: str, kind: str, state: str, sequence: int) -> str:
    """Deterministic per (job, transition) and free of ``.``: the webhook-id of every attempt.

    A job ends once, so terminal and stuck events need no sequence; non-terminal states can recur.
    """
    if kind == STUCK:
        return f"evt-{job_id}-stuck"
    if kind == FAILING:
        return f"evt-{job_id}-failing"
    if kind == RETRIED:
        return f"evt-{job_id}-retried-{sequence:04d}"
    if kind == PROGRESS:
        return f"evt-{job_id}-progress-{sequence:04d}"
    if kind in TERMINAL_TYPES.values():
        return f"evt-{job_id}-{state.lower()}"
    return f"evt-{job_id}-{sequence:04d}-{state.lower()}"


def finished_type(batch_state: str, objects: dict[str, Any]) -> str:
    """A finished batch's event: succeeded only when CI says Success and every object succeeded; cancelled when
    the batch was cancelled; failed otherwise (a Success batch with failed or cancelled objects included)."""
    if batch_state == "Cancel":
        return TERMINAL_TYPES["Cancel"]
    if batch_state == "Success" and not objects.get("failed") and not objects.get("cancelled"):
        return TERMINAL_TYPES["Success"]
    return TERMINAL_TYPES["Failed"]


def utc_stamp(moment: datetime) -> str:
    """``2026-01-01T00:00:00Z``."""
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")[:19] + "Z"  # isoformat: quicker than strftime


def build_event(
    kind: str,
    record: dict[str, Any],
    previous_state: str | None,
    sequence: int,
    *,
    bucket: str | None,
    region: str | None,
    metadata: dict[str, Any] | None,
    record_url: str,
    now: datetime,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The stored event: its id, status and the webhook body (under 20 KB; big input/operation is linked)."""
    state = record.get("state") or ""
    data: dict[str, Any] = {
        "jobId": record["jobId"],
        "jobType": record.get("type"),
        "name": record.get("name"),
        "state": state,
        "previousState": previous_state,
        "code": record.get("code"),
        "message": record.get("message"),
        "creationTime": record.get("creationTime"),
        "startTime": record.get("startTime"),
        "endTime": record.get("endTime"),
        "durationSeconds": duration(record.get("startTime"), record.get("endTime")),
        "bucket": bucket,
        "region": region,
        "input": record.get("input") or {},
        "operation": record.get("operation") or {},
        "metadata": metadata or {},
        "record": record_url,
        **(extra or {}),
    }
    payload = {"type": kind, "timestamp": utc_stamp(now), "data": data}
    _fit(payload)
    eid = event_id(record["jobId"], kind, state, sequence)
    return {
        "id": eid,
        "type": kind,
        "jobId": record["jobId"],
        "state": state,
        "createdAt": now.isoformat(),
        "payload": payload,
        "status": "pending",
        "attempts": [],
        "nextAttemptAt": now.isoformat(),
    }


def _size(payload: dict[str, Any]) -> int:
    return len(body_bytes(payload))


def _fit(payload: dict[str, Any]) -> None:
    """Keep the body under 20 KB: drop the large parts first (the record holds them), then cut every text field,
    and last keep only what identifies the event. ``truncated`` says it was cut."""
    data = payload["data"]
    if _size(payload) <= MAX_BODY_BYTES:
        return
    data["input"], data["operation"], data["truncated"] = {}, {}, True
    if _size(payload) > MAX_BODY_BYTES:
        data["metadata"] = {}
    for limit in (1000, 200):
        if _size(payload) <= MAX_BODY_BYTES:
            return
        for key, value in data.items():
            if isinstance(value, str) and len(value) > limit:
                data[key] = value[:limit] + "…"
    if _size(payload) > MAX_BODY_BYTES:
        keep = ("jobId", "jobType", "state", "previousState", "record", "truncated")
        payload["data"] = {k: data.get(k) for k in keep}


def duration(start: str | None, end: str | None) -> float | None:
    """Seconds between two isoformat times, or None when either is unset."""
    if not start or not end:
        return None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def delivery_targets(
    webhook_url: str | None, chain_function: str | None, watch: dict[str, Any] | None, now: datetime
) -> dict[str, dict[str, Any]]:
    """Where an event goes: the global webhook, the watch's callbackUrl, and the watch's (else the global)
    chain function. Each target keeps its own status, attempt count and next attempt time."""
    watch = watch or {}
    at = now.isoformat()
    targets: dict[str, dict[str, Any]] = {}
    for url in (webhook_url, watch.get("callbackUrl")):
        if url:
            targets[target_id("webhook", url)] = {"kind": "webhook", "url": url, "status": "pending", "attempts": 0,
                                                  "nextAttemptAt": at}  # fmt: skip
    function = watch.get("chainFunction") or chain_function
    if function:
        targets[target_id("chain", function)] = {"kind": "chain", "function": function, "status": "pending",
                                                 "attempts": 0, "nextAttemptAt": at}  # fmt: skip
    return targets


def target_id(kind: str, address: str) -> str:
    """An opaque, stable name for a delivery target: a callback URL's path and query are secrets (a receiver's
    token, a chat hook's key), so answers, logs and attempt records name the target by this instead."""
    digest = hashlib.sha256(f"{kind}\n{address}".encode()).hexdigest()[:16]
    return f"{'wh' if kind == 'webhook' else 'fn'}-{digest}"


def public_url(url: object) -> str:
    """``https://host/…``: scheme, host and a non-default port; never credentials, path or query."""
    if not isinstance(url, str):
        return "(a URL)"
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return "(a URL)"
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        return "(a URL)"
    name = f"[{host}]" if ":" in host else host
    default = 443 if parts.scheme == "https" else 80
    return f"{parts.scheme}://{name}{'' if port in (None, default) else f':{port}'}/…"


def public_target(target: dict[str, Any]) -> str:
    """How a target is shown: a webhook as ``https://host/…``, a chained function by its name."""
    if target.get("kind") == "chain":
        return f"function {target.get('function')}"
    return public_url(target.get("url"))


def _public_name(name: str, target: dict[str, Any] | None) -> str:
    if name.startswith("webhook:"):  # stored before targets had opaque ids
        return target_id("webhook", name[len("webhook:") :])
    if name.startswith("chain:"):
        return target_id("chain", name[len("chain:") :])
    return name


def public_event(event: dict[str, Any]) -> dict[str, Any]:
    """An event as answers show it: targets by opaque id with their URL redacted, attempts naming those ids."""
    targets = event.get("targets") or {}
    shown_targets = {}
    for name, target in targets.items():
        view = {k: v for k, v in target.items() if k not in ("url", "function")}
        view["target"] = public_target(target)
        shown_targets[_public_name(name, target)] = view
    attempts = [{**a, "target": _public_name(str(a.get("target")), None)} for a in event.get("attempts") or []]
    return {**event, "targets": shown_targets, "attempts": attempts}


def body_bytes(payload: dict[str, Any]) -> bytes:
    """The exact bytes POSTed and signed: one deterministic serialisation, the same on every attempt."""
    return jsoncodec.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
