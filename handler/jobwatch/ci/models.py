"""The batch-job model: typed, immutable, covering both JobsDetail shapes (Workflow and Job).

Pure: reads parsed XML elements, imports no HTTP client. Unknown elements are kept in ``extra`` and the
JobsDetail XML exactly as received in ``raw``, so nothing CI says is lost.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ..errors import CIBadResponseError, MalformedXMLError
from ..ids import is_valid_job_id
from ..redaction import redact_text
from . import xmldoc

if TYPE_CHECKING:
    from lxml import etree

STATES = ("Submitted", "Running", "Success", "Failed", "Pause", "Cancel")
ACTIVE_STATES = ("Submitted", "Running", "Pause")
TERMINAL_STATES = frozenset({"Success", "Failed", "Cancel"})
JOB_TYPES = ("Workflow", "Job")
MAX_TEXT_CHARS = 4096  # one text CI sends (a Message, a URL) is stored at most this long

_TEXTS = frozenset({"Code", "Message", "Type", "Name", "JobId", "State", "CreationTime", "StartTime", "EndTime"})
_CI_TIME_RE = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d{1,9})?(?:([+-]\d\d):?(\d\d)|(Z))?", re.ASCII)
CI_ZONE = "+08:00"  # a CI time without an offset is in CI's own zone, China Standard Time


def parse_ci_time(text: str | None) -> datetime | None:
    """CI's ``2022-06-27T15:23:10+0800`` as an aware datetime; ``-``/empty → None.

    Also read: a space for ``T``, milliseconds (or up to nanoseconds: microseconds are kept), ``Z``, an offset with a
    colon, and no offset at all (CI's own zone, +08:00). Any other value is None: ``raw`` still holds what CI sent.
    """
    if text is None:
        return None
    text = text.strip()
    if text in ("", "-"):
        return None
    if len(text) > 10 and text[10] == " ":
        text = text[:10] + "T" + text[11:]
    match = _CI_TIME_RE.fullmatch(text)
    if match is None:
        return None
    whole, fraction, hours, minutes, zulu = match.groups()
    offset = f"{hours}:{minutes}" if hours else "+00:00" if zulu else CI_ZONE
    try:  # fromisoformat is C: a list page holds 300 times, and strptime costs ten times as much
        parsed = datetime.fromisoformat(f"{whole}{offset}")
    except ValueError:
        return None
    if fraction:
        parsed = parsed.replace(microsecond=int(fraction[1:7].ljust(6, "0")))
    return parsed


def format_ci_time(value: datetime) -> str:
    """An aware datetime in CI's format: whole seconds, offset without a colon."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("CI times must be timezone-aware")
    # isoformat, not strftime: strftime goes through the time module and the import machinery on every call.
    text = value.isoformat(timespec="seconds")
    return text[:19] + text[19:].replace(":", "")


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """Frozen data back to plain dicts and lists (for JSON)."""
    kind = type(value)
    if kind is str:
        return value
    if kind is _Deferred:
        value = value._data()
        kind = type(value)
    if kind is tuple:
        return [thaw(v) for v in value]
    # The usual kinds by type first: the ABC check costs more.
    if kind is MappingProxyType or kind is dict or isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    return value


EMPTY: Mapping[str, Any] = MappingProxyType({})


def _named(element: etree._Element) -> Iterator[tuple[str, etree._Element]]:
    """(local name, child) for each child element; comments and processing instructions left out."""
    for child in element:
        tag = child.tag
        if isinstance(tag, str):
            yield tag.rpartition("}")[2], child


class _Details:
    """Input, Operation and the other fields of one JobsDetail, read again from its raw XML on first use: holding
    the parsed page until then would keep every listed job's tree in memory."""

    __slots__ = ("_parts", "_raw")

    def __init__(self, raw: str) -> None:
        self._raw = raw
        self._parts: dict[str, dict[str, Any]] | None = None

    def part(self, name: str) -> dict[str, Any]:
        """``Input``, ``Operation``, or ``""`` for the fields the model does not name."""
        if self._parts is None:
            parts: dict[str, dict[str, Any]] = {"": {}}
            for key, child in _named(xmldoc.parse(self._raw.encode())):
                if key in _TEXTS:
                    continue
                value = xmldoc.to_value(child)
                if key in ("Input", "Operation"):
                    parts.setdefault(key, value if isinstance(value, dict) else {})
                else:
                    parts[""][key] = value
            self._parts = parts
        return self._parts.get(name, {})


class _Deferred(Mapping[str, Any]):
    """A read-only mapping built on first use: most listed jobs are unchanged since the last sweep, and nobody
    reads their input, operation or extra fields, which cost more to convert than the rest of the job."""

    __slots__ = ("_build", "_value")

    def __init__(self, build: Callable[[], dict[str, Any]]) -> None:
        self._build: Callable[[], dict[str, Any]] | None = build
        self._value: Mapping[str, Any] | None = None

    def _data(self) -> Mapping[str, Any]:
        if self._value is None:
            build = self._build
            self._value = _freeze(build()) if build is not None else EMPTY
            self._build = None
        return self._value

    def __getitem__(self, key: str) -> Any:
        return self._data()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data())

    def __len__(self) -> int:
        return len(self._data())

    def __repr__(self) -> str:
        return repr(dict(self._data()))


