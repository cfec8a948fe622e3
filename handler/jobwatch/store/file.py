"""The embedded default store: a local folder. Atomic writes by rename; exclusive creates by hard link, of an unnamed
file (O_TMPFILE) where the system allows, else of a temporary one."""

from __future__ import annotations

import contextlib
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
# O_TMPFILE or the /proc link refused: not this file system or not this system (the classic create is used).
_NO_ANONYMOUS = {errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.EXDEV, errno.EPERM, errno.ENOENT, errno.ENOTDIR}
_TRANSIENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EAGAIN, errno.EINTR, errno.ENOMEM}


def _failure(what: str, key: str, exc: OSError) -> StoreError | StoreUnavailableError:
    message = f"cannot {what} {key}: {exc.strerror or exc}"
    return StoreUnavailableError(message) if exc.errno in _TRANSIENT_ERRNOS else StoreError(message)


class FileStore:
    """Objects as files under ``root``; keys map to relative paths. Paths are plain strings and the calls plain
    ``os`` ones: a sweep writes hundreds of files, and ``pathlib`` cost more than the writes' own system calls."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self._root = str(self.root).rstrip("/")  # "" for the file system's root: keys then start with "/"
        self._folders: set[str] = set()  # made (or found) already: one mkdir per folder, not per write
        self._anonymous = hasattr(os, "O_TMPFILE")  # creates by unnamed file and link, until the system refuses

    def _path(self, key: str) -> str:
        # Checked by its parts, not resolve(): a sweep maps hundreds of keys, and resolve() asks the disk each time.
        parts = key.split("/")
        if not key or key.startswith("/") or "\\" in key or "\0" in key or any(p in ("", ".", "..") for p in parts):
            raise StoreError(f"key {key!r} leaves the store root")
        return f"{self._root}/{key}"

    def _ensure(self, folder: str) -> None:
        if folder not in self._folders:
            os.makedirs(folder, exist_ok=True)
            self._folders.add(folder)

    def _write_temp(self, path: str, data: bytes) -> str:
        folder, _, _ = path.rpartition("/")
        self._ensure(folder)
        tmp = f"{folder}/{TMP_PREFIX}{uuid.uuid4().hex}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        try:
            try:
                fd = os.open(tmp, flags, 0o644)
            except FileNotFoundError:  # the folder was removed since: make it again
                os.makedirs(folder, exist_ok=True)
                fd = os.open(tmp, flags, 0o644)
            try:
                _write_all(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError:
            _unlink(tmp)  # a half-written file would only hold the space a full disk lacks
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
            with open(self._path(key), "rb") as fh:
                return fh.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _failure("read", key, exc) from exc

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        try:
            tmp = self._write_temp(path, data)
            os.replace(tmp, path)
        except OSError as exc:
            raise _failure("write", key, exc) from exc

    def create(self, key: str, data: bytes) -> bool:
        path = self._path(key)
        if self._anonymous:
            made = self._create_anonymous(key, path, data)
            if made is not None:
                return made
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
            _unlink(tmp)

    def _create_anonymous(self, key: str, path: str, data: bytes) -> bool | None:
        """Write an unnamed file (O_TMPFILE) and link it under its name: no temporary name to create, remove, or
        leave behind when killed; the link fails if the name exists. None where the system cannot (then never
        again for this store)."""
        folder = path.rpartition("/")[0]
        try:
            self._ensure(folder)
            fd = os.open(folder, os.O_TMPFILE | os.O_WRONLY, 0o644)
        except OSError as exc:
            if exc.errno == errno.ENOENT:  # the folder was removed since: the classic create makes it again
                self._folders.discard(folder)
                return None
            if exc.errno in _NO_ANONYMOUS:
                self._anonymous = False
                return None
            raise _failure("write", key, exc) from exc
        try:
            _write_all(fd, data)
            os.fsync(fd)
            # The descriptor's /proc link, followed (AT_SYMLINK_FOLLOW): src_dir_fd only makes os.link use linkat().
            os.link(f"/proc/self/fd/{fd}", path, src_dir_fd=fd, follow_symlinks=True)
            return True
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno in _NO_ANONYMOUS:  # no /proc, say
                self._anonymous = False
                return None
            raise _failure("create", key, exc) from exc
        finally:
            os.close(fd)

    def _create_excl(self, path: str, data: bytes) -> bool:
        """For file systems without hard links: O_EXCL, then write."""
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
        except OSError as exc:
            _unlink(path)  # ours (O_EXCL): never leave a partial document under the name
            raise _failure("create", path.rpartition("/")[2], exc) from exc
        return True

    def list(self, prefix: str, start_after: str = "") -> Iterator[str]:
        directory = prefix.rpartition("/")[0]
        base = self._path(directory) if directory else self._root or "/"
        if not os.path.isdir(base):
            return iter(())
        keys = []
        skip = len(self._root) + 1
        for dirpath, _dirnames, filenames in os.walk(base):
            folder = dirpath[skip:]
            for name in filenames:
                if name.startswith(TMP_PREFIX):
                    continue
                key = f"{folder}/{name}" if folder else name
                if key.startswith(prefix) and key > start_after:
                    keys.append(key)
        return iter(sorted(keys))

    def delete(self, key: str) -> None:
        try:
            os.unlink(self._path(key))
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise _failure("delete", key, exc) from exc

    def url(self, key: str) -> str:
        return f"file:{self.root / key}"


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
