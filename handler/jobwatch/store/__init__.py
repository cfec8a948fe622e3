"""Storage: the ``ObjectStore`` port, its two backends, and ``open_store`` to pick one from the settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import ObjectStore
from .file import FileStore

if TYPE_CHECKING:
    from ..config import Settings

__all__ = ["FileStore", "ObjectStore", "open_store"]


def open_store(settings: Settings) -> ObjectStore:
    """``file:<dir>`` → FileStore; ``s3://bucket/prefix`` → S3Store (boto3 loaded only then)."""
    if settings.store.startswith("s3://"):
        from .s3 import S3Store

        bucket, _, prefix = settings.store[len("s3://") :].partition("/")
        endpoint = settings.store_endpoint
        if endpoint is None and settings.ci_region:
            endpoint = f"https://cos.{settings.ci_region}.myqcloud.com"
        return S3Store(
            bucket, prefix, endpoint_url=endpoint, region=settings.ci_region, credentials=settings.credentials
        )
    return FileStore(settings.store[len("file:") :])
