"""The embedded default store: a local folder. Atomic writes by rename, exclusive creates by hard link."""

from __future__ import annotations

import errno
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

from ..errors import StoreError, StoreUnavailableError

TMP_PREFIX = ".tmp-"
TEMP_MAX_AGE = 600.0  # seconds: a temporary file this old belongs to a writer that was killed
# A full disk or quota, or a flaky device, can pass: the sweep's work waits for a later one. Anything else
# (permissions, a file where a folder should be) needs someone to fix it.
_TRANSIENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EAGAIN, errno.EINTR, errno.ENOMEM}


def _failure(what: str, key: str, exc: OSError) -> StoreError | StoreUnavailableError:
    message = f"cannot {what} {key}: {exc.strerror or exc}"
    return StoreUnavailableError(message) if exc.errno in _TRANSIENT_ERRNOS else StoreError(message)


class FileStore:
    """Objects as files under ``root``; keys map to relative paths."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self._folders: set[Path] = set()  # made (or found) already: one mkdir per folder, not per write

    def _path(self, key: str) -> Path:
        # Checked by its parts, not resolve(): a sweep maps hundreds of keys, and resolve() asks the disk each time.
        parts = key.split("/")
        if not key or key.startswith("/") or "\\" in key or "\0" in key or any(p in ("", ".", "..") for p in parts):
            raise StoreError(f"key {key!r} leaves the store root")
        return self.root.joinpath(*parts)

    def _write_temp(self, path: Path, data: bytes) -> Path:
        if path.parent not in self._folders:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._folders.add(path.parent)
        tmp = path.with_name(f"{TMP_PREFIX}{uuid.uuid4().hex}")
        try:
            try:
                fh = tmp.open("wb")
            except FileNotFoundError:  # the folder was removed since: make it again
                path.parent.mkdir(parents=True, exist_ok=True)
                fh = tmp.open("wb")
            with fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError:
            tmp.unlink(missing_ok=True)  # a half-written file would only hold the space a full disk lacks
            raise
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
            raise _failure("read", key, exc) from exc

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        try:
            tmp = self._write_temp(path, data)
            tmp.replace(path)
        except OSError as exc:
            raise _failure("write", key, exc) from exc

    def create(self, key: str, data: bytes) -> bool:
        path = self._path(key)
        try:
            tmp = self._write_temp(path, data)
        except OSError as exc:
            raise _failure("write", key, exc) from exc
        try:
            # link() publishes the complete file or fails if the name exists: no reader sees a partial event.
            os.link(tmp, path)
            return True
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV):
                raise _failure("create", key, exc) from exc
            return self._create_excl(path, data)
        finally:
            tmp.unlink(missing_ok=True)

    def _create_excl(self, path: Path, data: bytes) -> bool:
        """For file systems without hard links: O_EXCL, then write."""
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
        except OSError as exc:
            path.unlink(missing_ok=True)  # ours (O_EXCL): never leave a partial document under the name
            raise _failure("create", path.name, exc) from exc
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
            raise _failure("delete", key, exc) from exc

    def url(self, key: str) -> str:
        return f"file:{self.root / key}"
