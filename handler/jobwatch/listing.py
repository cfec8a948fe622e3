"""Listing a batch's objects for one sweep: what was created since the watermark, the open spans' ended objects,
and why failed workflow executions failed, within the batch's share of the sweep's CI requests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from . import failing, report, times
from .ci.children import Child, ChildPage
from .ci.models import capped_text
from .deadline import Deadline
from .records import dumps
from .spans import Spans

ENDED = ("Success", "Failed", "Cancel")
SETTLE = timedelta(minutes=1)  # after this, every child created in a second shows in CI's lists


class ObjectSource(Protocol):
    """The part of the CI client object tracking uses."""

    def list_children_page(
        self,
        *,
        batch_id: str,
        workflow_id: str | None = None,
        tag: str | None = None,
        queue_id: str | None = None,
        states: Sequence[str] = (),
        start_creation_time: datetime | None = None,
        end_creation_time: datetime | None = None,
        order: str = "Asc",
        size: int = 100,
        next_token: str = "",
        deadline: Deadline | None = None,
    ) -> ChildPage: ...

    def execution_failure(self, run_id: str, *, deadline: Deadline | None = None) -> tuple[str, str, str]: ...

    def cancel(self, job_id: str, *, deadline: Deadline | None = None) -> None: ...


class Allowance:
    """CI requests one batch may still make this sweep, within the deadline."""

    def __init__(self, limit: int, deadline: Deadline, margin: float) -> None:
        self.left, self.deadline, self.margin = limit, deadline, margin

    def take(self) -> bool:
        if self.left <= 0 or self.deadline.expired(self.margin):
            return False
        self.left -= 1
        return True


class Lister:
    """One sweep's listings of one batch's objects, into its track's spans."""

    def __init__(self, ci: ObjectSource, track: dict[str, Any], spans: Spans, allowance: Allowance,
                 deadline: Deadline, now: datetime) -> None:  # fmt: skip
        self.ci, self.track, self.spans, self.allowance, self.deadline = ci, track, spans, allowance, deadline
        self.now = now

    def list_new(self, name: str, stream: dict[str, Any]) -> bool:
        """Children created since the watermark, oldest first; True when the list was read to its end.

        CI compares creation times in whole seconds, so a listing from the watermark returns its second's children
        again (the ``edge`` tells them apart). Once a listing read to the end ``SETTLE`` after that second, every
        child of it was there to be listed: later listings start a second later (``settled``)."""
        start, token = times.at(stream["watermark"]), ""
        if stream.get("settled"):
            start += timedelta(seconds=1)
        edge = set(stream["edge"])  # the stored list, as a set for this sweep's lookups
        while self.allowance.take():
            page = self.ci.list_children_page(batch_id=self.track["jobId"], **stream["query"],
                                              start_creation_time=start, order="Asc", next_token=token,
                                              deadline=self.deadline)  # fmt: skip
            self.track["badEntries"] = int(self.track.get("badEntries", 0)) + page.skipped
            for child in page.children:
                self._see(name, stream, child, edge)
            token = page.next_token
            if not token or not page.children:
                settled = self.now >= times.at(stream["watermark"]) + SETTLE
                if settled != bool(stream.get("settled")):
                    stream["settled"] = settled
                return True
        return False

    def _see(self, name: str, stream: dict[str, Any], child: Child, edge: set[str]) -> None:
        if child.child_id in edge:
            return  # listed before, at the watermark's own second
        created = child.creation_time.isoformat() if child.creation_time else stream["watermark"]
        if times.at(created) > times.at(stream["watermark"]):
            stream["watermark"], stream["edge"] = created, [child.child_id]
            edge.clear()
        else:
            stream["edge"].append(child.child_id)
        edge.add(child.child_id)
        self.track["counts"]["seen"] += 1
        if child.terminal:
            item = self._row(child)
        else:
            item = {"object": child.object, "state": child.state, "creationTime": created}
        size = len(dumps(item))
        line = self.spans.place(name, report.order_key({"creationTime": created, "childId": child.child_id}), size)
        document = self.spans.doc(line)
        if child.terminal:
            document["rows"].append(item)
        else:
            document["active"][child.child_id] = item
        self.spans.grow(line, size)
        self.spans.touch(line)

    def refresh(self, name: str, stream: dict[str, Any]) -> None:
        """The open spans' ended children, run by run of adjacent open spans, from where the last sweep stopped."""
        self.spans.settle()
        lines = self.spans.lines(name)
        runs: list[list[dict[str, Any]]] = []
        for i, line in enumerate(lines):
            if line["active"]:
                if runs and i > 0 and lines[i - 1]["active"] and runs[-1][-1] is lines[i - 1]:
                    runs[-1].append(line)
                else:
                    runs.append([line])
        if not runs:
            stream.pop("resume", None)
            return
        resume = stream.get("resume") or {}
        first = next((i for i, run in enumerate(runs) if int(run[-1]["n"]) >= int(resume.get("n", 0))), 0)
        for run in runs[first:] + runs[:first]:
            start = times.at(run[0]["lo"])
            if resume and any(int(x["n"]) == int(resume["n"]) for x in run):
                start = max(start, times.at(resume.get("from")))
            resume = {}
            end, token = times.at(run[-1]["hi"]), ""
            while True:
                if not self.allowance.take():
                    stream["resume"] = {"n": run[0]["n"], "from": start.isoformat()}
                    return
                page = self.ci.list_children_page(batch_id=self.track["jobId"], **stream["query"], states=ENDED,
                                                  start_creation_time=start, end_creation_time=end, order="Asc",
                                                  next_token=token, deadline=self.deadline)  # fmt: skip
                self.track["badEntries"] = int(self.track.get("badEntries", 0)) + page.skipped
                for child in page.children:
                    self._maybe_ended(name, child)
                    if child.creation_time is not None:
                        start = max(start, child.creation_time)
                token = page.next_token
                if not token or not page.children:
                    break
        stream.pop("resume", None)

    def _maybe_ended(self, name: str, child: Child) -> None:
        if not child.terminal:
            return
        created = child.creation_time.isoformat() if child.creation_time else None
        line = self.spans.locate(name, report.order_key({"creationTime": created, "childId": child.child_id}))
        if line is None or not line["active"]:
            return
        document = self.spans.doc(line)
        entry = document["active"].pop(child.child_id, None)
        if entry is None:
            return
        row = self._row(child)
        document["rows"].append(row)
        self.spans.grow(line, len(dumps(row)) - len(dumps(entry)), objects=0)  # a row says more than an entry
        self.spans.touch(line)

    def _row(self, child: Child) -> dict[str, Any]:
        row = report.row_of(child)
        if child.state == "Failed" and self.track["type"] == "Workflow" and not child.code:
            row["needsReason"] = True  # an execution's list entry does not say why: its detail does
        key = {"Success": "succeeded", "Failed": "failed", "Cancel": "cancelled"}[child.state]
        self.track["counts"][key] += 1
        if child.state == "Failed":
            failing.count_code(self.track.setdefault("codes", {}), row.get("code"))
        return row

    def find_reasons(self) -> None:
        self.spans.settle()  # the rows this sweep's listings ended count
        for name in self.track["streams"]:
            for line in list(self.spans.lines(name)):
                if not line["reasons"]:
                    continue
                document = self.spans.doc(line)
                for row in document["rows"]:
                    if not row.get("needsReason"):
                        continue
                    if not self.allowance.take():
                        return
                    code, message, _ = self.ci.execution_failure(row["childId"], deadline=self.deadline)
                    row.update(code=capped_text(code or "Failed"), message=capped_text(message))
                    failing.count_code(self.track.setdefault("codes", {}), row["code"])
                    del row["needsReason"]
                    self.spans.touch(line)
                self.spans.settle()
