"""The redaction pass: URLs with secrets in what earlier versions stored, taken out a bounded slice per sweep.

Versions before URL redaction stored what CI echoes verbatim: a job's ``input``, ``operation`` and ``raw`` (a
``/ci-callback?token=`` among them), and event bodies and the events index that copy them. New writes are redacted
where they are made; this pass rewrites what is already there, once per store: ``jobs/``, then ``events/``, then
``index/``, reading at most ``BUDGET`` objects a sweep and resuming from a cursor. An event still pending keeps its
stored body until its next delivery attempt rewrites it (``Records.put_event`` redacts): rewriting it here could undo
that attempt's status.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from .deadline import Deadline
from .errors import JobwatchError
from .records import Records, dumps, redacted_event
from .redaction import needs_redaction, redact

log = logging.getLogger("jobwatch.scrubber")

BUDGET = 300  # objects read per sweep
PREFIXES = ("jobs/", "events/", "index/")
DONE = "done"


@dataclass
class Scrubbed:
    read: int = 0
    rewritten: int = 0
    cursor: str = ""  # the last key read; DONE once every prefix has been read through


def scrub(records: Records, cursor: str, deadline: Deadline, budget: int = BUDGET) -> Scrubbed:
    """One slice of the pass from ``cursor`` ("" for the start); returns what it did and where to go on."""
    done = Scrubbed(cursor=cursor)
    if cursor == DONE:
        return done
    first = next((i for i, p in enumerate(PREFIXES) if cursor.startswith(p)), 0)
    for prefix in PREFIXES[first:]:
        start = cursor if cursor.startswith(prefix) else ""
        for key in records.store.list(prefix, start_after=start):
            if done.read >= budget or deadline.expired(2.0):
                return done
            done.read += 1
            done.cursor = key
            try:
                if _scrub_one(records, key):
                    done.rewritten += 1
            except JobwatchError as exc:  # an unreadable object is left as it is; the pass goes on
                log.warning("redaction pass skipped %s: %s", key, exc)
    done.cursor = DONE
    return done


def run_slice(records: Records, summary: dict[str, Any], prev: dict[str, Any], deadline: Deadline) -> None:
    """A sweep's slice of the pass, until it has read the store through; the cursor goes on in the summary. A store
    this version started has nothing to redact (its first summary says so); one an earlier version wrote has no
    cursor yet."""
    cursor = str(prev.get("scrubCursor") or "") if prev else DONE
    summary["scrubCursor"] = cursor
    if cursor == DONE:
        return
    try:
        done = scrub(records, cursor, deadline)
    except JobwatchError as exc:
        log.warning("redaction pass postponed: %s", exc)
        return
    summary["scrubCursor"] = done.cursor
    if done.rewritten:
        summary["redacted"] = done.rewritten


def _scrub_one(records: Records, key: str) -> bool:
    data = records.store.get(key)
    if data is None or not needs_redaction(data.decode("utf-8", "replace")):
        return False
    document = records.parse(key, data)
    if key.startswith("events/"):
        if document.get("status") == "pending":
            return False
        clean: dict[str, Any] = redacted_event(document)  # its delivery targets are kept whole
    else:
        clean = redact(document)
    if clean is document:
        return False
    records.store.put(key, dumps(clean))
    return True
