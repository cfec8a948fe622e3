"""The narrow storage port: five byte-level operations, implemented by a folder and by any S3 API (COS)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol


class ObjectStore(Protocol):
    """Keys are ``/``-separated paths under the store root, built by jobwatch from checked IDs."""

    def get(self, key: str) -> bytes | None:
        """The object's bytes, or None when it does not exist."""

    def put(self, key: str, data: bytes) -> None:
        """Write the whole object atomically (readers see the old or the new bytes, never a mix)."""

    def create(self, key: str, data: bytes) -> bool:
        """Write only if absent; True if this call created it, False if it existed (the exactly-once primitive)."""

    def list(self, prefix: str, start_after: str = "") -> Iterator[str]:
        """Every key that starts with ``prefix`` (and sorts after ``start_after``), in lexical order."""

    def delete(self, key: str) -> None:
        """Remove the object; no error when it is already gone."""

    def url(self, key: str) -> str:
        """Where the object lives, for links in events (``file:…`` or ``s3://…``)."""
