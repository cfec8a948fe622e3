"""The embedded default store: a local folder. Atomic writes by rename, exclusive creates by hard link."""

from __future__ import annotations

import errno
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

from ..errors import StoreError

TMP_PREFIX = ".tmp-"
TEMP_MAX_AGE = 600.0  # seconds: a temporary file this old belongs to a writer that was killed


class FileStore:
    """Objects as files under ``root``; keys map to relative paths."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise StoreError(f"key {key!r} leaves the store root")
        return path

    def _write_temp(self, path: Path, data: bytes) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{TMP_PREFIX}{uuid.uuid4().hex}")
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        return tmp

    def clean_temporaries(self, budget: int = 200) -> int:
        """Remove temporary files a killed writer left (older than ``TEMP_MAX_AGE``); how many were removed."""
        import time

        removed = 0
        cutoff = time.time() - TEMP_MAX_AGE
        for path in self.root.rglob(f"{TMP_PREFIX}*") if self.root.exists() else ():
            if removed >= budget:
                break
            try:
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except OSError:
                continue  # gone meanwhile, or not ours to remove
        return removed

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"cannot read {key}: {exc.strerror}") from exc

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        try:
            tmp = self._write_temp(path, data)
            tmp.replace(path)
        except OSError as exc:
            raise StoreError(f"cannot write {key}: {exc.strerror}") from exc

    def create(self, key: str, data: bytes) -> bool:
        path = self._path(key)
        try:
            tmp = self._write_temp(path, data)
        except OSError as exc:
            raise StoreError(f"cannot write {key}: {exc.strerror}") from exc
        try:
            # link() publishes the complete file or fails if the name exists: no reader sees a partial event.
            os.link(tmp, path)
            return True
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV):
                raise StoreError(f"cannot create {key}: {exc.strerror}") from exc
            return self._create_excl(path, data)
        finally:
            tmp.unlink(missing_ok=True)

    def _create_excl(self, path: Path, data: bytes) -> bool:
        """For file systems without hard links: O_EXCL, then write."""
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        return True

    def list(self, prefix: str, start_after: str = "") -> Iterator[str]:
        directory = prefix.rpartition("/")[0]
        base = self._path(directory) if directory else self.root
        if not base.is_dir():
            return iter(())
        keys = []
        for dirpath, _dirnames, filenames in os.walk(base):
            for name in filenames:
                if name.startswith(TMP_PREFIX):
                    continue
                key = Path(dirpath, name).relative_to(self.root).as_posix()
                if key.startswith(prefix) and key > start_after:
                    keys.append(key)
        return iter(sorted(keys))

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot delete {key}: {exc.strerror}") from exc

    def url(self, key: str) -> str:
        return f"file:{self.root / key}"
