"""SCF entry point: ``index.main_handler`` (src: ./handler). Thin on purpose; the work is in jobwatch.entry."""

from __future__ import annotations

from typing import Any

from jobwatch.entry import handle


def main_handler(event: Any, context: Any) -> Any:
    return handle(event, context)
