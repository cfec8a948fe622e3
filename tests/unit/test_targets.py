"""Watched targets: ``JOBWATCH_CI_BUCKETS`` parsed into buckets in regions or regions to discover; the one-bucket
form is a one-element list; both forms at once, or a malformed entry, fail naming the variable."""

from __future__ import annotations

import pytest

from jobwatch.ci.buckets import parse_buckets
from jobwatch.config import Settings
from jobwatch.errors import CIBadResponseError, ConfigError
from jobwatch.targets import Target, parse_key, parse_list


def test_entries_with_commas_and_spaces() -> None:
    """Entries split on commas and spaces, in order, duplicates once."""
    targets, regions = parse_list("a-1250000000@ap-guangzhou, b-1250000000@ap-shanghai a-1250000000@ap-guangzhou")
    assert targets == (Target("a-1250000000", "ap-guangzhou"), Target("b-1250000000", "ap-shanghai"))
    assert regions == ()


def test_discover_regions() -> None:
    """discover: names the regions whose buckets are listed."""
    assert parse_list("discover:ap-guangzhou,ap-shanghai") == ((), ("ap-guangzhou", "ap-shanghai"))


@pytest.mark.parametrize(
    ("value", "says"),
    [("a-1250000000", "<bucket>@<region>"), ("A_B@ap-guangzhou", "<name>-<APPID>"), ("a-1250000000@Moon", "region"),
     ("discover:", "at least one region"), ("discover:ap-guangzhou,../x", "not a region"), (" , ", "expected")],
)  # fmt: skip
def test_malformed_entries_are_named(value: str, says: str) -> None:
    """A malformed value fails with a message that says what was expected."""
    with pytest.raises(ValueError, match=says):
        parse_list(value)


def test_both_forms_fail_fast() -> None:
    """JOBWATCH_CI_BUCKETS with JOBWATCH_CI_BUCKET (or _REGION) is a configuration error naming the variable."""
    for one in ({"JOBWATCH_CI_BUCKET": "a-1250000000"}, {"JOBWATCH_CI_REGION": "ap-guangzhou"}):
        with pytest.raises(ConfigError, match=r"JOBWATCH_CI_BUCKETS.*not both"):
            Settings.from_env({"JOBWATCH_CI_BUCKETS": "b-1250000000@ap-shanghai", **one})


def test_scf_region_is_no_conflict() -> None:
    """TENCENTCLOUD_REGION, which SCF always sets, goes with the list."""
    settings = Settings.from_env(
        {"JOBWATCH_CI_BUCKETS": "b-1250000000@ap-shanghai", "TENCENTCLOUD_REGION": "ap-guangzhou"}
    )
    assert settings.many and settings.targets() == (Target("b-1250000000", "ap-shanghai"),)


def test_one_bucket_form_is_one_target() -> None:
    """The one-bucket variables make a one-element list and not the many-target form."""
    settings = Settings.from_env({"JOBWATCH_CI_BUCKET": "a-1250000000", "JOBWATCH_CI_REGION": "ap-guangzhou"})
    assert not settings.many and settings.targets() == (Target("a-1250000000", "ap-guangzhou"),)


def test_bad_list_is_a_config_error() -> None:
    """A malformed list is a ConfigError naming JOBWATCH_CI_BUCKETS; the fan-out switch takes auto or off only."""
    with pytest.raises(ConfigError, match="JOBWATCH_CI_BUCKETS"):
        Settings.from_env({"JOBWATCH_CI_BUCKETS": "nope"})
    with pytest.raises(ConfigError, match="JOBWATCH_FANOUT"):
        Settings.from_env({"JOBWATCH_FANOUT": "sometimes"})


def test_keys_round_trip() -> None:
    """A target's key names it back; anything else is None."""
    target = Target("a-1250000000", "ap-guangzhou")
    assert target.key == "a-1250000000@ap-guangzhou" and parse_key(target.key) == target
    assert target.host == "a-1250000000.ci.ap-guangzhou.myqcloud.com"
    assert parse_key("../etc@x") is None and parse_key(3) is None and parse_key("a@b@c") is None


def test_media_bucket_pages() -> None:
    """A /mediabucket page: its well-formed buckets and the total; a broken total is CI's fault."""
    body = (b"<Response><RequestId>r</RequestId><TotalCount>3</TotalCount><PageNumber>1</PageNumber>"
            b"<MediaBucketList><BucketId>a-1250000000</BucketId><Region>ap-guangzhou</Region></MediaBucketList>"
            b"<MediaBucketList><BucketId>../x</BucketId><Region>ap-guangzhou</Region></MediaBucketList>"
            b"</Response>")  # fmt: skip
    assert parse_buckets(body) == ([("a-1250000000", "ap-guangzhou")], 3)
    with pytest.raises(CIBadResponseError):
        parse_buckets(b"<Response><TotalCount>many</TotalCount></Response>")
