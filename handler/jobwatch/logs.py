"""JSON-line logs with the request id; known secret values are masked before anything is written."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timezone

REQUEST_ID: ContextVar[str | None] = ContextVar("jobwatch_request_id", default=None)
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, requestId and any ``extra`` fields."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if s and len(s) >= 6)

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "requestId": REQUEST_ID.get(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        try:
            text = json.dumps(entry, ensure_ascii=False, default=str, allow_nan=False)
        except ValueError:  # a non-finite number in an extra field: written as text, never as bare NaN
            text = json.dumps({k: v if isinstance(v, str) else repr(v) for k, v in entry.items()}, ensure_ascii=False)
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


class StdoutHandler(logging.Handler):
    """Writes to whatever ``sys.stdout`` is at the time (SCF's log, or a test's capture)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stdout.write(self.format(record) + "\n")
            sys.stdout.flush()
        except Exception:
            self.handleError(record)


def configure(level: str, secrets: Iterable[str] = ()) -> None:
    """Send the ``jobwatch`` loggers to stdout (SCF's function log) as JSON lines; idempotent."""
    logger = logging.getLogger("jobwatch")
    logger.setLevel(level)
    logger.propagate = False
    handler = next((h for h in logger.handlers if isinstance(h, StdoutHandler)), None)
    if handler is None:
        handler = StdoutHandler()
        logger.addHandler(handler)
    handler.setFormatter(JsonFormatter(secrets))


@contextmanager
def request_scope(request_id: str | None) -> Iterator[None]:
    """Tag every log line inside with the invocation's request id."""
    token = REQUEST_ID.set(request_id)
    try:
        yield
    finally:
        REQUEST_ID.reset(token)
