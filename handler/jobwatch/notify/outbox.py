"""Delivery with an outbox: at least once per target, never the same round twice, dead letters kept.

Every event with deliveries to make has a marker under ``outbox/``, named by when its next round is due
(``outbox/<epoch seconds>-<eventId>.json``), so a sweep lists the due ones first, earliest first, and stops listing at
the first that is not due: a long queue of later retries costs it nothing, and no due event waits behind them. A
sweep delivers its new events at once and the due ones until its deadline nears; a round's new due time gets a new
marker before the old one is removed. Before sending, it claims the event's next delivery round with a conditional
create, so two overlapping sweeps never send the same round; the claim is leased for as long as its invocation may
run. A claim whose holder died (its lease ran out) is recorded as a failed round and the next round is claimed.
Failed targets retry after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (±10% jitter, at the next sweep after that), then
the event is ``failed``: a dead letter that ``replay`` re-queues.
"""

from __future__ import annotations

import itertools
import logging
import random
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple

from .. import events as ev
from .. import times
from ..deadline import Deadline
from ..errors import JobwatchError, NotFoundError, StoreUnavailableError
from ..records import Records
from ..redaction import redact
from ..shards import in_slice
from ..signing import webhook_headers
from .chain import ChainInvoker
from .webhook import AttemptResult, WebhookSender

log = logging.getLogger("jobwatch.notify")

SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 36000)  # seconds after attempts 1..7
LEASE_MIN = timedelta(seconds=15)
RECORD_RETRIES = (0.2, 0.5, 1.0)  # pauses before writing a round's outcome again (the store's own retries came first)
WORKERS = 8
CHUNK = 4 * WORKERS  # due markers read from the listing at a time: the deadline is checked between chunks
LEGACY_SLICE = 200  # markers of an earlier version moved to their due time per sweep


class Delivered(NamedTuple):
    """What a dispatch did: attempts that succeeded and failed, and whether it stopped for the deadline with due
    deliveries left (the next sweep splits such a backlog among shards)."""

    ok: int
    failed: int
    backlog: bool = False


