"""The built artifacts run: the code zip and the layer, unpacked as SCF does (/var/user, /opt), in a clean interpreter."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path
from typing import Any

import pytest

from devkit import build
from devkit.ciemu import TEST_SECRET_ID, TEST_SECRET_KEY, CIEmulator
from tests.functional.conftest import s3_client

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import index
    timer = json.load(open(sys.argv[1] + "/timer.json"))
    health = json.load(open(sys.argv[1] + "/http-functionurl-healthz.json"))
    jobs = json.load(open(sys.argv[1] + "/http-apigateway-jobs-list.json"))
    context = {"request_id": "package-test", "time_limit_in_ms": 30000}
    out = {
        "timer": index.main_handler(timer, context),
        "health": index.main_handler(health, context),
        "jobs": index.main_handler(jobs, context),
    }
    from tencentcloud.scf.v20180416 import scf_client  # chained invoke's SDK is in the layer
    import lxml.etree, boto3
    out["modules"] = sorted(m.split(".")[0] for m in sys.modules)
    out["path"] = sys.path
    print(json.dumps(out))
    """
)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The code package and a layer built for this interpreter, unpacked into /var/user and /opt stand-ins."""
    base = tmp_path_factory.mktemp("scf")
    code = build.package(base / "code.zip")
    deps = build.layer(local=True, out=base / "deps.zip")
    var_user, opt = base / "var" / "user", base / "opt"
    zipfile.ZipFile(code).extractall(var_user)
    zipfile.ZipFile(deps).extractall(opt)
    return var_user, opt


def run_clean(var_user: Path, opt: Path, env: dict[str, str]) -> dict[str, Any]:
    """Run the script with the base interpreter, no site-packages (-S), PYTHONPATH=/var/user:/opt only."""
    interpreter = getattr(sys, "_base_executable", sys.executable)
    result = subprocess.run(
        [interpreter, "-S", "-c", SCRIPT, str(ROOT / "events")],
        env={"PYTHONPATH": f"{var_user}:{opt}", "PATH": "/usr/bin:/bin", **env},
        capture_output=True, text=True, timeout=120, cwd=var_user,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def env_for(emulator: CIEmulator, store: str, **extra: str) -> dict[str, str]:
    return {"JOBWATCH_CI_ENDPOINT": emulator.url, "JOBWATCH_CI_BUCKET": "demo-1250000000",
            "TENCENTCLOUD_SECRETID": TEST_SECRET_ID, "TENCENTCLOUD_SECRETKEY": TEST_SECRET_KEY,
            "JOBWATCH_STORE": store, "JOBWATCH_API_TOKEN": "change-me", "JOBWATCH_LOG_LEVEL": "WARNING", **extra}  # fmt: skip


def test_code_package_holds_only_handler(tmp_path: Path) -> None:
    """The code package is index.py and jobwatch/ at its root: no tests, devkit or caches."""
    with zipfile.ZipFile(build.package(tmp_path / "code.zip")) as archive:
        names = archive.namelist()
    assert {n.split("/")[0] for n in names} == {"index.py", "jobwatch"}
    assert "jobwatch/entry.py" in names and not any("__pycache__" in n or n.endswith(".pyc") for n in names)


def test_runs_from_package_and_layer_with_file_store(deployed: tuple[Path, Path], tmp_path: Path) -> None:
    """Timer, Function URL and API Gateway events run from the unpacked artifacts alone, with the file store."""
    var_user, opt = deployed
    with CIEmulator() as emulator:
        emulator.book.preload(5, seed=2)
        out = run_clean(var_user, opt, env_for(emulator, f"file:{tmp_path / 'store'}"))
    assert out["timer"]["ok"] is True and out["timer"]["jobsSeen"] == 5
    assert out["health"]["statusCode"] == 200
    assert out["jobs"]["statusCode"] == 200 and json.loads(out["jobs"]["body"])["jobs"] == []
    assert all(not p.endswith("site-packages") for p in out["path"])
    assert not set(out["modules"]) & {"pytest", "moto", "rich", "hypothesis", "qcloud_cos", "devkit", "tests"}
    assert len(list((tmp_path / "store" / "jobs").glob("*.json"))) == 5


def test_runs_with_s3_store_from_pruned_layer(deployed: tuple[Path, Path], moto_endpoint: str) -> None:
    """boto3 from the pruned layer (S3 models only) drives the S3 store against moto's server."""
    var_user, opt = deployed
    s3_client(moto_endpoint).create_bucket(Bucket="package-test-bucket")
    with CIEmulator() as emulator:
        emulator.book.preload(3, seed=4)
        out = run_clean(var_user, opt, env_for(emulator, "s3://package-test-bucket/jobwatch",
                                                JOBWATCH_STORE_ENDPOINT=moto_endpoint))  # fmt: skip
    assert out["timer"]["ok"] is True and out["timer"]["jobsSeen"] == 3
    keys = [o["Key"] for o in s3_client(moto_endpoint).list_objects_v2(Bucket="package-test-bucket")["Contents"]]
    assert sum(k.startswith("jobwatch/jobs/") for k in keys) == 3


def test_scf_layer_content_and_size() -> None:
    """The SCF-platform layer (CPython 3.10, manylinux x86_64) has the runtime packages, no dev ones, and fits."""
    path = build.layer(local=False)
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    tops = {n.split("/")[0] for n in names}
    assert {"requests", "lxml", "boto3", "botocore", "standardwebhooks", "tencentcloud", "urllib3", "certifi"} <= tops
    assert not tops & set(build.DEV_ONLY)
    assert any(re.search(r"lxml/etree\.cpython-310-x86_64-linux-gnu\.so$", n) for n in names)
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    assert {n.split("/")[2] for n in names if n.startswith("botocore/data/") and n.count("/") > 2} == {"s3"}
    assert path.stat().st_size < 50 * 1024 * 1024  # SCF's limit for a zip uploaded directly
