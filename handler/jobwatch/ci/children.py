"""The objects of a batch job (pure): one child per object, a workflow execution or a media job.

``GET /workflowexecution`` lists a Workflow batch's executions (``WorkflowExecutionList`` entries) and
``GET /jobs`` a Job batch's media jobs (``JobsDetail`` entries). Parsing is per entry and defensive: a page may
hold a single entry; the time element is ``CreateTime`` or ``CreationTime``; offsets come with or without a colon;
``-`` means unset; an entry without an id or a state is skipped and counted, never fatal to the page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lxml import etree

from ..errors import CIBadResponseError, MalformedXMLError
from . import xmldoc
from .models import parse_ci_time, response_root

CHILD_STATES = ("Submitted", "Running", "Pause", "Success", "Failed", "Cancel")
ACTIVE_CHILD_STATES = ("Submitted", "Running", "Pause")
TERMINAL_CHILD_STATES = frozenset({"Success", "Failed", "Cancel"})


@dataclass(frozen=True)
class Child:
    """One object of a batch, as its workflow execution or media job reports it."""

    child_id: str  # RunId or media JobId
    object: str
    state: str
    creation_time: datetime | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    code: str = ""
    message: str = ""
    output: tuple[str, ...] = ()
    stream: str = ""  # the workflow id (Workflow batches) or "" (Job batches)
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_CHILD_STATES


@dataclass(frozen=True)
class ChildPage:
    """One list page: its usable children, how many entries were skipped as unusable, and the next token."""

    children: tuple[Child, ...]
    next_token: str
    skipped: int = 0


def _fields(element: etree._Element) -> dict[str, str]:
    """The stripped text of each direct child, the first of each name (one pass: a page holds a hundred entries)."""
    found: dict[str, str] = {}
    for child in element:
        tag = child.tag
        if isinstance(tag, str) and tag not in found:
            found[tag] = (child.text or "").strip()
    return found


def _time(fields: dict[str, str], *names: str) -> datetime | None:
    for name in names:
        value = parse_ci_time(fields.get(name))
        if value is not None:
            return value
    return None


def _texts(element: etree._Element | None, path: str) -> list[str]:
    if element is None:
        return []
    return [t.strip() for t in (e.text or "" for e in element.iterfind(path)) if t.strip()]


def execution_from_element(element: etree._Element) -> Child:
    """A ``WorkflowExecutionList`` (or ``WorkflowExecution``) entry; ``MalformedXMLError`` without RunId or State."""
    fields = _fields(element)
    run_id, state = fields.get("RunId"), fields.get("State")
    if not run_id or not state:
        raise MalformedXMLError("workflow execution without RunId or State")
    known = {"RunId", "WorkflowId", "Object", "CreateTime", "CreationTime", "State", "StartTime", "EndTime"}
    return Child(
        child_id=run_id,
        object=fields.get("Object") or "",
        state=state,
        creation_time=_time(fields, "CreateTime", "CreationTime"),
        start_time=_time(fields, "StartTime"),
        end_time=_time(fields, "EndTime"),
        stream=fields.get("WorkflowId") or "",
        extra={etree.QName(c).localname: xmldoc.to_value(c) for c in element if etree.QName(c).localname not in known},
    )


def media_job_from_element(element: etree._Element) -> Child:
    """A media ``JobsDetail`` entry; its own Code and Message say why it failed."""
    fields = _fields(element)
    job_id, state = fields.get("JobId"), fields.get("State")
    if not job_id or not state:
        raise MalformedXMLError("media job without JobId or State")
    operation, source = element.find("Operation"), element.find("Input")
    # What was written (MediaResult) or, for a success that does not say, where it was asked to go; nothing else
    results = _texts(operation, "MediaResult/OutputFile/ObjectName")
    outputs = results or (_texts(operation, "Output/Object") if state == "Success" else [])
    code = fields.get("Code") or ""
    return Child(
        child_id=job_id,
        object=(xmldoc.child_text(source, "Object") or "") if source is not None else "",
        state=state,
        creation_time=_time(fields, "CreationTime", "CreateTime"),
        start_time=_time(fields, "StartTime"),
        end_time=_time(fields, "EndTime"),
        code="" if state == "Success" and code == "Success" else code,
        message=fields.get("Message") or "",
        output=tuple(dict.fromkeys(outputs)),
    )


def _page(body: bytes, entry: str, build: Any) -> ChildPage:
    root = response_root(body)
    children: list[Child] = []
    skipped = 0
    for element in root.iterfind(entry):
        try:
            children.append(build(element))
        except MalformedXMLError:
            skipped += 1  # one unusable entry costs that entry, not the page
    return ChildPage(tuple(children), xmldoc.child_text(root, "NextToken") or "", skipped)


def parse_executions(body: bytes) -> ChildPage:
    """A ``GET /workflowexecution`` page."""
    return _page(body, "WorkflowExecutionList", execution_from_element)


def parse_media_jobs(body: bytes) -> ChildPage:
    """A ``GET /jobs`` page."""
    return _page(body, "JobsDetail", media_job_from_element)


def parse_execution_failure(body: bytes) -> tuple[str, str, str]:
    """Why a workflow execution failed, from ``GET /workflowexecution/<RunId>``: (code, message, task JobId).

    The first failed task's Code and Message; when the detail carries no tasks, ("", "", "").
    """
    try:
        root = xmldoc.parse(body)
    except MalformedXMLError as exc:
        raise CIBadResponseError(f"unreadable CI response: {exc.message}") from exc
    execution = root.find("WorkflowExecution")
    if execution is None:
        return "", "", ""
    for task in execution.iterfind("Tasks"):
        if xmldoc.child_text(task, "State") == "Failed":
            return (
                xmldoc.child_text(task, "Code") or "Failed",
                xmldoc.child_text(task, "Message") or "",
                xmldoc.child_text(task, "JobId") or "",
            )
    return "", "", ""