@dataclass(frozen=True)
class Job:
    """One batch job as CI describes it."""

    job_id: str
    type: str
    name: str
    state: str
    code: str = ""
    message: str = ""
    creation_time: datetime | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    input: Mapping[str, Any] = field(default_factory=lambda: EMPTY)
    operation: Mapping[str, Any] = field(default_factory=lambda: EMPTY)
    extra: Mapping[str, Any] = field(default_factory=lambda: EMPTY)
    raw: str = field(default="", repr=False, compare=False)
    cut: bool = False  # a text CI sent was longer than MAX_TEXT_CHARS and is stored cut short

    @property
    def terminal(self) -> bool:
        """True once the job is Success, Failed or Cancel."""
        return self.state in TERMINAL_STATES

    @classmethod
    def from_element(cls, element: etree._Element) -> Job:
        """Build from a ``<JobsDetail>`` element; raise ``MalformedXMLError`` without a JobId or State."""
        raw = xmldoc.to_text(element)
        cut = False
        if "://" in raw or len(raw) > MAX_TEXT_CHARS:  # else there is nothing to redact or cut
            changed, cut = _sanitize(element)
            if changed:
                raw = xmldoc.to_text(element)
        texts: dict[str, str] = {}
        more = False
        for name, child in _named(element):  # one pass: a page holds 100 jobs of a dozen fields each
            if name in _TEXTS:
                if name not in texts:
                    texts[name] = (child.text or "").strip()
            elif name != "Input" and name != "Operation":
                more = True
        job_id, state = texts.get("JobId"), texts.get("State")
        if not job_id or not state:
            raise MalformedXMLError("JobsDetail without JobId or State")
        details = _Details(raw)
        return cls(
            job_id=job_id,
            type=texts.get("Type") or "Workflow",
            name=texts.get("Name", ""),
            state=state,
            code=texts.get("Code", ""),
            message=texts.get("Message", ""),
            creation_time=parse_ci_time(texts.get("CreationTime")),
            start_time=parse_ci_time(texts.get("StartTime")),
            end_time=parse_ci_time(texts.get("EndTime")),
            input=_Deferred(partial(details.part, "Input")),
            operation=_Deferred(partial(details.part, "Operation")),
            extra=_Deferred(partial(details.part, "")) if more else EMPTY,
            raw=raw,
            cut=cut,
        )

    def scalars(self) -> dict[str, Any]:
        """The plain fields without input, operation and extra (which cost a parse of ``raw`` on first use)."""
        return {
            "jobId": self.job_id,
            "type": self.type,
            "name": self.name,
            "state": self.state,
            "code": self.code,
            "message": self.message,
            "creationTime": _iso(self.creation_time),
            "startTime": _iso(self.start_time),
            "endTime": _iso(self.end_time),
            **({"cut": True} if self.cut else {}),
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready fields; times as ``isoformat()`` (offset with a colon) or None."""
        return {
            **self.scalars(),
            "input": thaw(self.input),
            "operation": thaw(self.operation),
            "extra": thaw(self.extra),
        }


def capped_text(text: str) -> str:
    """``text`` as stored: at most ``MAX_TEXT_CHARS`` characters, saying so when it was cut."""
    if len(text) <= MAX_TEXT_CHARS:
        return text
    return f"{text[:MAX_TEXT_CHARS]}… [cut by jobwatch: {len(text)} characters]"


def _sanitize(element: etree._Element) -> tuple[bool, bool]:
    """Redact the URLs in a JobsDetail's texts and cut texts over ``MAX_TEXT_CHARS``, in place: what CI echoes is
    stored, sent and shown, so its secrets and its size are dealt with here, once. (changed, cut)."""
    changed = cut = False
    for node in element.iter():
        text = node.text
        if not text:
            continue
        redacted = redact_text(text)
        new = capped_text(redacted)
        cut = cut or new is not redacted
        if new != text:
            node.text = new
            changed = True
    return changed, cut


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True)
class JobPage:
    """One list page: its jobs and the token of the next page ("" on the last)."""

    jobs: tuple[Job, ...]
    next_token: str
    request_id: str


@dataclass(frozen=True)
class DescribeResult:
    """What a describe of many IDs found: the jobs, and the IDs CI does not know."""

    jobs: tuple[Job, ...]
    non_exist_job_ids: tuple[str, ...]


def response_root(body: bytes) -> etree._Element:
    """The ``<Response>`` element of a CI answer. Malformed XML or another root is CI's fault (a truncated body and
    the like): ``CIBadResponseError``, retried; a hostile document stays an ``UnsafeXMLError``."""
    try:
        root = xmldoc.parse(body)
        if root.tag != "Response":
            raise MalformedXMLError(f"expected <Response>, got <{root.tag}>")
    except MalformedXMLError as exc:
        raise CIBadResponseError(f"unreadable CI response: {exc.message}") from exc
    return root


def parse_response(body: bytes) -> tuple[tuple[Job, ...], tuple[str, ...], str, str]:
    """Read a ``<Response>``: (jobs, NonExistJobIds, NextToken, RequestId); unusable entries are left out."""
    jobs, missing, token, request_id, _ = parse_page(body)
    return jobs, missing, token, request_id


def parse_operation(body: bytes, job_id: str) -> dict[str, Any] | None:
    """One job's ``Operation`` from a describe answer, as CI has it: unredacted, for making a batch like it (never
    stored or shown). None when the answer does not hold that job."""
    root = response_root(body)
    for element in root.iterchildren("JobsDetail"):
        if xmldoc.child_text(element, "JobId") == job_id:
            operation = element.find("Operation")
            value = xmldoc.to_value(operation) if operation is not None else {}
            return value if isinstance(value, dict) else {}
    return None


def parse_page(body: bytes) -> tuple[tuple[Job, ...], tuple[str, ...], str, str, tuple[str, ...]]:
    """Read a ``<Response>``: (jobs, NonExistJobIds, NextToken, RequestId, skipped entries).

    Malformed XML is CI's fault (truncated body and the like), so it becomes ``CIBadResponseError``; a hostile
    document stays an ``UnsafeXMLError``. One unusable ``JobsDetail`` (no State, no JobId, or an ID the store cannot
    hold) costs that entry alone: it is named in ``skipped`` (by its JobId, or ``?``) and the rest of the page stands.
    """
    root = response_root(body)
    jobs: list[Job] = []
    skipped: list[str] = []
    for element in root.iterchildren("JobsDetail"):
        try:
            job = Job.from_element(element)
            if not is_valid_job_id(job.job_id):
                raise MalformedXMLError("a JobId the store cannot hold")
            jobs.append(job)
        except MalformedXMLError:
            skipped.append((xmldoc.child_text(element, "JobId") or "")[:80] or "?")
    missing: list[str] = []
    # The docs say NonExistJobIds; the Go SDK reads NonExistJobId. Accept both, each may repeat or hold a list.
    for tag in ("NonExistJobIds", "NonExistJobId"):
        for el in root.findall(tag):
            missing.extend(x for x in re.split(r"[,\s]+", el.text or "") if x)
            missing.extend((sub.text or "").strip() for sub in el if (sub.text or "").strip())
    next_token = xmldoc.child_text(root, "NextToken") or ""
    request_id = xmldoc.child_text(root, "RequestId") or ""
    return tuple(jobs), tuple(dict.fromkeys(missing)), next_token, request_id, tuple(skipped)
