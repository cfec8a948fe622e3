"""CI's own callbacks (``TaskFinish`` per media job, ``WorkflowFinish`` per workflow run), in XML or JSON.

They never name the batch job itself finishing (ci-api.md §7), so a callback is a hint: jobwatch refreshes at once
(a sweep), and describes any batch-job IDs the body happens to carry.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from . import jsoncodec
from .ci import xmldoc
from .errors import MalformedXMLError, UnsafeXMLError
from .httpmessage import HTTPError

EVENT_NAMES = ("TaskFinish", "WorkflowFinish")
BATCH_ID = re.compile(r"b[0-9a-f]{32}")
ID_KEYS = ("JobId", "InventoryTriggerJobId", "BatchJobId")


@dataclass(frozen=True)
class Notice:
    event_name: str
    batch_job_ids: tuple[str, ...]


def _walk(value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key), item
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def parse(body: bytes, content_type: str) -> Notice:
    """Read a callback body; ``HTTPError`` 400 (bad or hostile) or 415 (neither XML nor JSON)."""
    text = body.lstrip()
    if not text:
        raise HTTPError(400, "InvalidArgument", "the callback body is empty")
    if content_type in ("application/json", "text/json") or (not content_type and text[:1] in (b"{", b"[")):
        try:
            document: Any = jsoncodec.loads(body)
        except jsoncodec.JSONRefusedError as exc:
            raise HTTPError(400, "InvalidArgument", f"the callback body is refused: {exc}") from None
        if isinstance(document, dict) and isinstance(document.get("Response"), dict):
            document = document["Response"]
    elif (content_type in ("application/xml", "text/xml", "") and text[:1] == b"<") or content_type.endswith("+xml"):
        try:
            root = xmldoc.parse(body, max_bytes=64 * 1024)
        except UnsafeXMLError:
            raise HTTPError(400, "InvalidArgument", "XML with a DOCTYPE or entities is refused") from None
        except MalformedXMLError as exc:
            raise HTTPError(400, "InvalidArgument", f"the callback XML is malformed: {exc.message}") from None
        document = xmldoc.to_value(root)
    else:
        raise HTTPError(415, "UnsupportedMediaType", "CI callbacks are application/xml or application/json")
    if not isinstance(document, dict):
        raise HTTPError(400, "InvalidArgument", "the callback must be an object with EventName")
    name = document.get("EventName")
    if name not in EVENT_NAMES:
        raise HTTPError(400, "InvalidArgument", f"EventName must be one of {', '.join(EVENT_NAMES)}")
    ids = [v for k, v in _walk(document) if k in ID_KEYS and isinstance(v, str) and BATCH_ID.fullmatch(v)]
    return Notice(str(name), tuple(dict.fromkeys(ids))[:20])
