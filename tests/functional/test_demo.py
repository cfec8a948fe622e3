"""The demo runs to its summary and leaves a readable store (a short run of ``make demo``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_runs_to_summary(tmp_path: Path) -> None:
    """A fast demo over three buckets in two regions (one failing for a while) ends with every job finished, every
    event verified by the receiver once, each job's bucket on disk, the failing bucket named, the failing batch
    warned of, and its failed objects retried in a batch of their own that finishes too."""
    store = tmp_path / "demo-store"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "devkit.demo",
            "--jobs",
            "6",
            "--every",
            "0.5",
            "--duration",
            "1",
            "3",
            "--objects",
            "20",
            "60",
            "--object-duration",
            "0.5",
            "2",
            "--timeout",
            "60",
            "--store",
            str(store),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{ROOT / 'handler'}:{ROOT}", "COLUMNS": "120"},
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Summary" in run.stdout and "ci.batchjob.succeeded" in run.stdout
    assert "duplicates: 0, rejected signatures: 0" in run.stdout and "webhooks verified: 0" not in run.stdout
    records = [json.loads(p.read_text()) for p in (store / "jobs").glob("*.json")]
    assert len(records) == 7 and all(r["state"] in ("Success", "Failed", "Cancel") for r in records)  # 6 + a retry
    assert "⚠ ci.batchjob.failing" in run.stdout and "the retry batch finished" in run.stdout
    (retry,) = [r for r in records if r.get("retryOf")]
    original = next(r for r in records if r["jobId"] == retry["retryOf"])
    assert retry["objects"]["total"] == original["objects"]["failed"] == original["retries"][0]["objects"]
    assert len(list((store / "events").glob("*.json"))) >= 6
    assert run.stdout.count("manifest.json") == 7 and "objects," in run.stdout  # each report named in the summary
    assert all(r["objects"]["total"] is not None for r in records)
    assert all(r["objects"]["total"] >= 20 for r in records if r["state"] != "Cancel")
    assert {(r["bucket"], r["region"]) for r in records} == {("demo-1250000000", "ap-guangzhou"),
                                                             ("media-1250000000", "ap-guangzhou"),
                                                             ("clips-1250000000", "ap-shanghai")}  # fmt: skip
    assert "media-1250000000@ap-guangzhou: 2 jobs, failing in" in run.stdout  # its outage named, then caught up


def test_demo_refuses_a_folder_it_did_not_create(tmp_path: Path) -> None:
    """--store naming a folder with someone else's files is refused, and the files stay."""
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep.txt").write_text("mine")
    run = subprocess.run([sys.executable, "-m", "devkit.demo", "--store", str(precious), "--jobs", "1"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{ROOT / 'handler'}:{ROOT}"})  # fmt: skip
    assert run.returncode == 2 and "not made by the demo" in run.stdout
    assert (precious / "keep.txt").read_text() == "mine"
