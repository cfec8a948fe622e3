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
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from . import placement, shards, times
from .config import Settings
from .deadline import Deadline
from .errors import JobwatchError
from .fanout import SHARDS, Fanout, Invoker
from .leavers import unpack_known
from .placement import DISCOVERY_KEY
from .records import LazyWatches, Records, dumps
from .sweep import CISource, Notifier, Part, Sweeper, Work, target_line
from .targets import Target, parse_key, region_host

log = logging.getLogger("jobwatch.fleet")

DISCOVER_EVERY = timedelta(minutes=10)
PARALLEL = shards.PARALLEL  # targets looked at side by side (each paces its own requests)
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
    work: Work | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    busy: bool = False  # another invocation holds the target (or, with ``late``, no time was left to look)
    late: bool = False


class Fleet:
    """One sweep over every target (``run``), or one shard of one (``work``); construct per invocation."""

    def __init__(
        self,
        settings: Settings,
        records: Records,
        client_for: Callable[[str], Any],
        *,
        notifier: Notifier | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        margin: float = 3.0,
        invoker: Invoker | None = None,
    ) -> None:
        self.settings = settings
        self.records = records
        self.client_for = client_for  # a CI host → its client
        self.notifier = notifier
        self.now = now
        self.margin = margin
        self.fanout = Fanout(settings, records, invoker)  # the function invoking itself for shards

    def run(self, deadline: Deadline, extra_ids: Sequence[str] = ()) -> dict[str, Any]:
        """One sweep over every target; ``extra_ids`` (batch jobs a CI callback named) go to the target whose
        record names them (one not recorded yet is found by its bucket's listing). With more targets than the
        invocation can look at in time, the rest go to shards, and the results of earlier shards join the summary."""
        latest = self.records.latest_summary() or {}
        targets, found = self.targets(latest, deadline)
        prevs = {t: self._prev(t, latest, targets[0]) for t in targets} if targets else {}
        watches = self.records.watches()  # listed once: each target's share reads from it (and its reads)
        shares = self._route(targets, prevs, watches)
        sweep_id = uuid.uuid4().hex[:12]
        kept, handed = targets, list[shards.Shard]()
        if self.fanout.enabled and len(targets) > 1:
            costs = {t: float(p["lookSeconds"]) for t, p in prevs.items() if isinstance(p.get("lookSeconds"), float)}
            kept, handed = shards.plan(targets, costs, deadline.remaining() / 2, shares, sweep_id)
        failed = self.fanout.hand_out(handed, deadline)
        extra: dict[Target, list[str]] = {}
        for job_id in extra_ids:
            whose = self._owner({}, job_id, targets, recorded_only=True)
            if whose in kept:
                extra.setdefault(whose, []).append(job_id)
        # Buckets whose last look was cut short, then those looked at longest ago, go first: a sweep that runs out of
        # time leaves the freshest for the next, and no bucket waits behind the same others for ever.
        kept = sorted(kept, key=lambda t: (bool(prevs[t].get("complete")), str(prevs[t].get("startedAt") or "")))
        looks = [self._sweeper(t, prevs[t], watches.only(shares[t][0]), shares[t][1]) for t in kept]
        summary, work = self._look_all(looks, deadline, extra, latest)
        summary["sweepId"] = sweep_id
        summary["errors"] += failed
        if not targets:
            summary["errors"].append("NoTargets: no bucket to watch (discovery listed none)")
        if found:
            summary["discovery"] = found
            summary["errors"] += [f"discovery of {r}: {e}" for r, e in (found.get("errors") or {}).items()]
        if handed:
            summary["fanout"] = {"shards": len(handed), "targets": sum(len(s.targets) for s in handed),
                                 "failed": len(failed)}  # fmt: skip
            for shard in handed:
                for target in shard.targets:
                    summary["targets"][target.key] = {**target_line(prevs[target]), "shard": shard.id}
        self.fanout.gather(summary)
        host = self._host(looks)
        host.upkeep(summary, latest, deadline)
        host.deliveries = self.fanout.split_deliveries(latest, summary, deadline)
        return host.finish(work, summary, deadline)

    def work(self, shard: shards.Shard, deadline: Deadline) -> dict[str, Any]:
        """One shard a sweep handed out: its targets looked at, their events delivered and indexed (a delivery
        shard: its slice of the due deliveries), the outcome stored for the next sweep's summary. A shard runs once:
        a second invocation of it (SCF retries) finds it claimed, unless the first died and its lease ran out."""
        # A delivery slice is held by one invocation at a time, whichever split handed it out.
        name = f"shard-{shard.id}" if shard.deliver is None else "deliver-{}-of-{}".format(*shard.deliver)
        if not self.records.take_lease(name, 1, self.now(), deadline):
            return {"ok": True, "shard": shard.id, "skipped": "another invocation holds this shard or slice"}
        try:
            latest = self.records.latest_summary() or {}
            first = self._first()
            looks = []
            for target in shard.targets:  # the sweep routed the watches: no listing here
                watches = LazyWatches(self.records, shard.watches.get(target.key, []))
                prev = self._prev(target, latest, first or target)
                looks.append(self._sweeper(target, prev, watches, shard.opened.get(target.key, [])))
            summary, work = self._look_all(looks, deadline, {}, {})
            summary["shard"] = shard.id
            host = self._host(looks)
            host.deliveries = shard.deliver  # a delivery shard: its slice of the due deliveries (else all due)
            host.deliver_and_fold(work, summary, deadline)
            result = {k: summary[k] for k in ("shard", "startedAt", "targets", "errors", "eventsEmitted",
                                              "deliveries")}  # fmt: skip
            self.records.store.put(f"{SHARDS}{shard.id}.json", dumps({**result, "finishedAt": self.now().isoformat()}))
            return {"ok": not summary["errors"], **summary}
        finally:
            self.records.delete_claim(name, 1)

    # --- targets ------------------------------------------------------------------------------

    def targets(self, latest: dict[str, Any], deadline: Deadline) -> tuple[list[Target], dict[str, Any]]:
        """The targets of this sweep, and what discovery found (its time and any region it could not list)."""
        if not self.settings.discover_regions:
            return list(self.settings.ci_targets), {}
        kept, before = placement.discovered(self.records)
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

    def _route(
        self, targets: list[Target], prevs: dict[Target, dict[str, Any]], watches: LazyWatches
    ) -> dict[Target, tuple[list[str], list[str]]]:
        """Each target's watches and open batch tracks: a job a target knows active is its own; see ``_owner``."""
        owner: dict[str, Target] = {}
        for target, prev in prevs.items():
            owner.update(dict.fromkeys(unpack_known(prev)[0], target))
        shares: dict[Target, tuple[list[str], list[str]]] = {t: ([], []) for t in targets}
        if not targets:
            return shares
        for job_id in watches:
            whose = owner.get(job_id) or self._owner(watches[job_id], job_id, targets)
            if whose is not None:
                shares[whose][0].append(job_id)
        try:
            tracks = self.records.open_tracks()
        except JobwatchError as exc:
            log.warning("open tracks unreadable: %s", exc)
            tracks = []
        for job_id in tracks:
            whose = owner.get(job_id) or self._owner({}, job_id, targets)
            if whose is not None:
                shares[whose][1].append(job_id)
        return shares

    def _sweeper(self, target: Target, prev: dict[str, Any], watches: LazyWatches, opened: list[str]) -> _Look:
        settings = replace(self.settings, ci_bucket=target.bucket, ci_region=target.region)
        part = Part(target, prev, watches, opened)
        sweeper = Sweeper(settings, self.client_for(target.host), self.records, now=self.now, margin=self.margin,
                          part=part)  # fmt: skip
        return _Look(target, sweeper)

    def _look_all(
        self, looks: list[_Look], deadline: Deadline, extra: dict[Target, list[str]], latest: dict[str, Any]
    ) -> tuple[dict[str, Any], Work]:
        """Every target's part, side by side: the combined summary, and the work the deliveries and indexes take."""
        sent_before = _Clients([look.sweeper.ci for look in looks]).requests_sent
        if looks:
            with ThreadPoolExecutor(min(PARALLEL, len(looks)), thread_name_prefix="target") as pool:
                list(pool.map(lambda look: self._look(look, deadline, extra.get(look.target, [])), looks))
        summary = self._combine(looks)
        work = Work(started=datetime.fromisoformat(summary["startedAt"]), sent_before=sent_before, prev=latest,
                     known={}, stuck_reported=set(), prev_born={}, watches={})  # fmt: skip
        for look in looks:
            if look.work is not None:
                work.observed.update(look.work.observed)
                work.outcomes += look.work.outcomes
                work.new_events += look.work.new_events
                work.written += look.work.written
        return summary, work

    def _host(self, looks: list[_Look]) -> Sweeper:
        """A sweeper for the store's part: deliveries, indexes, retention, the summary."""
        clients = _Clients([look.sweeper.ci for look in looks])
        return Sweeper(self.settings, clients, self.records, notifier=self.notifier, now=self.now,  # type: ignore[arg-type]
                       margin=self.margin)  # fmt: skip

    def _first(self) -> Target | None:
        """The first watched target: the one a store the one-bucket form wrote belongs to."""
        watched = placement.watched(self.settings, self.records)
        return watched[0] if watched else None

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
        """One target's part, holding the target (two invocations never look at one target at once); its state is
        stored at once (before the deliveries), unless nothing changed."""
        if deadline.expired(self.margin * 1.5):  # too little time to look: left as it is for the next sweep
            look.busy = look.late = True
            return
        name = f"target-{look.target.bucket}-{look.target.region}"
        if not self.records.take_lease(name, 1, self.now(), deadline):
            look.busy = True
            return
        started = time.monotonic()
        try:
            look.work, look.summary = look.sweeper.look(deadline, extra_ids)
            look.summary.update(target=look.target.key, lookSeconds=round(time.monotonic() - started, 3))
            self._keep(look)
        except JobwatchError as exc:
            look.error = f"{exc.code}: {exc}"
            log.warning("target %s failed: %s", look.target.key, exc)
        except Exception as exc:  # one target's surprise must not stop the others' events
            look.error = f"InternalError: {type(exc).__name__}"
            log.exception("target %s failed", look.target.key)
        finally:
            self.records.delete_claim(name, 1)

    def _keep(self, look: _Look) -> None:
        """Store the target's state unless its sweep was quiet and the stored one is recent."""
        assert look.work is not None and look.sweeper.part is not None
        prev = look.sweeper.part.prev
        if look.sweeper.quiet(look.summary, prev, look.work.written) and prev.get("target") == look.target.key:
            return
        try:
            self.records.put_target_state(look.target.key, look.summary)
        except JobwatchError as exc:
            look.summary["errors"].append(f"{exc.code}: the target's state was not stored: {exc}")

    def _combine(self, looks: list[_Look]) -> dict[str, Any]:
        """The sweep's summary: every target's figures added up, its errors named by target, and ``targets`` (a
        target another invocation held shows what its last sweep left, marked busy)."""
        first = min((look.work.started for look in looks if look.work is not None), default=self.now())
        summary: dict[str, Any] = {
            "sweepId": uuid.uuid4().hex[:12],
            "startedAt": first.isoformat(),
            "many": True,
            "complete": all((look.busy and not look.late) or look.summary.get("complete") for look in looks),
            **{name: sum(int(look.summary.get(name) or 0) for look in looks) for name in FIGURES},
            "eventIds": [i for look in looks for i in look.summary.get("eventIds", [])],
            "deliveries": {"ok": 0, "failed": 0},
            "nonExistJobIds": [i for look in looks for i in look.summary.get("nonExistJobIds", [])],
            "errors": [],
            "targets": {},
        }
        objects: Counter[str] = Counter()
        for look in looks:
            if look.busy:
                assert look.sweeper.part is not None
                flag = "late" if look.late else "busy"
                summary["targets"][look.target.key] = {**target_line(look.sweeper.part.prev), flag: True}
                continue
            errors = [look.error] if look.error else list(look.summary.get("errors") or [])
            summary["errors"] += [f"{look.target.key}: {e}" for e in errors]
            summary["targets"][look.target.key] = target_line({**look.summary, "errors": errors})
            objects.update({k: v for k, v in (look.summary.get("objects") or {}).items() if isinstance(v, int)})
        if objects:
            summary["objects"] = dict(objects)
        return summary
