"""A store wrapper for tests and benchmarks: counts every call made through it, and keeps the keys it wrote."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from jobwatch.store import ObjectStore


class CountingStore:
    """Passes every call to ``inner``; ``calls`` counts them by name, ``written`` lists the keys put, created or
    deleted (a write of any kind), in order."""

    def __init__(self, inner: ObjectStore) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()
        self.written: list[str] = []
        self.bytes_read = 0

    def get(self, key: str) -> bytes | None:
        self.calls["get"] += 1
        data = self.inner.get(key)
        self.bytes_read += len(data or b"")
        return data

    def list(self, prefix: str, start_after: str = "") -> Iterator[str]:
        self.calls["list"] += 1
        return self.inner.list(prefix, start_after)

    def put(self, key: str, data: bytes) -> None:
        self.calls["put"] += 1
        self.written.append(key)
        self.inner.put(key, data)

    def create(self, key: str, data: bytes) -> bool:
        self.calls["create"] += 1
        self.written.append(key)
        return self.inner.create(key, data)

    def delete(self, key: str) -> None:
        self.calls["delete"] += 1
        self.written.append(key)
        self.inner.delete(key)

    def __getattr__(self, name: str) -> Any:  # url(), clean_temporaries() and the like
        return getattr(self.inner, name)
