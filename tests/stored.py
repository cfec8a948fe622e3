"""What tests read back from a store: the IDs of the documents under one folder (jobs/, events/)."""

from __future__ import annotations

from jobwatch.records import Records


def stored_ids(records: Records, folder: str) -> list[str]:
    """The IDs of ``<folder>/<id>.json`` documents, in key order."""
    prefix = f"{folder}/"
    return [
        k[len(prefix) : -len(".json")]
        for k in records.store.list(prefix)
        if k.endswith(".json") and "/" not in k[len(prefix) :]
    ]
