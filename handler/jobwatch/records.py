"""The store layout (README, "Store layout") as typed reads and writes of JSON documents over an ``ObjectStore``.

- ``jobs/<jobId>.json``, ``watches/<jobId>.json``, ``events/<eventId>.json``
- ``sweeps/<YYYY-MM-DD>/<time>.json`` per sweep, and ``sweeps/latest.json``: a copy of the newest summary,
  which the next sweep starts from (what was active, and since when to list history).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from . import jsoncodec, times
from .deadline import Deadline
from .errors import StoreError
from .ids import checked_event_id, checked_job_id
from .redaction import redact
from .store.base import ObjectStore

# what only the latest summary keeps: the next sweep starts from it, and it grows with the active jobs
STATE_KEYS = ("known", "born", "stuckReported", "badEntries", "retentionCursor", "listEdges", "scrubCursor")
LATEST_SUMMARY = "sweeps/latest.json"
LEASE_SLACK = timedelta(seconds=10)  # clocks of two SCF instances (NTP-synchronised) differ by far less


def dumps(document: dict[str, Any]) -> bytes:
    """Stable JSON bytes: sorted keys, UTF-8; NaN and Infinity raise ``ValueError`` rather than being written."""
    return jsoncodec.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def redacted_event(event: dict[str, Any]) -> dict[str, Any]:
    """An event whose body shows no URL secret (one stored by an earlier version may): its targets stay whole."""
    payload = event.get("payload")
    clean = redact(payload)
    return event if clean is payload else {**event, "payload": clean}


class Records:
    """JSON documents of jobwatch, keyed as the README's store layout lays them out."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    def load(self, key: str) -> dict[str, Any] | None:
        """The JSON object stored at ``key``; None when absent, ``StoreError`` when it is not a JSON object."""
        data = self.store.get(key)
        return None if data is None else self.parse(key, data)

    @staticmethod
    def parse(key: str, data: bytes) -> dict[str, Any]:
        """The JSON object ``data`` (stored at ``key``) holds; ``StoreError`` when it is not one."""
        try:
            document = jsoncodec.loads(data, max_depth=256)
        except ValueError as exc:
            raise StoreError(f"{key} is not valid JSON") from exc
        if not isinstance(document, dict):
            raise StoreError(f"{key} does not hold a JSON object")
        return document

    # jobs
    @staticmethod
    def job_key(job_id: str) -> str:
        return f"jobs/{checked_job_id(job_id)}.json"

    def job(self, job_id: str) -> dict[str, Any] | None:
        return self.load(self.job_key(job_id))

    def put_job(self, record: dict[str, Any]) -> None:
        self.store.put(self.job_key(record["jobId"]), dumps(record))

    def job_url(self, job_id: str) -> str:
        return self.store.url(self.job_key(job_id))

    # watches
    @staticmethod
    def watch_key(job_id: str) -> str:
        return f"watches/{checked_job_id(job_id)}.json"

    def watch(self, job_id: str) -> dict[str, Any] | None:
        return self.load(self.watch_key(job_id))

    def put_watch(self, watch: dict[str, Any]) -> None:
        self.store.put(self.watch_key(watch["jobId"]), dumps(watch))

    def delete_watch(self, job_id: str) -> None:
        self.store.delete(self.watch_key(job_id))

    def finish_watch(self, watch: dict[str, Any]) -> None:
        """Move a watch whose job has ended to ``watches/finished/``: kept, but out of every sweep's reads."""
        self.store.put(f"watches/finished/{checked_job_id(watch['jobId'])}.json", dumps(watch))
        self.delete_watch(watch["jobId"])

    def finished_watch(self, job_id: str) -> dict[str, Any] | None:
        return self.load(f"watches/finished/{checked_job_id(job_id)}.json")

    def any_watch(self, job_id: str) -> dict[str, Any] | None:
        """The job's watch, active or finished."""
        return self.watch(job_id) or self.finished_watch(job_id)

    def watches(self) -> LazyWatches:
        """The active watches (``watches/<jobId>.json``): their job IDs from a listing, each document read only when
        it is asked for (a sweep over 10,000 watched jobs that did not change reads none)."""
        ids = [k[len("watches/") : -len(".json")] for k in self.store.list("watches/")
               if k.count("/") == 1 and k.endswith(".json")]  # fmt: skip
        return LazyWatches(self, ids)

    # events
    @staticmethod
    def event_key(event_id: str) -> str:
        checked_event_id(event_id)
        return f"events/{event_id}.json"

    def create_event(self, event: dict[str, Any]) -> bool:
        """Store a new event unless one with its id exists; True when this call created it."""
        return self.store.create(self.event_key(event["id"]), dumps(redacted_event(event)))

    def event(self, event_id: str) -> dict[str, Any] | None:
        return self.load(self.event_key(event_id))

    def put_event(self, event: dict[str, Any]) -> None:
        self.store.put(self.event_key(event["id"]), dumps(redacted_event(event)))

    # the outbox: one marker per event with deliveries still to make, named by when its next round is due, so a
    # listing in key order meets the due ones first and stops at the first that is not
    @staticmethod
    def outbox_key(event_id: str, due: object) -> str:
        return f"outbox/{max(0, int(times.at(due).timestamp())):010d}-{checked_event_id(event_id)}.json"

    def put_outbox(self, event_id: str, due: object) -> None:
        self.store.put(self.outbox_key(event_id, due), b"{}")

    def due_outbox(self, now: datetime) -> Iterator[tuple[str, str]]:
        """(marker key, event id) of every marker due by ``now``, the earliest first."""
        for key in self.store.list("outbox/"):
            stamp, dash, rest = key[len("outbox/") :].partition("-")
            if not stamp.isdigit() or not dash or not rest.endswith(".json"):
                return  # an earlier version's marker (outbox/<eventId>.json): those sort after every due one
            if int(stamp) > now.timestamp():
                return
            yield key, rest[: -len(".json")]

    def legacy_outbox(self) -> Iterator[tuple[str, str]]:
        """(marker key, event id) of the markers an earlier version wrote (``outbox/<eventId>.json``)."""
        for key in self.store.list("outbox/evt-"):
            if key.endswith(".json"):
                yield key, key[len("outbox/") : -len(".json")]

    # claims: who makes delivery round N of an event (conditional create)
    @staticmethod
    def claim_key(event_id: str, round_no: int) -> str:
        return f"claims/{Records.event_key(event_id)[len('events/') : -len('.json')]}-r{round_no}.json"

    def create_claim(self, event_id: str, round_no: int, claim: dict[str, Any]) -> bool:
        return self.store.create(self.claim_key(event_id, round_no), dumps(claim))

    def claim(self, event_id: str, round_no: int) -> dict[str, Any] | None:
        return self.load(self.claim_key(event_id, round_no))

    def lease(
        self, name: str, round_no: int, now: datetime, deadline: Deadline, minimum: timedelta = timedelta(0)
    ) -> bool:
        """Claim round ``round_no`` of ``name`` (an event's delivery round, a track's version) for as long as the
        invocation holding ``deadline`` may run, plus ``LEASE_SLACK``; True when this call holds it."""
        held = max(minimum, timedelta(seconds=max(0.0, deadline.remaining())) + LEASE_SLACK)
        return self.create_claim(name, round_no, {"at": now.isoformat(), "expiresAt": (now + held).isoformat()})

    def lapsed(self, name: str, round_no: int, now: datetime) -> bool:
        """True when round ``round_no`` of ``name`` is claimed and the lease ran out: its holder died."""
        claim = self.claim(name, round_no)
        return claim is not None and times.at(claim.get("expiresAt")) <= now

    def take_lease(self, name: str, round_no: int, now: datetime, deadline: Deadline) -> bool:
        """``lease``, or when round ``round_no`` of ``name`` is held by a holder whose lease ran out (it died), take it
        over; False while a live holder has it."""
        if self.lease(name, round_no, now, deadline):
            return True
        if not self.lapsed(name, round_no, now):
            return False
        self.delete_claim(name, round_no)
        return self.lease(name, round_no, now, deadline)

    def delete_claim(self, event_id: str, round_no: int) -> None:
        self.store.delete(self.claim_key(event_id, round_no))

    # object tracking: tracks/<jobId>.json (cursors, active objects, counts), tracks/open/<jobId>.json (one marker
    # per batch still being followed), tracks/<jobId>/segment-<n>.csv (report rows waiting to become a part)
    def track(self, job_id: str) -> dict[str, Any] | None:
        return self.load(f"tracks/{checked_job_id(job_id)}.json")

    def put_track(self, track: dict[str, Any]) -> None:
        self.store.put(f"tracks/{checked_job_id(track['jobId'])}.json", dumps(track))

    def create_track(self, track: dict[str, Any]) -> bool:
        """Store a new track unless one exists (two sweeps starting to follow the same batch keep the first)."""
        return self.store.create(f"tracks/{checked_job_id(track['jobId'])}.json", dumps(track))

    def put_open(self, job_id: str) -> None:
        self.store.put(f"tracks/open/{checked_job_id(job_id)}.json", b"{}")

    def delete_open(self, job_id: str) -> None:
        self.store.delete(f"tracks/open/{checked_job_id(job_id)}.json")

    def open_tracks(self) -> list[str]:
        keys = self.store.list("tracks/open/")
        return [k[len("tracks/open/") : -len(".json")] for k in keys if k.endswith(".json")]

    @staticmethod
    def segment_key(job_id: str, number: int) -> str:
        return f"tracks/{checked_job_id(job_id)}/segment-{number:06d}.csv"

    # reports: reports/<jobId>/objects-<NNNNN>.csv parts and manifest.json, written once, last
    @staticmethod
    def manifest_key(job_id: str) -> str:
        return f"reports/{checked_job_id(job_id)}/manifest.json"

    def manifest(self, job_id: str) -> dict[str, Any] | None:
        return self.load(self.manifest_key(job_id))

    def create_manifest(self, document: dict[str, Any]) -> bool:
        return self.store.create(self.manifest_key(document["jobId"]), dumps(document))

    def claim_refresh(self, now: datetime, interval: float) -> bool:
        """The lease of the refresh for ``now``'s window of ``interval`` seconds; True for the one caller that gets
        it. The previous window's lease is removed (best effort), so they do not pile up."""
        window = int(now.timestamp() // interval)
        created = self.store.create(f"claims/refresh-{window}.json", dumps({"at": now.isoformat()}))
        if created:
            self.store.delete(f"claims/refresh-{window - 1}.json")
        return created

    # sweeps
    def put_summary(
        self,
        summary: dict[str, Any],
        state_keys: tuple[str, ...] = STATE_KEYS,
    ) -> str:
        """Store a sweep's summary under its day and time, and as the latest unless a newer one is there.

        Only the latest keeps ``state_keys`` (what the next sweep starts from, which grows with the active jobs):
        a dated summary a minute, each carrying every active job, would cost more than the records themselves.
        """
        started = datetime.fromisoformat(summary["startedAt"]).astimezone(timezone.utc)
        key = f"sweeps/{started:%Y-%m-%d}/{started:%H%M%S.%f}-{summary['sweepId']}.json"
        self.store.put(key, dumps({k: v for k, v in summary.items() if k not in state_keys}))
        latest = self.latest_summary()
        if latest is None or latest.get("startedAt", "") <= summary["startedAt"]:
            self.store.put(LATEST_SUMMARY, dumps(summary))
        return key

    @staticmethod
    def target_state_key(key: str) -> str:
        return f"sweeps/targets/{key}.json"

    def target_state(self, key: str) -> dict[str, Any] | None:
        """What the last sweep of one target left (many-target form); None when none did or it is unreadable."""
        try:
            return self.load(self.target_state_key(key))
        except StoreError:
            return None

    def put_target_state(self, key: str, summary: dict[str, Any]) -> None:
        self.store.put(self.target_state_key(key), dumps(summary))

    def latest_summary(self) -> dict[str, Any] | None:
        try:
            return self.load(LATEST_SUMMARY)
        except StoreError:
            return None  # a damaged pointer is rebuilt by the next summary; the sweep starts afresh


class LazyWatches(Mapping[str, dict[str, Any]]):
    """Watches by job ID, read from the store on first use (a watch deleted meanwhile reads as an empty one)."""

    def __init__(self, records: Records, ids: list[str]) -> None:
        self._records, self._ids = records, dict.fromkeys(ids)
        self._read: dict[str, dict[str, Any]] = {}

    def __getitem__(self, job_id: str) -> dict[str, Any]:
        if job_id not in self._ids:
            raise KeyError(job_id)
        if job_id not in self._read:
            self._read[job_id] = self._records.watch(job_id) or {"jobId": job_id}
        return self._read[job_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def only(self, ids: list[str]) -> LazyWatches:
        """The watches of ``ids`` alone, sharing what was read already (a target's share)."""
        part = LazyWatches(self._records, [i for i in ids if i in self._ids])
        part._read = self._read
        return part

    def __len__(self) -> int:
        return len(self._ids)
