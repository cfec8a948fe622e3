"""Against a real Tencent Cloud account: skipped unless its credentials are set (CI never has them).

Set JOBWATCH_IT_CI_BUCKET, JOBWATCH_IT_REGION, TENCENTCLOUD_SECRETID, TENCENTCLOUD_SECRETKEY and
JOBWATCH_IT_NETWORK=1 (which lifts the loopback-only guard of tests/netguard.py for that run).
"""

from __future__ import annotations

import os

import pytest

from jobwatch.ci import ACTIVE_STATES, CIClient
from jobwatch.config import Credentials

NEEDED = ("JOBWATCH_IT_CI_BUCKET", "JOBWATCH_IT_REGION", "TENCENTCLOUD_SECRETID", "TENCENTCLOUD_SECRETKEY")
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not all(os.environ.get(n) for n in NEEDED) or os.environ.get("JOBWATCH_IT_NETWORK") != "1",
        reason="real-cloud test: set " + ", ".join(NEEDED) + " and JOBWATCH_IT_NETWORK=1",
    ),
]


def client() -> CIClient:
    bucket, region = os.environ["JOBWATCH_IT_CI_BUCKET"], os.environ["JOBWATCH_IT_REGION"]
    credentials = Credentials(os.environ["TENCENTCLOUD_SECRETID"], os.environ["TENCENTCLOUD_SECRETKEY"],
                              os.environ.get("TENCENTCLOUD_SESSIONTOKEN"))  # fmt: skip
    return CIClient(f"https://{bucket}.ci.{region}.myqcloud.com", credentials)


def test_list_and_describe_real_jobs() -> None:
    """Lists both job types on the real service; any job found describes to the same ID."""
    ci = client()
    jobs = ci.list_jobs(states=ACTIVE_STATES) or ci.list_jobs()
    if jobs:
        assert ci.describe([jobs[0].job_id]).jobs[0].job_id == jobs[0].job_id


def test_unknown_id_reported_not_raised() -> None:
    """An ID the service does not know comes back in NonExistJobIds (or as not found), never as an exception."""
    result = client().describe(["b" + "0" * 32])
    assert result.non_exist_job_ids == ("b" + "0" * 32,)
