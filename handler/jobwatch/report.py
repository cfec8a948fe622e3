"""The completion report (pure): one CSV row per object, parts of at most 20,000 rows and 1 MiB, and the manifest.

Rows are RFC 4180 CSV in UTF-8 with a header row; columns
``object,state,code,message,childId,output,creationTime,startTime,endTime``; ``output`` lists output keys separated
by spaces. Object and output keys are percent-encoded (format ``/2``: every byte outside ``A-Z a-z 0-9 - . _ ~`` and
``/`` as ``%XX``, as S3 Batch Operations reports encode keys), so no key can start a spreadsheet formula and a program
gets it back exactly with ``urllib.parse.unquote``. A part's ``md5`` is the hex MD5 of its bytes.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote, unquote

from . import times
from .ci.children import Child
from .ci.models import capped_text

FORMAT = "jobwatch-objects-csv/2"
COLUMNS = ("object", "state", "code", "message", "childId", "output", "creationTime", "startTime", "endTime")
MAX_PART_ROWS = 20_000
# A part is a stored document like any other (at most 1 MiB): it always downloads through the API (an SCF answer
# holds 6 MB), and a page of a batch's objects that reads one stays within 1 MiB.
MAX_PART_BYTES = 1024 * 1024
SCOPES = ("all", "failed")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def row_of(child: Child, code: str = "", message: str = "") -> dict[str, Any]:
    """A report row for an object, with its failure reason when it has one."""
    return {
        "object": child.object,
        "state": child.state,
        "code": capped_text(code or child.code),
        "message": capped_text(message or child.message),
        "childId": child.child_id,
        "output": " ".join(encode_key(k) for k in child.output),  # encoded here: a key may hold a space
        "creationTime": _iso(child.creation_time),
        "startTime": _iso(child.start_time),
        "endTime": _iso(child.end_time),
    }


Key = tuple[str, str]
END_KEY: Key = ("\uffff", "")  # after every object


@functools.lru_cache(maxsize=65_536)  # a batch's objects share their creation seconds many at a time
def _utc(value: str | None) -> str:
    return times.at(value).astimezone(timezone.utc).isoformat()


def time_key(value: object) -> str:
    """A time as it sorts: UTC, so one written with another offset still falls in its place."""
    return _utc(value if isinstance(value, str) else None if value is None else str(value))


def order_key(row: Mapping[str, Any]) -> Key:
    """Creation order; ties (CI's times are whole seconds) broken by the child's id, so every reader agrees."""
    return (time_key(row.get("creationTime")), str(row.get("childId") or ""))


def in_scope(row: Mapping[str, Any], scope: str) -> bool:
    return scope == "all" or row.get("state") in ("Failed", "Cancel")


def encode_key(key: str) -> str:
    """An object key as the report writes it: UTF-8, percent-encoded except unreserved characters and ``/``."""
    return quote(key, safe="/")


def _cell(column: str, value: Any) -> str:
    if value is None:
        return ""
    if column == "object":
        return encode_key(str(value))
    return str(value)  # CI's own codes, messages, IDs and times, as CI wrote them


def csv_bytes(rows: Iterable[Mapping[str, Any]], *, header: bool = True) -> bytes:
    """Rows as CSV (CRLF line ends, quoted where needed), with or without the header row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if header:
        writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_cell(c, row.get(c)) for c in COLUMNS])
    return buffer.getvalue().encode()


def read_rows(data: bytes) -> list[dict[str, str]]:
    """The rows of a CSV part or segment (its header row tells the columns), keys decoded as they were named."""
    rows = []
    for row in csv.DictReader(io.StringIO(data.decode())):
        row = dict(row)
        row["object"] = unquote(row.get("object") or "")  # "output" stays encoded, as rows hold it
        rows.append(row)
    return rows


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()  # noqa: S324  (an integrity check, not a security one)


def part_key(job_id: str, number: int) -> str:
    return f"reports/{job_id}/objects-{number:05d}.csv"


def manifest(
    job_id: str, created_at: datetime, scope: str, counts: Mapping[str, Any], parts: list[dict[str, Any]]
) -> dict[str, Any]:
    """The report's ``manifest.json``."""
    return {
        "jobId": job_id,
        "format": FORMAT,
        "createdAt": created_at.isoformat(),
        "scope": scope,
        "columns": list(COLUMNS),
        "objects": dict(counts),
        "parts": [{k: p[k] for k in ("key", "rows", "md5") if k in p} for p in parts],
    }
