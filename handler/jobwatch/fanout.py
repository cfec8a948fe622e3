"""Fan-out on SCF, the part both sweep forms share: handing shards to asynchronous invocations of this function,
taking in what earlier shards did, and splitting a backlog of due deliveries among shards.

A shard's outcome is ``sweeps/shards/<id>.json`` until the next sweep's summary takes it in (its buckets' lines,
its errors, whether its slice of the deliveries still had due ones left).
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol

from . import shards
from .errors import JobwatchError
from .records import Records, dumps

if TYPE_CHECKING:
    from .config import Settings
    from .deadline import Deadline
    from .notify.webhook import AttemptResult

SHARDS = "sweeps/shards/"  # what each shard did, until the next sweep's summary takes it in


class Invoker(Protocol):
    def invoke(self, function: str, body: bytes, deadline: Deadline) -> AttemptResult: ...


class Fanout:
    """This function invoking itself for shards; construct per invocation."""

    def __init__(self, settings: Settings, records: Records, invoker: Invoker | None) -> None:
        self.settings = settings
        self.records = records
        self.invoker = invoker

    @property
    def enabled(self) -> bool:
        """``JOBWATCH_FANOUT=auto``, and a function to invoke (``SCF_FUNCTIONNAME``) with a client to do it."""
        return self.settings.fanout == "auto" and self.invoker is not None and bool(self.settings.function_name)

    def hand_out(self, handed: list[shards.Shard], deadline: Deadline) -> list[str]:
        """Invoke this function once per shard (asynchronously); the errors of those that could not be."""
        if not handed or self.invoker is None:
            return []
        invoker = self.invoker
        function = f"{self.settings.function_namespace}/{self.settings.function_name}"

        def one(shard: shards.Shard) -> str | None:
            result = invoker.invoke(function, dumps(shard.payload()), deadline)
            return None if result.ok else f"shard {shard.id} not handed out ({result.error}): the next sweep has it"

        with ThreadPoolExecutor(min(shards.PARALLEL, len(handed)), thread_name_prefix="fanout") as pool:
            return [e for e in pool.map(one, handed) if e]

    def split_deliveries(
        self, prev: dict[str, Any], summary: dict[str, Any], deadline: Deadline
    ) -> tuple[int, int] | None:
        """When the last sweep (or one of its shards) stopped delivering with due deliveries left: hand every slice
        of the outbox but the first to a shard, and answer the slice this sweep takes (None: all of it)."""
        if not self.enabled or not ((prev.get("deliveries") or {}).get("backlog") or summary.get("backlogShards")):
            return None
        own, handed = shards.delivery_shards(uuid.uuid4().hex[:12])
        failed = self.hand_out(handed, deadline)
        summary["errors"] += failed
        fanout = summary.setdefault("fanout", {})
        fanout["deliveryShards"] = len(handed) - len(failed)
        return None if len(failed) == len(handed) else own

    def gather(self, summary: dict[str, Any]) -> None:
        """Earlier shards' outcomes join this summary: each bucket's line (unless this sweep looked at it), errors,
        and whether a delivery slice was left with due ones; their documents go."""
        gathered = backlog = 0
        for key in self.records.store.list(SHARDS):
            try:
                result = self.records.load(key) or {}
            except JobwatchError:
                result = {}
            for target, line in (result.get("targets") or {}).items():
                own = summary["targets"].get(target)
                if isinstance(line, dict) and (own is None or "shard" in own):  # this sweep did not look at it
                    summary["targets"][target] = line
            summary["errors"] += [f"shard {result.get('shard')}: {e}" for e in (result.get("errors") or [])][:20]
            backlog += bool((result.get("deliveries") or {}).get("backlog"))
            gathered += 1
            self.records.store.delete(key)
        if gathered:
            summary.setdefault("fanout", {})["gathered"] = gathered
        if backlog:
            summary["backlogShards"] = backlog
