"""Fan-out on SCF: which targets a sweep keeps and which it hands to asynchronous invocations of its own function
(``{"action": "work", "shard": {...}}``), and the shard payload checked on the way in. Pure: no SDK, no store.

A target's cost is how long its last look took (a target never looked at counts ``UNKNOWN_COST``). The sweep keeps
targets while their cost, ``PARALLEL`` at a time, fits half of what its invocation has left (the rest goes to
deliveries and the indexes); the others are packed into shards that fit the same budget, each under SCF's 128 KB
event limit with room to spare.

A sweep whose deliveries stopped for its deadline with due ones left (a receiver back after an outage, 50,000 events
waiting) splits the outbox next time: events fall into ``DELIVERY_PARTS`` slices by their ID, the sweep delivers the
first itself and hands each other slice to a shard of its own. The delivery claims keep a round from being sent twice
whoever holds the slice.
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidInputError
from .ids import JOB_ID_RE
from .targets import Target, parse_key

UNKNOWN_COST = 2.0  # seconds a target never looked at is taken to need
PARALLEL = 8  # targets one invocation looks at side by side
MAX_PAYLOAD = 100 * 1024  # of SCF's 128 KB for an asynchronous event
MAX_IDS = 2000  # watches and open tracks a target hands over; a target with more stays with the sweep
DELIVERY_PARTS = 8  # slices of a backlog of due deliveries: the sweep takes one, shards the rest
SHARD_ID_RE = re.compile(r"[a-f0-9]{12}-d?[0-9]{1,4}")


@dataclass
class Shard:
    """Targets for one invocation, with the watches and open batch tracks that are theirs."""

    id: str
    targets: list[Target]
    watches: dict[str, list[str]] = field(default_factory=dict)  # target key → job IDs
    opened: dict[str, list[str]] = field(default_factory=dict)
    deliver: tuple[int, int] | None = None  # (slice, of how many) of the due deliveries, for a delivery shard

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "targets": [t.key for t in self.targets], "watches": self.watches,
                                "opened": self.opened}  # fmt: skip
        if self.deliver is not None:
            body["deliver"] = list(self.deliver)
        return {"action": "work", "shard": body}

    def size(self) -> int:
        return len(json.dumps(self.payload(), separators=(",", ":")).encode())


def plan(
    targets: list[Target],
    costs: dict[Target, float],
    budget: float,
    shares: dict[Target, tuple[list[str], list[str]]],
    sweep_id: str,
) -> tuple[list[Target], list[Shard]]:
    """(the targets this invocation keeps, the shards it hands out). ``budget``: seconds of looking one invocation
    can afford; ``shares``: each target's watches and open tracks."""
    room = budget * PARALLEL
    kept: list[Target] = []
    rest: list[Target] = []
    spent = 0.0
    for target in targets:  # in order: the first targets stay, as they would without fan-out
        cost = costs.get(target, UNKNOWN_COST)
        heavy = sum(map(len, shares.get(target, ([], [])))) > MAX_IDS
        if spent + cost <= room or heavy or not kept:
            kept.append(target)
            spent += cost
        else:
            rest.append(target)
    shards: list[Shard] = []
    current: Shard | None = None
    load = 0.0
    size = 0  # the current shard's payload bytes, at most (counted as targets join: no encoding per target)
    for target in rest:
        cost = costs.get(target, UNKNOWN_COST)
        watches, opened = shares.get(target, ([], []))
        if current is None or load + cost > room or size > MAX_PAYLOAD - 40 * (len(watches) + len(opened)):
            current = Shard(f"{sweep_id}-{len(shards) + 1}", [])
            shards.append(current)
            load, size = 0.0, current.size()
        current.targets.append(target)
        size += len(target.key) + 3  # "key", in targets
        for kind, ids in (("watches", watches), ("opened", opened)):
            if ids:
                getattr(current, kind)[target.key] = ids
                size += len(target.key) + 6 + sum(len(i) + 3 for i in ids)  # "key":["id",…],
        load += cost
    return kept, shards


def delivery_shards(sweep_id: str, parts: int = DELIVERY_PARTS) -> tuple[tuple[int, int], list[Shard]]:
    """(the slice a sweep delivers itself, the shards for the others) of a backlog of due deliveries."""
    return (0, parts), [Shard(f"{sweep_id}-d{n}", [], deliver=(n, parts)) for n in range(1, parts)]


def in_slice(event_id: str, part: tuple[int, int] | None) -> bool:
    """Whether an event's deliveries belong to ``part`` (every event when None): by a stable hash of its ID."""
    return part is None or zlib.crc32(event_id.encode()) % part[1] == part[0]


def checked(shard: object, watched: list[Target]) -> Shard:
    """A shard from a ``work`` event: its ID, targets among the watched ones, and job IDs; 400 otherwise."""
    if not isinstance(shard, dict) or not isinstance(shard.get("id"), str) or not SHARD_ID_RE.fullmatch(shard["id"]):
        raise InvalidInputError("shard must be an object with the id a sweep gave it")
    deliver = shard.get("deliver")
    if deliver is not None and not (
        isinstance(deliver, list)
        and len(deliver) == 2
        and all(type(n) is int for n in deliver)
        and 0 <= deliver[0] < deliver[1] <= 64
    ):
        raise InvalidInputError("shard.deliver must be [slice, of how many], at most 64 slices")
    keys = shard.get("targets")
    if not isinstance(keys, list) or not (keys or deliver):
        raise InvalidInputError("shard.targets must be a list of bucket@region")
    allowed = set(watched)
    targets = [parse_key(k) for k in keys]
    if any(t is None or t not in allowed for t in targets):
        raise InvalidInputError("shard.targets names a bucket that is not watched")
    found = Shard(
        shard["id"], [t for t in targets if t is not None], deliver=(deliver[0], deliver[1]) if deliver else None
    )
    for name in ("watches", "opened"):
        given = shard.get(name) or {}
        if not isinstance(given, dict):
            raise InvalidInputError(f"shard.{name} must map bucket@region to job IDs")
        for key, ids in given.items():
            if (
                key not in keys
                or not isinstance(ids, list)
                or not all(isinstance(i, str) and JOB_ID_RE.fullmatch(i) for i in ids)
            ):
                raise InvalidInputError(f"shard.{name} must map its targets to job IDs")
            getattr(found, name)[key] = list(ids)
    return found
