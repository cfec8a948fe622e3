"""CI batch-job API: request signer, hardened XML, job model and the client.

The client (and with it the HTTP stack) loads on first use of ``CIClient``: the pure modules and the routes that
never call CI do not pay for ``requests`` at cold start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .models import ACTIVE_STATES, JOB_TYPES, STATES, TERMINAL_STATES, DescribeResult, Job, JobPage
from .signer import Signer

if TYPE_CHECKING:
    from .client import CIClient

__all__ = [
    "ACTIVE_STATES",
    "JOB_TYPES",
    "STATES",
    "TERMINAL_STATES",
    "CIClient",
    "DescribeResult",
    "Job",
    "JobPage",
    "Signer",
]


def __getattr__(name: str) -> Any:
    if name == "CIClient":
        from .client import CIClient

        return CIClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
