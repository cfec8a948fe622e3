"""The operations every face uses — the direct invoke, the HTTP API and the status page — and their wiring.

Faces (``entry``, ``api``) parse and answer; this module does: sweep, describe, watch, unwatch, replay, and the
reads (a job's story, lists of jobs and events, objects, the report). It imports no face.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from . import cursors, logs, placement, reads, shards, watches
from .book import Key
from .config import Settings
from .deadline import Deadline
from .errors import ConfigError, InvalidInputError, JobwatchError, StoreError
from .events import public_event
from .fanout import Fanout
from .fleet import Fleet
from .ids import checked_event_id, checked_job_id
from .notify.guard import AddressGuard
from .overview import Overview
from .records import Records
from .store import open_store
from .sweep import CISource, Notifier, Sweeper
from .targets import Target

log = logging.getLogger("jobwatch.service")

MAX_DESCRIBE_IDS = 100
SCAN_LIMIT = 1000  # stored documents read per page at most, however selective the filters
JOB_STATES = ("Submitted", "Running", "Pause", "Success", "Failed", "Cancel")
EVENT_STATUSES = ("pending", "delivered", "failed")


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
    cursor_key: bytes = field(default=b"", init=False, repr=False)  # signs the paging cursors this deployment gives
    _hosts: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    invoker: Any = field(default=None, repr=False)  # SCF Invoke of this function for shards (None: no fan-out)
    ci_options: dict[str, Any] = field(default_factory=dict, repr=False)  # for each host's client (tests: no sleeps)

    def __post_init__(self) -> None:
        if self.guard is None:
            self.guard = AddressGuard(self.settings.callback_allow_nets)
        self.cursor_key = cursors.key_for(self.settings.api_token)

    @property
    def ci(self) -> CISource:
        if self._ci is None:
            self._ci = self.ci_factory()
        return self._ci

    def ci_host(self, host: str) -> Any:
        """The client for one CI host (a bucket's, or a region's for discovery), kept for warm starts: each
        target paces its own requests."""
        with _cache_lock:
            client = self._hosts.get(host)
            if client is None:
                from .ci.client import CIClient

                client = self._hosts[host] = CIClient.for_host(self.settings, host, **self.ci_options)
            return client

    @classmethod
    def from_settings(cls, settings: Settings) -> Ports:
        # The CI client (requests) loads when a route first calls CI; delivery's HTTP stack when a sweep runs.
        from .notify.chain import ChainInvoker
        from .notify.outbox import Dispatcher
        from .notify.webhook import WebhookSender

        def ci_client() -> CISource:
            from .ci.client import CIClient

            return CIClient.from_settings(settings)

        records = Records(open_store(settings))
        ports = cls(settings, records, ci_client)
        chain = ChainInvoker.from_settings(settings)
        ports.notifier = Dispatcher(records, settings.webhook_secrets, webhooks=WebhookSender(ports.guard), chain=chain)
        ports.invoker = chain
        return ports


_cache_lock = threading.Lock()
_settings_cache: dict[tuple[tuple[str, str], ...], Settings] = {}
_ports_cache: dict[Settings, Ports] = {}


def load_ports(environ: Mapping[str, str]) -> Ports:
    """Settings read once per environment, and their adapters, cached for warm starts."""
    key = tuple(sorted((k, v) for k, v in environ.items() if k.startswith(("JOBWATCH_", "TENCENTCLOUD_", "SCF_"))))
    with _cache_lock:
        settings = _settings_cache.get(key)
        if settings is None:
            settings = _settings_cache[key] = Settings.from_env(environ)
            logs.configure(settings.log_level, secrets_of(settings))
        ports = _ports_cache.get(settings)
        if ports is None:
            ports = _ports_cache[settings] = Ports.from_settings(settings)
        return ports


def secrets_of(settings: Settings) -> list[str]:
    """Every secret value the settings hold: the logs mask them."""
    found = [*settings.webhook_secrets, settings.api_token or "", settings.callback_token or ""]
    if settings.credentials:
        found += [settings.credentials.secret_key, settings.credentials.token or ""]
    return found


def _margin(deadline: Deadline) -> float:
    """What a sweep keeps back of its time for the work after its CI requests."""
    return max(0.5, min(3.0, deadline.remaining() * 0.1))


def run_sweep(ports: Ports, deadline: Deadline, extra_ids: tuple[str, ...] = ()) -> dict[str, Any]:
    """One sweep; the summary comes back without the bookkeeping the next sweep needs."""
    margin = _margin(deadline)
    if ports.settings.many:
        fleet = Fleet(ports.settings, ports.records, ports.ci_host, notifier=ports.notifier, now=ports.clock,
                      margin=margin, invoker=ports.invoker)  # fmt: skip
        summary = fleet.run(deadline, extra_ids)
    else:
        if not ports.settings.ci_bucket and not ports.settings.ci_endpoint:
            raise ConfigError("JOBWATCH_CI_BUCKET", "required for a sweep")
        fanout = Fanout(ports.settings, ports.records, ports.invoker)
        sweeper = Sweeper(ports.settings, ports.ci, ports.records, notifier=ports.notifier, now=ports.clock,
                          margin=margin, fanout=fanout)  # fmt: skip
        summary = sweeper.run(deadline, extra_ids=extra_ids)
    hidden = ("known", "stuckReported", "historyFrom", "baselined", "badEntries", "objectsOffset",
              "retentionCursor", "listEdges")  # fmt: skip
    public = {k: v for k, v in summary.items() if k not in hidden}
    return {"ok": not summary["errors"], **public}


def targets(ports: Ports) -> dict[str, Any]:
    """The watched buckets as the last sweep found them (``bucket@region`` → ok, first error, active jobs)."""
    latest = ports.records.latest_summary() or {}
    found = latest.get("targets")
    found = found if isinstance(found, dict) else {}
    watched = {t.key: {"ok": None, "error": None, "jobs": 0} for t in placement.watched(ports.settings, ports.records)}
    return {"targets": {**watched, **found}, "sweptAt": latest.get("startedAt"), "many": ports.settings.many}


def run_work(ports: Ports, shard: object, deadline: Deadline) -> dict[str, Any]:
    """One shard a sweep handed out (``{"action": "work", "shard": ...}``, from this function's own fan-out)."""
    checked = shards.checked(shard, placement.watched(ports.settings, ports.records))
    if checked.targets and not ports.settings.many:
        raise InvalidInputError("a shard of buckets is for JOBWATCH_CI_BUCKETS: the one-bucket form hands out none")
    margin = _margin(deadline)
    fleet = Fleet(ports.settings, ports.records, ports.ci_host, notifier=ports.notifier, now=ports.clock,
                  margin=margin)  # fmt: skip
    result = fleet.work(checked, deadline)
    hidden = ("known", "stuckReported", "historyFrom", "baselined", "badEntries", "listEdges")
    return {k: v for k, v in result.items() if k not in hidden}


def retry(ports: Ports, job_id: object, body: object, deadline: Deadline) -> tuple[int, dict[str, Any]]:
    """Retry a finished batch's failed objects (see ``retries``): (HTTP status, answer)."""
    from .retries import Retrier, checked_request
    from .store.s3 import S3Store

    checked = checked_job_id(job_id, "jobId")
    codes, dry = checked_request(body)
    settings = ports.settings

    def creator_for(record: dict[str, Any]) -> Any:
        if settings.many and record.get("bucket") and record.get("region"):
            return ports.ci_host(Target(str(record["bucket"]), str(record["region"])).host)
        return ports.ci

    def writer_for(target: Target) -> Any:
        endpoint = settings.cos_endpoint or f"https://cos.{target.region}.myqcloud.com"
        return S3Store(target.bucket, endpoint_url=endpoint, region=target.region, credentials=settings.credentials)

    record = ports.records.job(checked) or {}
    creator = creator_for(record)
    where = {"ci_bucket": record["bucket"], "ci_region": record["region"]} if record.get("region") else {}
    events = Sweeper(replace(settings, **where), creator, ports.records, now=ports.clock)  # the job's own bucket
    retrier = Retrier(settings, ports.records, creator, writer_for, ports.clock, events.create_event)
    status, answer = retrier.retry(checked, codes, dry, deadline)
    if retrier.written or retrier.events:
        try:
            Overview(ports.records).fold([], retrier.written, retrier.events, deadline, ports.clock())
        except JobwatchError as exc:  # the next sweep folds them in
            log.warning("the index was not updated after a retry: %s", exc)
    return status, answer


def replay(ports: Ports, event_id: str) -> dict[str, Any]:
    """Re-queue one event for delivery at the next sweep."""
    from .notify.outbox import Dispatcher

    checked_event_id(event_id)
    if not isinstance(ports.notifier, Dispatcher):
        raise ConfigError("JOBWATCH_WEBHOOK_URL", "no delivery is configured")
    event = ports.notifier.replay(event_id)
    Overview(ports.records).fold([], [], [event], Deadline.after(10), ports.clock())
    return event


def describe(
    ports: Ports, job_ids: object, deadline: Deadline, bucket: object = "", region: object = ""
) -> dict[str, Any]:
    """Live status from CI for 1-100 jobs; with many buckets, each asked of its own (see ``placement``)."""
    if not isinstance(job_ids, list) or not 1 <= len(job_ids) <= MAX_DESCRIBE_IDS:
        raise InvalidInputError(f"jobIds must be a list of 1-{MAX_DESCRIBE_IDS} job IDs")
    ids = [checked_job_id(i) for i in job_ids]
    place = placement.checked_place(bucket, region)
    if not ports.settings.many:
        result = ports.ci.describe(ids, deadline=deadline)
        return {"jobs": [j.to_dict() for j in result.jobs], "nonExistJobIds": list(result.non_exist_job_ids)}
    groups: dict[Target, list[str]] = {}
    for job_id in ids:
        groups.setdefault(placement.target_for(ports.settings, ports.records, job_id, *place), []).append(job_id)
    jobs: list[dict[str, Any]] = []
    missing: list[str] = []
    for target, group in groups.items():
        result = ports.ci_host(target.host).describe(group, deadline=deadline)
        jobs += [{**j.to_dict(), "bucket": target.bucket, "region": target.region} for j in result.jobs]
        missing += result.non_exist_job_ids
    return {"jobs": jobs, "nonExistJobIds": missing}


def watch(ports: Ports, request: object) -> tuple[dict[str, Any], bool]:
    """Register a watch; (the watch as answers show it, created). With many buckets the watch names its job's."""
    target = None
    if ports.settings.many and isinstance(request, dict):
        place = placement.checked_place(request.get("bucket"), request.get("region"))
        target = placement.target_for(ports.settings, ports.records, checked_job_id(request.get("jobId"), "jobId"),
                                      *place)  # fmt: skip
    found, created = watches.register(ports.records, request, ports.clock(), ports.settings, ports.guard, target)
    return watches.public_watch(found), created


def unwatch(ports: Ports, job_id: object) -> str:
    checked = checked_job_id(job_id)
    ports.records.delete_watch(checked)
    return checked


def job_story(ports: Ports, job_id: object) -> dict[str, Any]:
    return reads.job_story(ports.records, checked_job_id(job_id))


def objects_page(ports: Ports, job_id: object, state: str, limit: int, cursor: str) -> dict[str, Any]:
    checked = checked_job_id(job_id)
    after = cursors.decode(ports.cursor_key, cursor, "o")
    if after and "|" not in after:
        raise InvalidInputError("cursor is not one this API gave out")  # an offset an earlier version gave
    page = reads.objects_page(ports.records, checked, state, limit, after)
    after = page.pop("next")
    return {
        "jobId": checked,
        **page,
        "nextCursor": None if after is None else cursors.encode(ports.cursor_key, "o", after),
    }


def report_manifest(ports: Ports, job_id: object) -> dict[str, Any]:
    return reads.report_manifest(ports.records, checked_job_id(job_id))


def report_part(ports: Ports, job_id: object, part: object) -> bytes:
    if not isinstance(part, str):
        raise InvalidInputError("part is a part's file name, e.g. objects-00001.csv")
    return reads.report_part(ports.records, checked_job_id(job_id), part)


# --- stored lists, paginated ------------------------------------------------------------------


def _page(ports: Ports, prefix: str, limit: int, cursor: str, keep: Callable[[dict[str, Any]], bool],
          view: Callable[[dict[str, Any]], dict[str, Any]]) -> tuple[list[dict[str, Any]], str | None]:  # fmt: skip
    """Stored documents under ``prefix`` after the cursor, filtered, at most ``limit``; an opaque next cursor."""
    after = cursors.decode(ports.cursor_key, cursor, "k")
    if after and (not after.startswith(prefix) or ".." in after):
        raise InvalidInputError("cursor is not one this API gave out")
    items: list[dict[str, Any]] = []
    last = ""
    scanned = 0
    keys: Iterable[str] = ports.records.store.list(prefix, start_after=after)
    for key in keys:
        if not key.endswith(".json"):
            continue
        if len(items) == limit or scanned == SCAN_LIMIT:
            return items, cursors.encode(ports.cursor_key, "k", last)
        scanned += 1
        last = key
        try:
            document = ports.records.load(key)
        except JobwatchError:
            continue  # a damaged document is skipped, not fatal
        if document is not None and keep(document):
            items.append(view(document))
    return items, None


def _index_cursor(ports: Ports, cursor: str) -> Key | None:
    """The key an index cursor continues before (None: from the newest)."""
    value = cursors.decode(ports.cursor_key, cursor, "i")
    if not value:
        return None
    time, bar, ident = value.partition("|")
    if not bar:
        raise InvalidInputError("cursor is not one this API gave out")
    return (time, ident)


def _from_index(
    ports: Ports, root: dict[str, Any], cursor: str, limit: int, keep: Callable[[dict[str, Any]], bool],
    statuses: tuple[str, ...] = (),
) -> tuple[list[dict[str, Any]], str | None]:  # fmt: skip
    """Lines newest first from an index book, at most ``limit``, and the cursor to go on (a page may hold fewer,
    even none, while there is more)."""
    items: list[dict[str, Any]] = []
    keys: list[Key] = []
    for key, line in Overview.lines(ports.records, root, _index_cursor(ports, cursor), keep, statuses):
        if line is None or len(items) == limit:
            last = key if line is None else keys[-1]
            return items, cursors.encode(ports.cursor_key, "i", "|".join(last))
        items.append(line)
        keys.append(key)
    return items, None


def list_jobs(
    ports: Ports, state: str, kind: str, limit: int, cursor: str, search: str = "", bucket: str = "", region: str = ""
) -> dict[str, Any]:
    """Jobs newest first, filtered by state, type, bucket, region and a search of ID or name, with the counts by
    state: from the jobs index (its root, then a page at a time) when the sweeps have built it, else from the records
    themselves. A line without a bucket (written by the one-bucket form) is the first target's."""
    bucket, region = placement.checked_place(bucket, region)
    default = placement.default_bucket(ports.settings, ports.records) if bucket or region else ""

    def placed(line: dict[str, Any]) -> bool:
        if not bucket and not region:
            return True
        if line.get("bucket"):
            return (not bucket or line["bucket"] == bucket) and (not region or line.get("region") == region)
        return (not bucket or bucket == default) and not region

    if state and state not in JOB_STATES:
        raise InvalidInputError(f"state must be one of {', '.join(JOB_STATES)}")
    if kind and kind not in ("Workflow", "Job"):
        raise InvalidInputError("type must be Workflow or Job")
    if len(search) > 128:
        raise InvalidInputError("search is at most 128 characters")
    root = Overview(ports.records).root("jobs") if cursors.kind_of(ports.cursor_key, cursor) != "k" else None
    if root is not None:
        needle = search.lower()

        def wanted(line: dict[str, Any]) -> bool:
            return (not state or line.get("state") == state) and (not kind or line.get("type") == kind) and (
                not needle or needle in str(line.get("jobId", "")).lower()
                or needle in str(line.get("name", "")).lower()) and placed(line)  # fmt: skip

        items, following = _retrying(lambda r: _from_index(ports, r, cursor, limit, wanted,
                                                           (state,) if state else ()), root, ports, "jobs")  # fmt: skip
        counts = dict(root.get("counts") or {})
        narrowed = kind or search or bucket or region
        total = counts.get(state, 0) if state and not narrowed else None
        if not state and not narrowed:
            total = sum(counts.values())
        flags = dict(root.get("flags") or {})
        return {"jobs": items, "nextCursor": following, "counts": counts, "failing": int(flags.get("failing", 0)),
                **({"total": total} if total is not None else {})}  # fmt: skip

    def keep(record: dict[str, Any]) -> bool:
        return (
            (not state or record.get("state") == state) and (not kind or record.get("type") == kind) and placed(record)
        )

    items, after = _page(ports, "jobs/", limit, cursor, keep, lambda r: {k: v for k, v in r.items() if k != "raw"})
    return {"jobs": items, "nextCursor": after}


def _retrying(read: Callable[[dict[str, Any]], Any], root: dict[str, Any], ports: Ports, kind: str) -> Any:
    """A read of an index, once more with a fresh root when a writer removed a page the first one named."""
    try:
        return read(root)
    except StoreError:
        fresh = Overview(ports.records).root(kind)
        if fresh is None:
            raise
        return read(fresh)


def list_events(ports: Ports, status: str, limit: int, cursor: str) -> dict[str, Any]:
    """Events newest first (targets shown without secrets, without their body), filtered by status, with the
    counts by status: from the events index when the sweeps have built it, else from the stored events."""
    if status and status not in EVENT_STATUSES:
        raise InvalidInputError(f"status must be one of {', '.join(EVENT_STATUSES)}")
    root = Overview(ports.records).root("events") if cursors.kind_of(ports.cursor_key, cursor) != "k" else None
    if root is not None:
        items, after = _retrying(lambda r: _from_index(ports, r, cursor, limit,
                                                       lambda e: not status or e.get("status") == status,
                                                       (status,) if status else ()), root, ports, "events")  # fmt: skip
        counts = {**dict.fromkeys(EVENT_STATUSES, 0), **(root.get("counts") or {})}
        return {"events": items, "nextCursor": after, "counts": counts}
    items, after = _page(ports, "events/", limit, cursor, lambda e: not status or e.get("status") == status,
                         public_event)  # fmt: skip
    return {"events": items, "nextCursor": after}
