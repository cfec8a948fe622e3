"""A batch's objects in spans: each a slice of one child stream's creation order, stored as its own document.

A stream's spans split the key space ``(creationTime, childId)`` at their ``start`` keys: a child belongs to the last
span whose start is at or before its key, so the spans of a stream, read one after the other, are in creation order.
New children fill the stream's last span until it holds ``SPAN_OBJECTS`` objects or ``SPAN_BYTES`` bytes; the next
child starts a span of its own. A span's document holds its active children and the report rows of its ended ones
not yet written; the track keeps only a small line per span (counts, the active children's time range).

Documents are written copy-on-write: a changed span goes to a new key named for the track version being written, and
the old key is deleted only after the track naming the new one is saved. A sweep that dies halfway leaves the saved
track and every document it names intact. At most ``KEEP`` documents stay in memory; a changed one is written out
when it leaves, so memory does not grow with the batch.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

from .errors import StoreError
from .records import Records, dumps
from .report import END_KEY, Key, time_key
from .report import order_key as row_key

SPAN_OBJECTS = 1000
SPAN_BYTES = 256 * 1024
SPLIT_BYTES = 768 * 1024  # a span whose rows grew past this is cut in two (documents stay under 1 MiB)
KEEP = 6


def new_doc() -> dict[str, Any]:
    return {"active": {}, "rows": []}


class Spans:
    """The span documents of one track during one sweep: loaded on demand, a few at a time, written when changed.

    ``hold`` is called before the first write and returns the track version being written (it takes the track's
    lease; it raises when another sweep holds it, before anything was written).
    """

    def __init__(self, records: Records, track: dict[str, Any], hold: Callable[[], int]) -> None:
        self.records, self.track, self.hold = records, track, hold
        self._docs: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self._dirty: set[int] = set()
        self.garbage: list[str] = []
        self._starts: dict[str, list[tuple[str, ...]]] = {}  # each stream's span starts, for bisection
        self.changed = False  # anything about the spans changed (the track must be saved)

    # --- lines -----------------------------------------------------------------------------------

    def lines(self, stream: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.track["streams"][stream].setdefault("spans", [])
        return found

    def locate(self, stream: str, key: Key) -> dict[str, Any] | None:
        """The span a child of ``key`` belongs to (None when the stream has none yet)."""
        spans = self.lines(stream)
        if not spans:
            return None
        if key >= tuple(spans[-1]["start"]):
            return spans[-1]  # the common case: a new child, after every span's start
        starts = self._starts.get(stream)
        if starts is None or len(starts) != len(spans):
            starts = self._starts[stream] = [tuple(s["start"]) for s in spans]
        return spans[max(bisect.bisect_right(starts, key) - 1, 0)]

    def place(self, stream: str, key: Key, size: int) -> dict[str, Any]:
        """The span a new child goes to: its own, or a new last span when the last one is full."""
        spans = self.lines(stream)
        found = self.locate(stream, key)
        last = spans[-1] if spans else None
        full = last is not None and (last["objects"] >= SPAN_OBJECTS or last["bytes"] + size > SPAN_BYTES)
        if found is None or (found is last and full and key > tuple(last["start"])):
            number = int(self.track.get("spanSeq", 0)) + 1
            self.track["spanSeq"] = number
            found = {"n": number, "key": None, "start": list(key), "objects": 0, "bytes": 0, "active": 0, "rows": 0,
                     "reasons": 0, "lo": None, "hi": None}  # fmt: skip
            spans.append(found)
            self._docs[number] = new_doc()
            self._evict()  # a sweep that lists many new objects keeps only the newest spans in memory
        elif key < tuple(found["start"]):
            found["start"] = list(key)  # before every span (the ones before it were written and removed)
            self._starts.pop(stream, None)
        return found

    # --- documents -------------------------------------------------------------------------------

    def doc(self, line: dict[str, Any]) -> dict[str, Any]:
        number = int(line["n"])
        if number in self._docs:
            self._docs.move_to_end(number)
            return self._docs[number]
        document = new_doc()
        if line.get("key"):
            data = self.records.store.get(line["key"])
            if data is None:
                raise StoreError(f"span {line['key']} of a saved track is missing")
            document = Records.parse(line["key"], data)
        self._docs[number] = document
        self._evict()
        return document

    def touch(self, line: dict[str, Any]) -> None:
        """The span's document changed: it is recounted by ``settle`` and written when it leaves memory or at
        ``save``."""
        self._dirty.add(int(line["n"]))
        self.changed = True

    def settle(self) -> None:
        """Recount the lines of the changed documents in memory; cut in two a span grown past ``SPLIT_BYTES`` (rows
        with long failure messages), so no span document passes 1 MiB."""
        for number in list(self._dirty):
            found = self._find(number)
            if found is None:
                continue
            stream, line = found
            document = self._docs[number]
            if int(line.get("bytes", 0)) > SPLIT_BYTES and len(document["active"]) + len(document["rows"]) > 1:
                self._split(stream, line, document)
            else:
                self._recount(line, document)

    def _split(self, stream: str, line: dict[str, Any], document: dict[str, Any]) -> None:
        entries = [(row_key(r), False, r) for r in document["rows"]]
        entries += [(row_key({"creationTime": a.get("creationTime"), "childId": i}), True, (i, a))
                    for i, a in document["active"].items()]  # fmt: skip
        entries.sort(key=lambda e: e[0])
        half = len(entries) // 2
        number = int(self.track.get("spanSeq", 0)) + 1
        self.track["spanSeq"] = number
        twin = {**line, "n": number, "key": None, "start": list(entries[half][0])}
        spans = self.lines(stream)
        spans.insert(spans.index(line) + 1, twin)
        self._starts.pop(stream, None)
        for target, part in ((line, entries[:half]), (twin, entries[half:])):
            split = new_doc()
            for _, is_active, item in part:
                if is_active:
                    split["active"][item[0]] = item[1]
                else:
                    split["rows"].append(item)
            self._docs[int(target["n"])] = split
            self._dirty.add(int(target["n"]))
            target.update(bytes=len(dumps(split)), objects=len(part))
            self._recount(target, split)
        self.changed = True

    @staticmethod
    def _recount(line: dict[str, Any], document: dict[str, Any]) -> None:
        active = document["active"]
        times = [time_key(a.get("creationTime")) for a in active.values()]
        line.update(active=len(active), rows=len(document["rows"]),
                    reasons=sum(1 for r in document["rows"] if r.get("needsReason")),
                    lo=min(times) if times else None, hi=max(times) if times else None)  # fmt: skip
        line["objects"] = max(int(line.get("objects", 0)), line["active"] + line["rows"])

    def grow(self, line: dict[str, Any], size: int, objects: int = 1) -> None:
        line["objects"] = int(line.get("objects", 0)) + objects
        line["bytes"] = int(line.get("bytes", 0)) + size

    def _evict(self) -> None:
        while len(self._docs) > KEEP:
            number, document = self._docs.popitem(last=False)
            if number in self._dirty:
                self._write(number, document)

    def _write(self, number: int, document: dict[str, Any]) -> None:
        line = self._line(number)
        self._dirty.discard(number)
        if line is None:
            return  # removed from the track meanwhile: nothing left to keep
        self._recount(line, document)
        version = self.hold()
        key = f"tracks/{self.track['jobId']}/span-{number:07d}-v{version}.json"
        data = dumps(document)
        self.records.store.put(key, data)
        if line.get("key") and line["key"] != key:  # written under an earlier version: that copy goes later
            self.garbage.append(line["key"])
        line.update(key=key, bytes=len(data))

    def _line(self, number: int) -> dict[str, Any] | None:
        found = self._find(number)
        return None if found is None else found[1]

    def _find(self, number: int) -> tuple[str, dict[str, Any]] | None:
        for stream in self.track["streams"]:
            for line in self.lines(stream):
                if int(line["n"]) == number:
                    return stream, line
        return None

    def drop(self, stream: str, line: dict[str, Any]) -> None:
        """Remove a span whose objects have all been written to the report."""
        self.lines(stream).remove(line)
        self._starts.pop(stream, None)
        self._docs.pop(int(line["n"]), None)
        self._dirty.discard(int(line["n"]))
        if line.get("key"):
            self.garbage.append(line["key"])
        self.changed = True

    def save(self) -> None:
        """Write every changed document still in memory (before the track that names them is saved)."""
        for number in sorted(self._dirty):
            self._write(number, self._docs[number])

    # --- reading (rows for the report, objects pages) ----------------------------------------------

    def rows_before(
        self, stream: str, frontier: Key, after: Key, visited: list[tuple[str, dict[str, Any]]]
    ) -> Iterator[tuple[Key, dict[str, Any]]]:
        """The ended rows of a stream with ``after`` < key < ``frontier``, in order, span after span (each span
        read is added to ``visited``)."""
        for line in list(self.lines(stream)):
            if tuple(line["start"]) >= frontier:
                return
            if not line["rows"]:
                continue
            visited.append((stream, line))
            rows = sorted(self.doc(line)["rows"], key=row_key)
            for row in rows:
                key = row_key(row)
                if key >= frontier:
                    return
                if key > after and not row.get("needsReason"):
                    yield key, row


def frontier(track: dict[str, Any], finished: bool) -> Key:
    """Every row before this key can be written: no older object is active, waits for its reason, or is unlisted."""
    if finished:
        return END_KEY
    bounds: list[Key] = []
    for stream in track["streams"].values():
        bounds.append((time_key(stream.get("watermark")), ""))
        for line in stream.get("spans", []):
            if line["reasons"]:
                bounds.append((str(line["start"][0]), ""))
            if line["lo"] is not None:
                bounds.append((time_key(line["lo"]), ""))
    return min(bounds, default=END_KEY)
