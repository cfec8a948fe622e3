"""A sweep over many targets (``JOBWATCH_CI_BUCKETS``): each bucket's part with a client, state and errors of its
own, side by side; then, once for the store, retention, redaction, deliveries, the indexes and the summary.

- Targets are the listed ones, or those ``GET /mediabucket`` lists in the ``discover:`` regions, discovered again at
  most every ``DISCOVER_EVERY`` (a region whose discovery fails keeps the buckets it had).
- A target's state (known jobs, listing edges, history cursor) is ``sweeps/targets/<bucket>@<region>.json``. A store
  the one-bucket form wrote hands its state to the target of that bucket, once.
- A target whose CI answers 429s, fails or refuses is named in the summary's ``targets`` with its error; it keeps
  its state for the next sweep, and the others' events go out as usual.
- Watches and open batch tracks belong to the target whose jobs they follow: a job a target knows active is its
  own; otherwise the watch's or the job record's bucket says whose (one the one-bucket form wrote: the first
  target's).
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from . import times
from .config import Settings
from .deadline import Deadline
from .errors import JobwatchError
from .leavers import unpack_known
from .placement import DISCOVERY_KEY
from .records import Records, dumps
from .sweep import CISource, Notifier, Part, Sweeper, _Work
from .targets import Target, parse_key, region_host

log = logging.getLogger("jobwatch.fleet")

DISCOVER_EVERY = timedelta(minutes=10)
PARALLEL = 8  # targets looked at side by side (each paces its own requests)
FIGURES = ("jobsSeen", "transitions", "recordsWritten", "eventsEmitted", "activeJobs")


class BucketLister(Protocol):
    def media_buckets(self, region: str, *, deadline: Deadline | None = None) -> list[tuple[str, str]]: ...


class _Clients:
    """The targets' clients as one, for the figures the summary reports (requests sent by operation)."""

    def __init__(self, clients: Sequence[CISource]) -> None:
        self.clients = clients

    @property
    def requests_sent(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for client in self.clients:
            total.update(client.requests_sent)
        return total


@dataclass
class _Look:
    target: Target
    sweeper: Sweeper
    work: _Work | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


class Fleet:
    """One sweep over every target; construct per invocation, ``run(deadline)`` once."""

    def __init__(
        self,
        settings: Settings,
        records: Records,
        client_for: Callable[[str], Any],
        *,
        notifier: Notifier | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        margin: float = 3.0,
    ) -> None:
        self.settings = settings
        self.records = records
        self.client_for = client_for  # a CI host → its client
        self.notifier = notifier
        self.now = now
        self.margin = margin

    def run(self, deadline: Deadline, extra_ids: Sequence[str] = ()) -> dict[str, Any]:
        """One sweep over every target; ``extra_ids`` (batch jobs a CI callback named) go to the target whose
        record names them (one not recorded yet is found by its bucket's listing)."""
        latest = self.records.latest_summary() or {}
        targets, found = self.targets(latest, deadline)
        looks = self._looks(targets, latest)
        sent_before = _Clients([look.sweeper.ci for look in looks]).requests_sent
        extra: dict[Target, list[str]] = {}
        for job_id in extra_ids:
            whose = self._owner({}, job_id, targets, recorded_only=True)
            if whose is not None:
                extra.setdefault(whose, []).append(job_id)
        with ThreadPoolExecutor(min(PARALLEL, max(1, len(looks))), thread_name_prefix="target") as pool:
            list(pool.map(lambda look: self._look(look, deadline, extra.get(look.target, [])), looks))
        summary = self._combine(looks, found)
        host = Sweeper(self.settings, _Clients([look.sweeper.ci for look in looks]), self.records,  # type: ignore[arg-type]
                       notifier=self.notifier, now=self.now, margin=self.margin)  # fmt: skip
        host.upkeep(summary, latest, deadline)
        work = _Work(started=datetime.fromisoformat(summary["startedAt"]), sent_before=sent_before, prev=latest,
                     known={}, stuck_reported=set(), prev_born={}, watches={})  # fmt: skip
        for look in looks:
            if look.work is not None:
                work.observed.update(look.work.observed)
                work.outcomes += look.work.outcomes
                work.new_events += look.work.new_events
                work.written += look.work.written
        return host._finish(work, summary, deadline)

    # --- targets ------------------------------------------------------------------------------

    def targets(self, latest: dict[str, Any], deadline: Deadline) -> tuple[list[Target], dict[str, Any]]:
        """The targets of this sweep, and what discovery found (its time and any region it could not list)."""
        if not self.settings.discover_regions:
            return list(self.settings.ci_targets), {}
        try:
            kept = self.records.load(DISCOVERY_KEY) or {}
        except JobwatchError:
            kept = {}
        before = [t for t in map(parse_key, kept.get("targets") or []) if t is not None]
        if times.within(kept.get("at"), self.now(), DISCOVER_EVERY) and kept.get("regions") == list(
            self.settings.discover_regions
        ):
            return before, {"discoveredAt": kept.get("at"), "errors": kept.get("errors") or {}}
        found: dict[Target, None] = {}
        errors: dict[str, str] = {}
        for region in self.settings.discover_regions:
            try:
                lister: BucketLister = self.client_for(region_host(region))
                found.update(dict.fromkeys(Target(b, r) for b, r in lister.media_buckets(region, deadline=deadline)))
            except JobwatchError as exc:  # this region keeps what it had
                errors[region] = f"{exc.code}: {exc}"
                found.update(dict.fromkeys(t for t in before if t.region == region))
        chosen = sorted(found)
        document = {"at": self.now().isoformat(), "regions": list(self.settings.discover_regions),
                    "targets": [t.key for t in chosen], "errors": errors}  # fmt: skip
        try:
            self.records.store.put(DISCOVERY_KEY, dumps(document))
        except JobwatchError as exc:
            log.warning("discovered buckets not stored: %s", exc)
        return chosen, {"discoveredAt": document["at"], "errors": errors}

    def _looks(self, targets: list[Target], latest: dict[str, Any]) -> list[_Look]:
        """Each target's sweeper, with its state and its share of the watches and open tracks."""
        if not targets:
            return []
        prevs = {t: self._prev(t, latest, targets[0]) for t in targets}
        owner: dict[str, Target] = {}
        for target, prev in prevs.items():
            owner.update(dict.fromkeys(unpack_known(prev)[0], target))
        watches = self.records.watches()
        shares: dict[Target, list[str]] = {t: [] for t in targets}
        for job_id in watches:
            whose = owner.get(job_id) or self._owner(watches[job_id], job_id, targets)
            if whose is not None:
                shares[whose].append(job_id)
        opened: dict[Target, list[str]] = {t: [] for t in targets}
        try:
            tracks = self.records.open_tracks()
        except JobwatchError as exc:
            log.warning("open tracks unreadable: %s", exc)
            tracks = []
        for job_id in tracks:
            whose = owner.get(job_id) or self._owner({}, job_id, targets)
            if whose is not None:
                opened[whose].append(job_id)
        looks = []
        for target in targets:
            settings = replace(self.settings, ci_bucket=target.bucket, ci_region=target.region)
            part = Part(target, prevs[target], watches.only(shares[target]), opened[target])
            sweeper = Sweeper(settings, self.client_for(target.host), self.records, now=self.now, margin=self.margin,
                              part=part)  # fmt: skip
            looks.append(_Look(target, sweeper))
        return looks

    def _prev(self, target: Target, latest: dict[str, Any], first: Target) -> dict[str, Any]:
        """The target's state; a store the one-bucket form wrote gives its state to the target of that bucket."""
        state = self.records.target_state(target.key)
        if state is not None:
            return state
        if not latest or latest.get("many"):
            return {}
        was = parse_key(latest.get("target"))
        if (was is not None and was.bucket == target.bucket) or (was is None and target == first):
            return latest
        return {}

    def _owner(
        self, watch: dict[str, Any], job_id: str, targets: list[Target], recorded_only: bool = False
    ) -> Target | None:
        """Whose job this is when no target knows it active: the watch's bucket, else the record's, else the
        first target's (what the one-bucket form wrote; with ``recorded_only``, none). None when it is a bucket no
        longer watched."""
        where = watch if watch.get("bucket") else None
        if where is None:
            try:
                where = self.records.job(job_id)
            except JobwatchError:
                where = None
        if not where or not where.get("bucket"):
            return None if recorded_only and not where else targets[0]
        for target in targets:
            if target.matches(where.get("bucket"), where.get("region")):
                return target
        return None

    # --- one target ---------------------------------------------------------------------------

    def _look(self, look: _Look, deadline: Deadline, extra_ids: list[str]) -> None:
        """One target's part; its state is stored at once (before the deliveries), unless nothing changed."""
        try:
            look.work, look.summary = look.sweeper.look(deadline, extra_ids)
        except JobwatchError as exc:
            look.error = f"{exc.code}: {exc}"
            log.warning("target %s failed: %s", look.target.key, exc)
            return
        except Exception as exc:  # one target's surprise must not stop the others' events
            look.error = f"InternalError: {type(exc).__name__}"
            log.exception("target %s failed", look.target.key)
            return
        look.summary["target"] = look.target.key
        assert look.sweeper.part is not None
        prev = look.sweeper.part.prev
        if look.sweeper._quiet(look.summary, prev, look.work.written) and prev.get("target") == look.target.key:
            return
        try:
            self.records.put_target_state(look.target.key, look.summary)
        except JobwatchError as exc:
            look.summary["errors"].append(f"{exc.code}: the target's state was not stored: {exc}")

    def _combine(self, looks: list[_Look], found: dict[str, Any]) -> dict[str, Any]:
        """The sweep's summary: every target's figures added up, its errors named by target, and ``targets``."""
        first = min((look.work.started for look in looks if look.work is not None), default=self.now())
        summary: dict[str, Any] = {
            "sweepId": uuid.uuid4().hex[:12],
            "startedAt": first.isoformat(),
            "many": True,
            "complete": bool(looks) and all(look.summary.get("complete") for look in looks),
            **{name: sum(int(look.summary.get(name) or 0) for look in looks) for name in FIGURES},
            "eventIds": [i for look in looks for i in look.summary.get("eventIds", [])],
            "deliveries": {"ok": 0, "failed": 0},
            "nonExistJobIds": [i for look in looks for i in look.summary.get("nonExistJobIds", [])],
            "errors": [] if looks else ["NoTargets: no bucket to watch (discovery listed none)"],
            "targets": {},
        }
        objects: Counter[str] = Counter()
        for look in looks:
            errors = [look.error] if look.error else list(look.summary.get("errors") or [])
            summary["errors"] += [f"{look.target.key}: {e}" for e in errors]
            summary["targets"][look.target.key] = {
                "ok": not errors, "error": errors[0] if errors else None,
                "jobs": int(look.summary.get("activeJobs") or 0),
            }  # fmt: skip
            objects.update({k: v for k, v in (look.summary.get("objects") or {}).items() if isinstance(v, int)})
        if objects:
            summary["objects"] = dict(objects)
        if found:
            summary["discovery"] = found
            summary["errors"] += [f"discovery of {r}: {e}" for r, e in (found.get("errors") or {}).items()]
        return summary
