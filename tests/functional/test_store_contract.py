"""One contract for every store backend: the folder and S3 (moto in server mode) behave the same."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from jobwatch.config import Credentials
from jobwatch.errors import StoreError, StoreUnavailableError
from jobwatch.store import FileStore, ObjectStore
from jobwatch.store.s3 import S3Store
from tests.functional.conftest import s3_client


class TestContract:
    def test_missing_is_none(self, store: ObjectStore) -> None:
        """Reading a key that was never written gives None."""
        assert store.get("jobs/nope.json") is None

    def test_put_then_get(self, store: ObjectStore) -> None:
        """What is put is read back byte for byte, UTF-8 included."""
        store.put("jobs/a.json", '{"name": "转码"}'.encode())
        assert store.get("jobs/a.json") == '{"name": "转码"}'.encode()

    def test_put_overwrites(self, store: ObjectStore) -> None:
        """A second put replaces the whole object."""
        store.put("jobs/a.json", b"first, longer body")
        store.put("jobs/a.json", b"second")
        assert store.get("jobs/a.json") == b"second"

    def test_create_only_once(self, store: ObjectStore) -> None:
        """create() writes when absent and refuses, keeping the first bytes, when present."""
        assert store.create("events/e1.json", b"one") is True
        assert store.create("events/e1.json", b"two") is False
        assert store.get("events/e1.json") == b"one"

    def test_racing_creates_have_one_winner(self, store: ObjectStore) -> None:
        """Sixteen threads creating the same key: exactly one succeeds."""
        barrier = threading.Barrier(16)
        wins: list[bool] = []

        def attempt(n: int) -> None:
            barrier.wait()
            wins.append(store.create("events/race.json", str(n).encode()))

        threads = [threading.Thread(target=attempt, args=(n,)) for n in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert wins.count(True) == 1 and len(wins) == 16

    def test_list_by_prefix_sorted(self, store: ObjectStore) -> None:
        """list() yields every key under the prefix, sorted, and nothing else."""
        for key in ("watches/b.json", "watches/a.json", "jobs/a.json", "sweeps/2026-01-01/000000.json"):
            store.put(key, b"{}")
        assert list(store.list("watches/")) == ["watches/a.json", "watches/b.json"]
        assert list(store.list("sweeps/")) == ["sweeps/2026-01-01/000000.json"]
        assert list(store.list("events/")) == []

    def test_list_after_a_key(self, store: ObjectStore) -> None:
        """list(prefix, start_after=k) resumes strictly after k."""
        for name in ("a", "b", "c"):
            store.put(f"jobs/{name}.json", b"{}")
        assert list(store.list("jobs/", start_after="jobs/a.json")) == ["jobs/b.json", "jobs/c.json"]
        assert list(store.list("jobs/", start_after="jobs/c.json")) == []

    def test_delete_is_idempotent(self, store: ObjectStore) -> None:
        """delete() removes the object; deleting again is no error."""
        store.put("watches/a.json", b"{}")
        store.delete("watches/a.json")
        store.delete("watches/a.json")
        assert store.get("watches/a.json") is None

    def test_url_names_the_object(self, store: ObjectStore) -> None:
        """url() points at the object: file: or s3:// with the prefix."""
        url = store.url("jobs/a.json")
        assert url.endswith("jobs/a.json") and url.split(":", 1)[0] in ("file", "s3")


