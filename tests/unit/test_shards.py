"""Shards: the slices a backlog of deliveries is split into, and the delivery shard checked on the way in."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobwatch import shards
from jobwatch.errors import InvalidInputError
from jobwatch.targets import Target
from tests.conftest import load_event

WATCHED = [Target("media-1250000000", "ap-guangzhou")]


@given(st.from_regex(r"evt-[A-Za-z0-9_-]{1,60}", fullmatch=True), st.integers(2, 64))
def test_every_event_falls_in_exactly_one_slice(event_id: str, parts: int) -> None:
    """However many slices, an event's deliveries belong to one of them only."""
    assert sum(shards.in_slice(event_id, (n, parts)) for n in range(parts)) == 1


def test_delivery_shards_cover_the_other_slices() -> None:
    """The sweep keeps slice 0; one shard per other slice, each with an ID the work action accepts."""
    own, handed = shards.delivery_shards("0123456789ab", 8)
    assert own == (0, 8) and [s.deliver for s in handed] == [(n, 8) for n in range(1, 8)]
    assert all(shards.SHARD_ID_RE.fullmatch(s.id) and not s.targets for s in handed)
    assert [shards.checked(s.payload()["shard"], WATCHED).deliver for s in handed] == [s.deliver for s in handed]


def test_sample_delivery_shard_is_accepted() -> None:
    """events/invoke-work-deliver.json is a delivery shard with no buckets."""
    checked = shards.checked(load_event("invoke-work-deliver.json")["shard"], WATCHED)
    assert checked.deliver == (3, 8) and checked.targets == []


@pytest.mark.parametrize("deliver", [[8, 8], [-1, 8], [0, 65], [True, 2], ["1", 8], [1], "1/8"])
def test_a_bad_slice_is_refused(deliver: object) -> None:
    """A slice outside its count, over 64 slices, or not two integers is a 400."""
    with pytest.raises(InvalidInputError):
        shards.checked({"id": "0123456789ab-d1", "targets": [], "deliver": deliver}, WATCHED)


def test_a_shard_without_buckets_or_slice_is_refused() -> None:
    """A shard names buckets, or a slice of the deliveries."""
    with pytest.raises(InvalidInputError):
        shards.checked({"id": "0123456789ab-1", "targets": []}, WATCHED)
