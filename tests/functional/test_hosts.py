"""One endpoint, many hosts, over real HTTP: every request goes to the emulator's one address but carries and signs
its bucket's own ``Host``; the emulator tells buckets apart by it, refuses a bucket it does not serve, and lists its
buckets per region through ``GET /mediabucket``; the official SDK lists each bucket's jobs."""

from __future__ import annotations

import pytest

from devkit.ciemu import CIEmulator
from jobwatch.ci import CIClient
from jobwatch.config import Settings
from jobwatch.errors import CIError
from jobwatch.targets import Target, region_host
from tests.functional.apitools import CREDENTIALS

A = Target("alpha-1250000000", "ap-guangzhou")
B = Target("beta-1250000000", "ap-guangzhou")
C = Target("gamma-1250000000", "ap-shanghai")


def settings_for(emulator: CIEmulator) -> Settings:
    return Settings.from_env({
        "JOBWATCH_CI_ENDPOINT": emulator.url, "JOBWATCH_CI_BUCKETS": f"{A.key},{B.key},{C.key}",
        "TENCENTCLOUD_SECRETID": CREDENTIALS.secret_id, "TENCENTCLOUD_SECRETKEY": CREDENTIALS.secret_key,
    })  # fmt: skip


def test_each_host_sees_its_own_jobs(emulator: CIEmulator) -> None:
    """Three buckets in two regions behind one port: each client lists exactly its bucket's jobs, signed."""
    made = {t: {j.job_id for j in emulator.add_bucket(t.bucket, t.region).preload(3 + i, seed=70 + i)}
            for i, t in enumerate((A, B, C))}  # fmt: skip
    settings = settings_for(emulator)
    for target, ids in made.items():
        client = CIClient.for_host(settings, target.host, sleep=lambda s: None)
        listed = {job.job_id for job in client.list_jobs(states=("All",))}
        assert listed == ids
    assert not emulator.auth_failures
    assert {h for h in emulator.served_hosts} == {t.host for t in made}


def test_a_bucket_ci_does_not_serve_is_refused(emulator: CIEmulator) -> None:
    """A host naming a bucket the emulator was not given answers CI's error, not another bucket's jobs."""
    emulator.add_bucket(A.bucket, A.region).preload(2, seed=74)
    client = CIClient.for_host(settings_for(emulator), Target("other-1250000000", "ap-guangzhou").host, max_attempts=1)
    with pytest.raises(CIError) as caught:
        client.list_jobs(states=("All",))
    assert caught.value.ci_code == "MediaBucketUnBinded"


def test_media_buckets_paged_per_region(emulator: CIEmulator) -> None:
    """GET /mediabucket on the region's host lists that region's buckets, 100 a page, to the total."""
    for n in range(150):
        emulator.add_bucket(f"b{n:03d}-1250000000", "ap-guangzhou")
    emulator.add_bucket(C.bucket, C.region)
    settings = settings_for(emulator)
    found = CIClient.for_host(settings, region_host("ap-guangzhou")).media_buckets("ap-guangzhou")
    assert len(found) == 150 and all(region == "ap-guangzhou" for _, region in found)
    assert emulator.served["list_buckets"] == 2
    assert CIClient.for_host(settings, region_host("ap-shanghai")).media_buckets("ap-shanghai") == [
        (C.bucket, C.region)
    ]
    assert emulator.served_hosts[region_host("ap-shanghai")] == 1 and not emulator.auth_failures


def test_official_sdk_against_many_buckets(emulator: CIEmulator) -> None:
    """The official COS SDK, pointed at the emulator's address, lists each bucket's own jobs."""
    from qcloud_cos import CosConfig, CosS3Client

    jobs_a = {j.job_id for j in emulator.add_bucket(A.bucket, A.region).preload(2, seed=75, job_type="Workflow")}
    emulator.add_bucket(B.bucket, B.region).preload(1, seed=76, job_type="Workflow")
    port = int(emulator.url.rsplit(":", 1)[1])
    conf = CosConfig(Region=A.region, SecretId=CREDENTIALS.secret_id, SecretKey=CREDENTIALS.secret_key,
                     Scheme="http", IP="127.0.0.1", Port=port)  # fmt: skip
    sdk = CosS3Client(conf, retry=0)
    listed = sdk.ci_list_inventory_trigger_jobs(Bucket=A.bucket)
    assert {j["JobId"] for j in listed["JobsDetail"]} == jobs_a
    assert {j["JobId"] for j in sdk.ci_list_inventory_trigger_jobs(Bucket=B.bucket)["JobsDetail"]}.isdisjoint(jobs_a)
    assert not emulator.auth_failures
