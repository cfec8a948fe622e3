"""A book: lines kept in pages, newest last, each page a document of its own, listed by a small root.

Each line has a key ``(time, id)``; the pages split the key space at their ``start`` keys (a line belongs to the last
page whose start is at or before its key). A page that grows past ``PAGE_LINES`` lines or ``PAGE_BYTES`` bytes is cut
in two. The root keeps per page its key, start, line count and counts by a line's ``status`` field, so a reader
skips pages that hold nothing it wants without reading them, and totals need no page at all.

Pages are written copy-on-write under the root's next sequence number: the old page is removed only after the root
naming the new one is saved, so a reader holding an older root still finds its pages for a while, and a writer that
dies halfway leaves the saved root and its pages whole.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Callable, Iterator
from typing import Any

from .errors import StoreError
from .records import Records, dumps

PAGE_LINES = 1000
PAGE_BYTES = 384 * 1024  # a root and two pages stay under 1 MiB
Key = tuple[str, str]
FLAGS = ("failing",)


class Book:
    """The pages of one kind of line (``name``) under ``index/<name>/``, as one writer changes them."""

    def __init__(self, records: Records, name: str, root: dict[str, Any], status: Callable[[dict[str, Any]], str],
                 inline_head: bool = False) -> None:  # fmt: skip
        self.records, self.name, self.root, self.status, self.inline_head = records, name, root, status, inline_head
        self.metas: list[dict[str, Any]] = root.setdefault("metas", [])
        self.seq = int(root.get("seq", 0)) + 1
        self._docs: dict[int, dict[str, Any]] = {}  # by id() of the page's meta (its start may move back)
        self._dirty: dict[int, dict[str, Any]] = {}
        self.garbage: list[str] = []

    # --- finding --------------------------------------------------------------------------------

    def at(self, key: Key) -> dict[str, Any]:
        if not self.metas:
            self.metas.append({"start": list(key), "key": None, "lines": 0, "counts": {}})
        if key >= tuple(self.metas[-1]["start"]):
            return self.metas[-1]  # the common case: a new line, after every page's start
        at = bisect.bisect_right([tuple(m["start"]) for m in self.metas], key) - 1
        meta = self.metas[max(at, 0)]
        if key < tuple(meta["start"]):
            meta["start"] = list(key)  # before every page: the first one reaches back
        return meta

    def page(self, meta: dict[str, Any]) -> dict[str, Any]:
        if id(meta) not in self._docs:
            self._docs[id(meta)] = read_page(self.records, meta, self.root)
        return self._docs[id(meta)]

    # --- changing -------------------------------------------------------------------------------

    def put(self, key: Key, line: dict[str, Any]) -> bool:
        """Set the line of ``key`` (True when it changed)."""
        meta = self.at(key)
        lines = self.page(meta)["lines"]
        ident, stored = key[1], {**line, "_t": key[0]}
        if lines.get(ident) == stored:
            return False
        lines[ident] = stored
        self._touch(meta)
        return True

    def remove(self, key: Key) -> bool:
        if not self.metas:
            return False
        meta = self.at(key)
        lines = self.page(meta)["lines"]
        if lines.pop(key[1], None) is None:
            return False
        self._touch(meta)
        return True

    def _touch(self, meta: dict[str, Any]) -> None:
        self._dirty[id(meta)] = meta

    def save(self) -> None:
        """Write the changed pages (cut in two when too big) under the next sequence number; the root's counts
        follow. The caller then stores the root and removes ``garbage``."""
        for ident, meta in list(self._dirty.items()):
            if any(m is meta for m in self.metas):
                self._write(meta, self._docs[ident])
        self._dirty.clear()
        self._docs.clear()
        counts: dict[str, int] = {}
        flagged: dict[str, int] = {}
        for meta in self.metas:
            for status, number in meta.get("counts", {}).items():
                counts[status] = counts.get(status, 0) + int(number)
            for flag, number in meta.get("flags", {}).items():
                flagged[flag] = flagged.get(flag, 0) + int(number)
        self.root.update(seq=self.seq, counts=counts, flags=flagged)

    def _write(self, meta: dict[str, Any], document: dict[str, Any]) -> None:
        lines = document["lines"]
        data = dumps(document)
        if len(lines) > 1 and (len(lines) > PAGE_LINES or len(data) > PAGE_BYTES):
            ordered = sorted(lines.items(), key=lambda item: (item[1].get("_t", ""), item[0]))
            half = len(ordered) // 2
            first, second = dict(ordered[:half]), dict(ordered[half:])
            start = [str(ordered[half][1].get("_t", "")), ordered[half][0]]
            twin: dict[str, Any] = {"start": start, "key": None, "lines": 0, "counts": {}}
            self.metas.insert(self.metas.index(meta) + 1, twin)
            self._write(meta, {"lines": first})
            self._write(twin, {"lines": second})
            return
        if not lines and len(self.metas) > 1:
            at = self.metas.index(meta)
            self.metas.remove(meta)  # an emptied page goes: the page before it (or after, for the first) takes its keys
            if at == 0:
                self.metas[0]["start"] = meta["start"]
            if meta["key"] == "head":
                self.root.pop("head", None)
            elif meta["key"]:
                self.garbage.append(meta["key"])
            return
        if meta is self.metas[0] and lines:  # nothing comes before the first page: it starts at its oldest line
            meta["start"] = list(min((str(v.get("_t", "")), k) for k, v in lines.items()))
        if self.inline_head and meta is self.metas[-1]:
            key = "head"  # the newest page lives in the root: a list's first page costs one read
            self.root["head"] = document
        else:
            key = f"index/{self.name}/{_slug(meta['start'])}-s{self.seq}.json"
            self.records.store.put(key, data)
        if meta["key"] and meta["key"] not in (key, "head"):
            self.garbage.append(meta["key"])
        counts: dict[str, int] = {}
        flagged: dict[str, int] = {}
        for line in lines.values():
            status = self.status(line)
            counts[status] = counts.get(status, 0) + 1
            for flag in FLAGS:  # lines that carry a flag (a failing batch), counted apart from the statuses
                if line.get(flag):
                    flagged[flag] = flagged.get(flag, 0) + 1
        meta.update(key=key, lines=len(lines), counts=counts, flags=flagged)


def _slug(start: list[str]) -> str:
    """A page's name: the date of its first line (to read a listing by), and a hash of its start key."""
    digits = "".join(c for c in start[0] if c.isdigit())[:8] or "0"
    return f"{digits}-{hashlib.blake2b('|'.join(start).encode(), digest_size=6).hexdigest()}"