class TestFileStore:
    def test_refuses_keys_outside_root(self, tmp_path: Path) -> None:
        """A key that climbs out of the root is refused."""
        with pytest.raises(StoreError):
            FileStore(tmp_path).put("../outside.json", b"x")
        assert not (tmp_path.parent / "outside.json").exists()

    def test_folder_removed_between_writes(self, tmp_path: Path) -> None:
        """A folder someone removed after the store wrote into it is made again on the next write."""
        import shutil

        store = FileStore(tmp_path)
        store.put("jobs/a.json", b"1")
        shutil.rmtree(tmp_path / "jobs")
        store.put("jobs/b.json", b"2")
        assert store.create("jobs/c.json", b"3") and store.get("jobs/b.json") == b"2"

    def test_create_after_folder_removed(self, tmp_path: Path) -> None:
        """A create into a folder removed since the store last wrote there makes it again."""
        import shutil

        store = FileStore(tmp_path)
        store.create("events/a.json", b"1")
        shutil.rmtree(tmp_path / "events")
        assert store.create("events/b.json", b"2") and not store.create("events/b.json", b"3")
        assert store.get("events/b.json") == b"2"

    def test_create_where_unnamed_files_are_refused(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Where the file system refuses O_TMPFILE, creates go by a temporary file, still exactly once."""
        import errno
        import os

        real_open = os.open

        def refusing(path: str, flags: int, *args: int) -> int:
            if flags & getattr(os, "O_TMPFILE", 0) == getattr(os, "O_TMPFILE", -1):
                raise OSError(errno.EOPNOTSUPP, "not here")
            return real_open(path, flags, *args)

        monkeypatch.setattr(os, "open", refusing)
        store = FileStore(tmp_path)
        assert store.create("events/e.json", b"1") and not store.create("events/e.json", b"2")
        assert store.get("events/e.json") == b"1" and not store._anonymous

    def test_no_temp_files_left(self, tmp_path: Path) -> None:
        """Atomic writes leave no temporary files behind, and list() never shows one."""
        store = FileStore(tmp_path)
        store.put("jobs/a.json", b"1")
        store.create("events/e.json", b"1")
        store.create("events/e.json", b"2")
        assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["a.json", "e.json"]

    def test_unwritable_root(self, tmp_path: Path) -> None:
        """A root that cannot be written gives StoreError, not an OSError."""
        (tmp_path / "file").write_text("not a dir")
        with pytest.raises(StoreError):
            FileStore(tmp_path / "file").put("jobs/a.json", b"x")


class TestS3Store:
    def test_versioned_bucket_refused(self, moto_endpoint: str) -> None:
        """A bucket with versioning enabled is refused for events, saying why."""
        client = s3_client(moto_endpoint)
        client.create_bucket(Bucket="versioned-bucket")
        client.put_bucket_versioning(Bucket="versioned-bucket", VersioningConfiguration={"Status": "Enabled"})
        store = S3Store("versioned-bucket", endpoint_url=moto_endpoint, region="us-east-1", client=client)
        with pytest.raises(StoreError, match="versioning"):
            store.create("events/e.json", b"{}")

    def test_missing_bucket_is_permanent(self, moto_endpoint: str) -> None:
        """A bucket that does not exist is a StoreError (permanent)."""
        store = S3Store(
            "no-such-bucket-here", endpoint_url=moto_endpoint, region="us-east-1", client=s3_client(moto_endpoint)
        )
        with pytest.raises(StoreError):
            store.put("jobs/a.json", b"{}")

    def test_unreachable_endpoint_is_transient(self) -> None:
        """Nothing listening at the endpoint is StoreUnavailableError (transient)."""
        store = S3Store("b", endpoint_url="http://127.0.0.1:9", region="us-east-1", credentials=Credentials("a", "b"))
        with pytest.raises(StoreUnavailableError):
            store.get("jobs/a.json")

    def test_prefix_isolates(self, moto_endpoint: str, s3_store: S3Store) -> None:
        """Objects live under the configured prefix in the bucket."""
        s3_store.put("jobs/a.json", b"{}")
        keys = [o["Key"] for o in s3_client(moto_endpoint).list_objects_v2(Bucket=s3_store.bucket)["Contents"]]
        assert keys == ["watch/jobs/a.json"]

    def test_cos_forbid_overwrite_header_sent(self, s3_store: S3Store) -> None:
        """Conditional creates also carry COS's x-cos-forbid-overwrite: true."""
        seen: list[dict[str, bytes]] = []
        s3_store.client.meta.events.register(
            "before-send.s3.PutObject", lambda request, **_: seen.append(dict(request.headers))
        )
        s3_store.create("events/x.json", b"{}")
        assert seen[-1].get("x-cos-forbid-overwrite") == b"true" and seen[-1].get("If-None-Match") == b"*"
