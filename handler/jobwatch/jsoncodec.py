"""Strict JSON both ways (pure): no ``NaN`` or ``Infinity``, and nesting of at most 32 levels.

Python's ``json`` reads ``NaN`` and ``Infinity`` (which no other JSON reader accepts) and ``1e400`` (as infinity),
and recurses once per level, so a body of ``[[[[…`` ends in a ``RecursionError``. ``loads`` counts the depth first
(when there are brackets enough to pass the limit), from the brackets outside strings, and refuses non-finite
constants and numbers; ``dumps`` never writes them.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_DEPTH = 32
_STRINGS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_PAIRS = re.compile(rb"\[\]|\{\}")


class JSONRefusedError(ValueError):
    """Raised for JSON that is malformed, too deep, or holds NaN or Infinity; the message says which."""


def depth_of(text: bytes, limit: int) -> int:
    """The deepest nesting of arrays and objects in ``text`` (brackets inside strings do not count), or a number
    over ``limit`` once it passes it. Each pass (C speed) removes the innermost pairs, so a document ``d`` deep takes
    ``d`` passes. Unbalanced brackets stop the count: ``json.loads`` then refuses the text itself."""
    shape = _STRINGS.sub(b"", text).translate(None, _NOT_BRACKETS)
    depth = 0
    while shape and depth <= limit:
        inner = _PAIRS.sub(b"", shape)
        if len(inner) == len(shape):
            break
        shape, depth = inner, depth + 1
    return depth


def _refuse_constant(name: str) -> Any:
    raise JSONRefusedError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400 is read as infinity
        raise JSONRefusedError(f"{text[:40]} is too large for a JSON number")
    return value


def loads(data: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON strictly; ``JSONRefusedError`` says what is wrong."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    # Every level opens a bracket: a document with few brackets (a stored record) is not walked at all.
    if raw.count(b"[") + raw.count(b"{") > max_depth and depth_of(raw, max_depth) > max_depth:
        raise JSONRefusedError(f"JSON is nested deeper than {max_depth} levels")
    try:
        return json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite)
    except JSONRefusedError:
        raise
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise JSONRefusedError("not valid JSON") from exc


def check(value: Any, *, max_depth: int = MAX_DEPTH) -> None:
    """Refuse a Python value that strict JSON cannot carry: too deep, non-finite numbers, non-string keys."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise JSONRefusedError("NaN and Infinity are not JSON numbers")
        if isinstance(item, (dict, list, tuple)):
            if level > max_depth:
                raise JSONRefusedError(f"JSON is nested deeper than {max_depth} levels")
            if isinstance(item, dict):
                if not all(isinstance(k, str) for k in item):
                    raise JSONRefusedError("JSON object keys are strings")
                stack.extend((v, level + 1) for v in item.values())
            else:
                stack.extend((v, level + 1) for v in item)


def dumps(value: Any, **options: Any) -> str:
    """``json.dumps`` that refuses NaN and Infinity (``ValueError``) instead of writing them."""
    return json.dumps(value, allow_nan=False, **options)