class Dispatcher:
    """The sweep's notifier: delivers new events, retries due ones, replays dead letters."""

    def __init__(
        self,
        records: Records,
        secrets: tuple[str, ...],
        *,
        webhooks: WebhookSender,
        chain: ChainInvoker | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        rng: Callable[[], float] = random.random,
        wall: Callable[[], float] = time.time,
        margin: float = 2.0,
    ) -> None:
        self.records = records
        self.secrets = secrets
        self.webhooks = webhooks
        self.chain = chain
        self.now = now
        self.rng = rng
        self.wall = wall  # webhook-timestamp: the real time of the attempt, whatever clock schedules retries
        self.margin = margin

    def dispatch(
        self,
        events: list[dict[str, Any]],
        deadline: Deadline,
        changed: list[dict[str, Any]] | None = None,
        settled: list[str] | None = None,
        part: tuple[int, int] | None = None,
    ) -> Delivered:
        """Deliver ``events`` (just created) and the outbox's due events, the earliest due first, until the deadline
        nears. Every event a delivery round updated is appended to ``changed`` (the sweep folds them into its index).
        With ``settled``, the markers of events that are no longer pending are appended to it instead of deleted: the
        caller deletes them once ``changed`` is in the index, so a sweep that dies before its fold leaves the marker,
        and the next sweep folds the event's status instead of losing it. With ``part`` (slice, of how many), only
        that slice of the due events is taken (``events`` all are)."""
        fresh = {e["id"]: e for e in events if e.get("status") == "pending"}
        try:
            self._move_legacy(deadline)
        except JobwatchError as exc:
            log.warning("outbox markers of an earlier version not moved yet: %s", exc)
        work = itertools.chain(fresh.values(), self._due(set(fresh), part))
        ok = failed = 0
        with ThreadPoolExecutor(WORKERS, thread_name_prefix="deliver") as pool:
            while True:
                try:
                    chunk = list(itertools.islice(work, CHUNK))
                except JobwatchError as exc:
                    log.warning("outbox unreadable: %s", exc)
                    break
                if not chunk:
                    break
                if deadline.expired(self.margin):
                    return Delivered(ok, failed, backlog=True)
                for result in pool.map(lambda item: self._deliver(item, deadline, changed, settled), chunk):
                    ok, failed = ok + result[0], failed + result[1]
        return Delivered(ok, failed)

    def _due(self, skip: set[str], part: tuple[int, int] | None) -> Iterator[tuple[str, str]]:
        for key, event_id in self.records.due_outbox(self.now()):
            if event_id not in skip and in_slice(event_id, part):
                yield key, event_id

    def _move_legacy(self, deadline: Deadline) -> None:
        """Markers an earlier version wrote (no due time in their name) move to their due time, a slice a sweep."""
        for moved, (key, event_id) in enumerate(self.records.legacy_outbox()):
            if moved >= LEGACY_SLICE or deadline.expired(self.margin):
                return
            event = self.records.event(event_id)
            if event is not None and event.get("status") == "pending":
                self.records.put_outbox(event_id, event.get("nextAttemptAt"))
            self.records.store.delete(key)

    def _deliver(
        self,
        item: tuple[str, str] | dict[str, Any],
        deadline: Deadline,
        changed: list[dict[str, Any]] | None = None,
        settled: list[str] | None = None,
    ) -> tuple[int, int]:
        if deadline.expired(self.margin):
            return 0, 0
        name = item[1] if isinstance(item, tuple) else item["id"]
        try:
            event = self.records.event(item[1]) if isinstance(item, tuple) else item
            marker = item[0] if isinstance(item, tuple) else self.records.outbox_key(name, item.get("nextAttemptAt"))
            if event is None:  # a marker whose event was never created (a crash between the two)
                self.records.store.delete(marker)
                return 0, 0
            return self._round(event, marker, deadline, changed, settled)
        except JobwatchError as exc:
            log.warning("delivery of %s postponed: %s", name, exc)
            return 0, 0

    def _round(
        self,
        event: dict[str, Any],
        marker: str,
        deadline: Deadline,
        changed: list[dict[str, Any]] | None = None,
        settled: list[str] | None = None,
    ) -> tuple[int, int]:
        now = self.now()
        if event.get("status") != "pending":  # settled by a sweep that may have died before its index knew
            if changed is not None:
                changed.append(event)
            self._requeue(event, marker, settled)
            return 0, 0
        if times.at(event.get("nextAttemptAt")) > now:
            self._requeue(event, marker)  # a marker left behind when its event moved on: put it where it belongs
            return 0, 0
        round_no = int(event.get("round", 0)) + 1
        # The claim lives as long as the invocation that holds it can (and a little more): a longer function timeout
        # must not let a second sweep take over a live round and deliver it twice.
        if not self.records.lease(event["id"], round_no, now, deadline, minimum=LEASE_MIN):
            return self._maybe_take_over(event, round_no, now)
        # Our copy may be stale: the round may have been made, and its claim released, since we read it.
        current = self.records.event(event["id"])
        if current is None or current.get("status") != "pending" or int(current.get("round", 0)) + 1 != round_no:
            self.records.delete_claim(event["id"], round_no)
            return 0, 0
        event = current
        ok = failed = 0
        body = ev.body_bytes(redact(event["payload"]))  # one stored by an earlier version may show a secret
        for name, target in event.get("targets", {}).items():
            if target["status"] != "pending" or times.at(target.get("nextAttemptAt")) > now:
                continue
            result = self._send(target, event["id"], body, deadline)
            self._record(event, name, target, result, now)
            ok, failed = ok + result.ok, failed + (not result.ok)
        self._settle(event, round_no)
        self._record_round(event, deadline)
        if changed is not None:
            changed.append(event)  # list.append is atomic: the delivery threads share it
        self._requeue(event, marker, settled)
        self.records.delete_claim(event["id"], round_no)
        return ok, failed

    def _requeue(self, event: dict[str, Any], marker: str, settled: list[str] | None = None) -> None:
        """The event's marker at its next due time (written before the old one goes), or none once it is settled
        (left in ``settled`` for the caller to delete, when it keeps that list)."""
        if event.get("status") == "pending":
            due = self.records.outbox_key(event["id"], event.get("nextAttemptAt"))
            if due == marker:
                return
            self.records.store.put(due, b"{}")
        elif settled is not None:
            settled.append(marker)
            return
        self.records.store.delete(marker)

    def _record_round(self, event: dict[str, Any], deadline: Deadline) -> None:
        """Store the round's outcome. The deliveries are made: a write the store refuses now would send them again
        after the lease, so a transient refusal is tried again a few times, within the deadline."""
        for pause in (*RECORD_RETRIES, None):
            try:
                self.records.put_event(event)
                return
            except StoreUnavailableError:
                if pause is None or deadline.remaining() <= pause + self.margin:
                    raise
                time.sleep(pause)

    def _maybe_take_over(self, event: dict[str, Any], round_no: int, now: datetime) -> tuple[int, int]:
        """Another sweep holds this round; if its lease ran out it died: count the round as failed, move on."""
        if not self.records.lapsed(event["id"], round_no, now):
            return 0, 0
        current = self.records.event(event["id"])  # the holder may have recorded the round before it died
        if current is None or int(current.get("round", 0)) + 1 != round_no:
            return 0, 0
        abandoned = "a delivery round was claimed but never finished"
        current.setdefault("attempts", []).append(
            {"target": "*", "at": now.isoformat(), "status": None, "error": abandoned}
        )
        current["round"] = round_no
        self.records.put_event(current)
        return 0, 0

    def _send(self, target: dict[str, Any], event_id: str, body: bytes, deadline: Deadline) -> AttemptResult:
        if target["kind"] == "webhook":
            if not self.secrets:
                return AttemptResult(False, None, "JOBWATCH_WEBHOOK_SECRET is not set: nothing to sign with")
            timestamp = int(self.wall())
            return self.webhooks.send(target["url"], body, webhook_headers(self.secrets, event_id, timestamp, body),
                                      deadline)  # fmt: skip
        if self.chain is None:
            return AttemptResult(False, None, "chained invoke is not configured")
        return self.chain.invoke(target["function"], body, deadline)

    def _record(
        self, event: dict[str, Any], name: str, target: dict[str, Any], result: AttemptResult, now: datetime
    ) -> None:
        target["attempts"] = int(target.get("attempts", 0)) + 1
        event.setdefault("attempts", []).append(
            {"target": name, "at": now.isoformat(), "status": result.status, "error": result.error}
        )
        if result.ok:
            target["status"] = "delivered"
        elif result.disable:
            target["status"] = "disabled"
        elif target["attempts"] > len(SCHEDULE):
            target["status"] = "failed"
        else:
            delay = SCHEDULE[target["attempts"] - 1] * (0.9 + 0.2 * self.rng())
            delay = max(delay, result.retry_after or 0.0)
            target["nextAttemptAt"] = (now + timedelta(seconds=delay)).isoformat()
        if not result.ok:  # a URL's path and query may hold a receiver's token: log scheme and host only
            shown = ev.public_target(target)
            log.info("delivery to %s (%s) failed: %s", shown, name, result.error, extra={"eventId": event["id"]})

    def _settle(self, event: dict[str, Any], round_no: int) -> None:
        event["round"] = round_no
        targets = list(event.get("targets", {}).values())
        pending = [t for t in targets if t["status"] == "pending"]
        if pending:
            event["status"] = "pending"
            event["nextAttemptAt"] = min(t["nextAttemptAt"] for t in pending)
        else:
            event["status"] = "delivered" if all(t["status"] == "delivered" for t in targets) else "failed"
            event["nextAttemptAt"] = None

    def replay(self, event_id: str) -> dict[str, Any]:
        """Re-queue an event: every target not delivered starts its schedule again at the next sweep."""
        event = self.records.event(event_id)
        if event is None:
            raise NotFoundError(f"no event {event_id}")
        now = self.now().isoformat()
        for target in event.get("targets", {}).values():
            if target["status"] != "delivered":
                target.update(status="pending", attempts=0, nextAttemptAt=now)
        if any(t["status"] == "pending" for t in event.get("targets", {}).values()):
            event.update(status="pending", nextAttemptAt=now, replayedAt=now)
            self.records.put_outbox(event_id, now)
        self.records.put_event(event)
        return event