def read_page(records: Records, meta: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """A page's document (empty for a page not written yet); ``StoreError`` when a named page is gone."""
    if meta.get("key") == "head":
        return dict(root.get("head") or {"lines": {}})
    if not meta.get("key"):
        return {"lines": {}}
    data = records.store.get(meta["key"])
    if data is None:
        raise StoreError(f"index page {meta['key']} is gone: the index moved on")
    return Records.parse(meta["key"], data)


def newest_first(
    records: Records,
    root: dict[str, Any],
    after: Key | None,
    wanted: Callable[[dict[str, Any]], bool],
    statuses: tuple[str, ...] = (),
    reads: int = 2,
) -> Iterator[tuple[Key, dict[str, Any] | None]]:
    """Lines newest first, strictly before ``after`` (from the newest when None), that ``wanted`` keeps; pages whose
    counts show none of ``statuses`` are skipped unread. At most ``reads`` pages are read: then ``(key, None)`` says
    where to go on."""
    last_read: Key | None = None
    for meta in reversed(root.get("metas", [])):
        if after is not None and tuple(meta["start"]) >= after:
            continue
        if statuses and not any(meta.get("counts", {}).get(s) for s in statuses):
            continue
        if reads <= 0 and last_read is not None:
            yield last_read, None  # every line still to come is before the start of the last page read
            return
        reads -= meta.get("key") != "head"
        lines = read_page(records, meta, root)["lines"]
        ordered = sorted(((str(v.get("_t", "")), k), v) for k, v in lines.items())
        for key, line in reversed(ordered):
            if (after is None or key < after) and wanted(line):
                yield key, {k: v for k, v in line.items() if k != "_t"}
        last_read = (str(meta["start"][0]), str(meta["start"][1]))
