"""CI batch-job API: request signer, hardened XML, job model and the client."""

from .client import CIClient
from .models import ACTIVE_STATES, JOB_TYPES, STATES, TERMINAL_STATES, DescribeResult, Job, JobPage
from .signer import Signer

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
