"""A batch's objects as tracked so far, page by page, reading only what a page returns.

Every object has a key, ``(creationTime, childId)``, and the objects are listed in key order: the rows already
written (report parts, then segments, each knowing its last key), then the spans' ended rows not yet written and
their active objects. A page continues after the last key the previous page looked at, and reads at most
``READS`` stored documents besides the track (so a filtered page may hold fewer rows than asked, even none, while
there are more), and at most ``READ_BYTES`` in all.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import Any

from . import report
from .errors import StoreError
from .records import Records
from .spans import new_doc

READS = 2
READ_BYTES = 1024 * 1024
ACTIVE_STATES = ("Submitted", "Running", "Pause")


def _after(item: dict[str, Any], cursor: report.Key) -> bool:
    last = item.get("last")
    return last is None or tuple(last) > cursor


def _active_row(child_id: str, entry: dict[str, Any]) -> dict[str, Any]:
    return {"object": entry.get("object", ""), "state": entry.get("state"), "code": "", "message": "",
            "childId": child_id, "output": "", "creationTime": entry.get("creationTime"), "startTime": None,
            "endTime": None}  # fmt: skip


class _Budget:
    """The documents a page may still read: at most ``reads`` of them and ``READ_BYTES`` in all (the first one
    whatever its size)."""

    def __init__(self, reads: int) -> None:
        self.left, self.bytes = reads, 0

    def take(self, size: object) -> bool:
        size = int(size) if isinstance(size, int) else 0
        if self.left <= 0 or (self.bytes and self.bytes + size > READ_BYTES):
            return False
        self.left, self.bytes = self.left - 1, self.bytes + size
        return True


def _written(records: Records, track: dict[str, Any], cursor: report.Key, budget: _Budget) -> Iterator[Any]:
    header = report.csv_bytes([], header=True)
    written = [*((p, True) for p in track.get("parts", [])), *((s, False) for s in track.get("segments", []))]
    for item, headed in written:
        if not _after(item, cursor):
            continue
        if not budget.take(item.get("bytes")):
            yield cursor, None  # out of reads: the page ends here
            return
        data = records.store.get(item["key"])
        for row in report.read_rows(data if headed else header + data) if data is not None else []:
            key = report.order_key(row)
            if key > cursor:
                yield key, row


def _stream(records: Records, stream: dict[str, Any], cursor: report.Key, flushed: report.Key,
            budget: _Budget) -> Iterator[Any]:  # fmt: skip
    lines = stream.get("spans", [])
    for i, line in enumerate(lines):
        upper = tuple(lines[i + 1]["start"]) if i + 1 < len(lines) else None
        if upper is not None and upper <= cursor:
            continue  # every object of this span comes before the cursor
        if not budget.take(line.get("bytes")):
            yield tuple(line["start"]), None  # out of reads: nothing at or after this key may come before it
            return
        document = new_doc()
        if line.get("key"):
            data = records.store.get(line["key"])
            if data is None:
                raise StoreError(f"span {line['key']} is gone: the track moved on")
            document = Records.parse(line["key"], data)
        items = [(report.order_key(r), {k: v for k, v in r.items() if k != "needsReason"})
                 for r in document.get("rows", [])]  # fmt: skip
        items += [(report.order_key({"creationTime": a.get("creationTime"), "childId": i}), _active_row(i, a))
                  for i, a in document.get("active", {}).items()]  # fmt: skip
        for key, row in sorted(items, key=lambda kr: kr[0]):
            if key > cursor and key > flushed:
                yield key, row


def objects_after(
    records: Records, track: dict[str, Any], wanted: tuple[str, ...], limit: int, cursor: report.Key
) -> tuple[list[dict[str, Any]], report.Key | None]:
    """Up to ``limit`` objects after ``cursor`` whose state is ``wanted`` (any when empty); the key to continue
    after, or None when there is nothing more."""
    flushed: report.Key = tuple(track.get("flushed") or ("", ""))
    budget = _Budget(max(READS, len(track.get("streams", {}))))
    found: list[dict[str, Any]] = []
    last = cursor
    # written rows are ended: a page of active objects starts with the spans
    written = not wanted or not set(wanted) <= set(ACTIVE_STATES)
    sources = [_written(records, track, cursor, budget) if written else iter(())]
    for stream in track.get("streams", {}).values():
        sources.append(_stream(records, stream, cursor, flushed, budget))
    for source in [*sources[:1], heapq.merge(*sources[1:], key=lambda item: item[0])]:
        for key, row in source:
            if row is None:
                return found, last
            if wanted and row.get("state") not in wanted:
                last = key
                continue
            if len(found) == limit:
                return found, last
            found.append(row)
            last = key
    return found, None
