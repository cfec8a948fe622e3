"""``make policy``: the execution role's policy for a bucket list grants the CI reads on exactly those buckets, for
discovery on the regions' buckets plus ci:DescribeMediaBuckets, and Invoke on the function itself (its fan-out)."""

from __future__ import annotations

import json

import pytest

from devkit.policy import DISCOVER_ACTION, TEMPLATE, build, main

STORE = "s3://jobwatch-store-1250000000/jobwatch"


def ci_statements(policy: dict) -> list[dict]:  # type: ignore[type-arg]
    return [s for s in policy["statement"] if any(a.startswith("ci:") for a in s["action"])]


def test_listed_buckets_only() -> None:
    """Each listed bucket gets the template's CI reads on itself alone; no placeholder is left."""
    policy = build("a-1250000000@ap-guangzhou,b-1250000001@ap-shanghai", STORE, "ap-guangzhou", "100001", "default/jw")
    (ci,) = ci_statements(policy)
    template = json.loads(TEMPLATE.read_text())
    assert ci["action"] == next(s["action"] for s in template["statement"] if "ci:DescribeMediaJobs" in s["action"])
    assert ci["resource"] == ["qcs::ci:ap-guangzhou:uid/1250000000:bucket/a-1250000000/*",
                              "qcs::ci:ap-shanghai:uid/1250000001:bucket/b-1250000001/*"]  # fmt: skip
    assert "${" not in json.dumps(policy) and DISCOVER_ACTION not in json.dumps(policy)
    scf = next(s for s in policy["statement"] if "scf:InvokeFunction" in s["action"])
    assert scf["resource"] == ["qcs::scf:ap-guangzhou:uin/100001:namespace/default/function/jw"]


def test_discovery_grants_the_regions_and_the_listing() -> None:
    """discover: grants the reads on the regions' buckets and ci:DescribeMediaBuckets, and needs the APPID."""
    policy = build("discover:ap-guangzhou,ap-shanghai", STORE, "ap-guangzhou", "100001", "default/jw",
                   appid="1250000000")  # fmt: skip
    reads, listing = ci_statements(policy)
    assert reads["resource"] == ["qcs::ci:ap-guangzhou:uid/1250000000:bucket/*",
                                 "qcs::ci:ap-shanghai:uid/1250000000:bucket/*"]  # fmt: skip
    assert listing["action"] == [DISCOVER_ACTION]
    with pytest.raises(ValueError, match="--appid"):
        build("discover:ap-guangzhou", STORE, "ap-guangzhou", "100001", "default/jw")


def test_bad_input_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """A malformed bucket list is refused with a message, not a traceback."""
    assert main(["--buckets", "nope", "--store", STORE, "--store-region", "ap-guangzhou"]) == 2
    assert "bucket" in capsys.readouterr().err


def test_acting_statements_on_the_watched_buckets_only() -> None:
    """--act adds cancel and create on each listed bucket, and PutObject under its jobwatch/retries/ alone."""
    policy = build("a-1250000000@ap-guangzhou", STORE, "ap-guangzhou", "100001", "default/jw", act=True)
    acting = [s for s in policy["statement"] if "ci:CreateInventoryTriggerJob" in s["action"]]
    assert acting and acting[0]["resource"] == ["qcs::ci:ap-guangzhou:uid/1250000000:bucket/a-1250000000/*"]
    lists = [s for s in policy["statement"] if s["resource"][0].endswith("/jobwatch/retries/*")]
    assert lists and lists[0]["action"] == ["cos:PutObject"]
    assert lists[0]["resource"] == ["qcs::cos:ap-guangzhou:uid/1250000000:a-1250000000/jobwatch/retries/*"]
    plain = build("a-1250000000@ap-guangzhou", STORE, "ap-guangzhou", "100001", "default/jw")
    assert "ci:CreateInventoryTriggerJob" not in json.dumps(plain)
