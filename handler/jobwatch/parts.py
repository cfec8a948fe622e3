"""Writing a batch's report rows, in creation order, to segments and then parts.

Rows arrive a sweep's worth at a time. They go to small segment files (``tracks/<jobId>/segment-<n>.csv``, no header
row) until the next one would pass a part's limits (``report.MAX_PART_ROWS`` rows, ``report.MAX_PART_BYTES``
bytes); then the segments become the next part (header + their rows) and are deleted once the track naming the part
is saved. A segment holds at most ``SEGMENT_BYTES``; more than ``MAX_SEGMENTS`` of them are joined into fewer, so the
track's list of them stays short however few rows each sweep brings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import report
from .errors import StoreError
from .records import Records

MAX_SEGMENTS = 32
SEGMENT_BYTES = 1024 * 1024  # a segment is a stored document like any other: at most 1 MiB


class PartWriter:
    """Appends rows to one track's report; ``hold`` is called before each write (it takes the track's lease)."""

    def __init__(self, records: Records, track: dict[str, Any], scope: str, hold: Callable[[], int]) -> None:
        self.records, self.track, self.scope, self.hold = records, track, scope, hold
        self._lines: list[bytes] = []
        self._pending = 0  # bytes of the lines not yet in a segment
        self._last: list[str] | None = None  # the key of the last row written (parts and segments keep it)
        self._room = report.MAX_PART_BYTES - len(report.csv_bytes([], header=True))
        self._rows = sum(int(s["rows"]) for s in track["segments"])
        self._bytes = sum(int(s.get("bytes", 0)) for s in track["segments"])

    def add(self, row: dict[str, Any]) -> None:
        if not report.in_scope(row, self.scope):
            return
        line = report.csv_bytes([row], header=False)
        if self._rows >= report.MAX_PART_ROWS or self._bytes + len(line) > self._room:
            self._segment()
            self._assemble()
        elif self._pending + len(line) > SEGMENT_BYTES:
            self._segment()
        self._lines.append(line)
        self._pending += len(line)
        self._last = list(report.order_key(row))
        self._rows, self._bytes = self._rows + 1, self._bytes + len(line)

    def close(self, finished: bool) -> None:
        """Write what is pending; a finished batch's last segments become its last part."""
        self._segment()
        if finished and self.track["segments"]:
            self._assemble()
        elif len(self.track["segments"]) > MAX_SEGMENTS:
            self._merge()

    def _segment(self) -> None:
        if not self._lines:
            return
        self._put_segment(b"".join(self._lines), len(self._lines))
        self._lines, self._pending = [], 0

    def _put_segment(self, data: bytes, rows: int) -> None:
        self.hold()
        number = int(self.track.get("segmentSeq", 0)) + 1
        key = self.records.segment_key(self.track["jobId"], number)
        self.records.store.put(key, data)
        self.track["segmentSeq"] = number
        self.track["segments"].append({"key": key, "rows": rows, "bytes": len(data), "last": self._last})

    def _bodies(self) -> bytes:
        bodies = []
        for segment in self.track["segments"]:
            data = self.records.store.get(segment["key"])
            if data is None:
                raise StoreError(f"report segment {segment['key']} is missing")
            bodies.append(data)
        return b"".join(bodies)

    def _assemble(self) -> None:
        """The open segments become the next part; they are deleted once a track naming the part is saved."""
        if not self.track["segments"]:
            return
        self.hold()
        data = report.csv_bytes([], header=True) + self._bodies()
        number = len(self.track["parts"]) + 1
        key = report.part_key(self.track["jobId"], number)
        self.records.store.put(key, data)
        self.track["parts"].append(
            {
                "key": key,
                "rows": sum(int(s["rows"]) for s in self.track["segments"]),
                "md5": report.md5_hex(data),
                "last": self.track["segments"][-1].get("last"),
                "bytes": len(data),
            }
        )
        self.track.setdefault("garbage", []).extend(s["key"] for s in self.track["segments"])
        self.track["segments"] = []
        self._rows = self._bytes = 0

    def _merge(self) -> None:
        """Many small segments become fewer: neighbours joined while together they stay within ``SEGMENT_BYTES``."""
        groups: list[list[dict[str, Any]]] = [[]]
        for segment in self.track["segments"]:
            size = sum(int(s.get("bytes", 0)) for s in groups[-1])
            if groups[-1] and size + int(segment.get("bytes", 0)) > SEGMENT_BYTES:
                groups.append([])
            groups[-1].append(segment)
        self.track["segments"] = []
        for group in groups:
            if len(group) == 1:
                self.track["segments"].append(group[0])
                continue
            kept, self.track["segments"] = self.track["segments"], group
            data = self._bodies()  # the group's rows, in order
            self.track["segments"], self._last = kept, group[-1].get("last")
            self._put_segment(data, sum(int(s["rows"]) for s in group))
            self.track.setdefault("garbage", []).extend(s["key"] for s in group)
