"""Cold start: what importing the handler, the pure modules and the store-only routes load (each in a fresh
interpreter). How long importing takes is measured by ``make bench``, not here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("requests", "urllib3", "boto3", "botocore", "tencentcloud", "qcloud_cos", "http.client", "ssl")
PURE = ("jobwatch.history", "jobwatch.events", "jobwatch.signing", "jobwatch.ci.models", "jobwatch.ci.signer",
        "jobwatch.ci.xmldoc")  # fmt: skip


def loaded_after(code: str, env: dict[str, str] | None = None) -> set[str]:
    """The modules a fresh interpreter holds after running ``code`` (handler/ on its path)."""
    probe = f"import sys, json\nsys.path.insert(0, {str(ROOT / 'handler')!r})\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m in HEAVY or m.split(".")[0] in HEAVY)


def test_importing_the_handler_loads_no_http_stack_or_sdk() -> None:
    """``import index`` loads neither requests, boto3, the SDKs nor the TLS stack: they come with the first route
    that needs them."""
    assert heavy(loaded_after("import index")) == []


@pytest.mark.parametrize("module", PURE)
def test_pure_module_imports_no_http_stack_or_sdk(module: str) -> None:
    """Each pure module (parsing, diffing, events, signing) imports no HTTP stack, boto3 or SDK."""
    assert heavy(loaded_after(f"import {module}")) == []


@pytest.mark.parametrize("event", ["http-functionurl-healthz.json", "http-functionurl-jobs-list.json",
                                   "http-functionurl-job-record.json"])  # fmt: skip
def test_store_routes_never_load_the_ci_client(event: str, tmp_path: Path) -> None:
    """/healthz and reads of the store answer without importing the CI client or requests."""
    env = {"PATH": "/usr/bin:/bin", "JOBWATCH_STORE": f"file:{tmp_path}", "JOBWATCH_CI_BUCKET": "demo-1250000000",
           "JOBWATCH_API_TOKEN": "change-me", "JOBWATCH_LOG_LEVEL": "CRITICAL"}  # fmt: skip
    code = (
        f"import index\nevent = json.load(open({str(ROOT / 'events' / event)!r}))\n"
        "answer = index.main_handler(event, {})\nassert answer['statusCode'] in (200, 404), answer"
    )
    modules = loaded_after(code, env)
    assert "jobwatch.ci.client" not in modules
    assert not {"requests", "urllib3", "boto3", "botocore"} & modules
