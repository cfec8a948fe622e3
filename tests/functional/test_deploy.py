"""Deployment files: serverless.yml matches the code and settings; the CAM policy grants only what is used."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import yaml

from jobwatch.config import ENV_VARIABLES, Settings

ROOT = Path(__file__).resolve().parents[2]


def serverless() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "serverless.yml").read_text())  # type: ignore[no-any-return]


def test_handler_and_runtime() -> None:
    """The handler names index.main_handler in handler/, on Python3.10, from src ./handler."""
    inputs = serverless()["inputs"]
    assert serverless()["component"] == "scf"
    assert inputs["handler"] == "index.main_handler" and inputs["runtime"] == "Python3.10"
    assert inputs["src"]["src"] == "./handler"
    tree = ast.parse((ROOT / "handler" / "index.py").read_text())
    assert "main_handler" in {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert 64 <= inputs["memorySize"] <= 3072 and 1 <= inputs["timeout"] <= 900


def test_triggers() -> None:
    """A timer (7-field cron, enabled) and a Function URL trigger; no active API Gateway trigger."""
    events = serverless()["inputs"]["events"]
    kinds = [next(iter(e)) for e in events]
    assert sorted(kinds) == ["http", "timer"]
    timer = next(e["timer"]["parameters"] for e in events if "timer" in e)
    assert len(timer["cronExpression"].split()) == 7 and timer["enable"] is True
    assert "# - apigw:" in (ROOT / "serverless.yml").read_text()


def test_environment_variables_exist_in_settings() -> None:
    """Every JOBWATCH_* variable serverless.yml sets is one Settings reads, and its literal values are valid."""
    variables = serverless()["inputs"]["environment"]["variables"]
    assert variables and set(variables) <= set(ENV_VARIABLES)
    literals = {k: str(v) for k, v in variables.items() if not re.search(r"\$\{", str(v))}
    Settings.from_env(literals)  # raises ConfigError naming a bad value


def test_settings_read_exactly_the_documented_variables() -> None:
    """config.py reads every variable in ENV_VARIABLES and no other JOBWATCH_* name."""
    source = (ROOT / "handler" / "jobwatch" / "config.py").read_text()
    used = set(re.findall(r'env\.get\("((?:JOBWATCH|TENCENTCLOUD)_[A-Z_]+)"', source))
    used |= set(re.findall(r'"((?:JOBWATCH|TENCENTCLOUD)_[A-Z_]+)" in env', source))
    assert used == set(ENV_VARIABLES)


def test_store_endpoint_default_follows_the_region() -> None:
    """serverless.yml names no region's COS endpoint: left empty, the function uses its own region's."""
    from jobwatch.store import open_store
    from jobwatch.store.s3 import S3Store

    variables = serverless()["inputs"]["environment"]["variables"]
    assert "myqcloud.com" not in str(variables["JOBWATCH_STORE_ENDPOINT"])
    settings = Settings.from_env({"JOBWATCH_STORE": "s3://jobs-1250000000/jobwatch", "JOBWATCH_CI_REGION": "ap-shanghai",
                                  "JOBWATCH_STORE_ENDPOINT": ""})  # fmt: skip
    store = open_store(settings)
    assert isinstance(store, S3Store) and store._endpoint_url == "https://cos.ap-shanghai.myqcloud.com"
