"""Strict JSON: the depth count that guards json.loads against deep nesting."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobwatch import jsoncodec

# Values whose strings are full of brackets and quotes, so the count must tell strings from structure.
tricky_text = st.text(alphabet='[]{}"\\ab:,', max_size=8)
values = st.recursive(
    st.none() | st.booleans() | st.integers() | tricky_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(tricky_text, inner, max_size=4),
    max_leaves=40,
)


def depth(value: Any) -> int:
    """The nesting of arrays and objects, counted on the Python value."""
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


@given(values)
def test_depth_matches_the_values_nesting(value: Any) -> None:
    """depth_of counts the nesting of any JSON text, brackets inside strings left out."""
    assert jsoncodec.depth_of(json.dumps(value).encode(), 1000) == depth(value)


def test_count_stops_past_the_limit() -> None:
    """Past the limit the count stops (a deep body costs limit passes, not its depth)."""
    body = b"[" * 5000 + b"]" * 5000
    assert jsoncodec.depth_of(body, 32) == 33


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000 + b"}" * 100_000, b"[" * 100_000 + b"]" * 99_999 + b"}", b"{" * 50_000],
)
def test_unbalanced_deep_body_is_refused(body: bytes) -> None:
    """Deep, unbalanced brackets are refused as JSON, never a RecursionError."""
    with pytest.raises(jsoncodec.JSONRefusedError):
        jsoncodec.loads(body)


def test_record_sized_document_reads() -> None:
    """A document with more brackets than the limit, but shallow, is read."""
    document = {"history": [{"state": "Running", "at": str(i)} for i in range(300)]}
    assert jsoncodec.loads(json.dumps(document), max_depth=32) == document


@pytest.mark.parametrize("body", [b'{"a": 1e400}', b"[-1e999]", b'{"a": NaN}', b"[Infinity]"])
def test_non_finite_numbers_are_refused(body: bytes) -> None:
    """A number too large for a double (read by Python as infinity) is refused like NaN and Infinity."""
    with pytest.raises(jsoncodec.JSONRefusedError):
        jsoncodec.loads(body)
