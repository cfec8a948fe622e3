"""Deployment files: serverless.yml matches the code and settings; the CAM policy grants only what is used."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from jobwatch.config import Settings
from jobwatch.errors import ConfigError

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


def test_environment_variables_exist_in_settings() -> None:
    """Every JOBWATCH_* variable serverless.yml sets is one the README documents, and its literal values are valid."""
    variables = serverless()["inputs"]["environment"]["variables"]
    assert variables and set(variables) <= readme_variables()[0]
    literals = {k: str(v) for k, v in variables.items() if not re.search(r"\$\{", str(v))}
    Settings.from_env(literals)  # raises ConfigError naming a bad value


def readme_variables() -> tuple[set[str], set[str]]:
    """From the README's configuration table: the variables each row documents (first column), and every variable
    the table names anywhere (defaults such as TENCENTCLOUD_REGION included)."""
    text = (ROOT / "README.md").read_text()
    table = text[text.index("## Configuration") : text.index("## Triggers")]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    pattern = r"`((?:JOBWATCH|TENCENTCLOUD)_[A-Z_]+)`"
    documented = {name for row in rows for name in re.findall(pattern, row.split(" | ")[0])}
    named = {name for row in rows for name in re.findall(pattern, row)}
    return documented, named


# A variable that needs others to take effect is tried beside them.
COMPANIONS = {
    "TENCENTCLOUD_SESSIONTOKEN": {"TENCENTCLOUD_SECRETID": "AKIDtest", "TENCENTCLOUD_SECRETKEY": "key"},
}


@pytest.mark.parametrize("name", sorted(readme_variables()[0]))
def test_each_documented_variable_is_read(name: str) -> None:
    """Each variable the README's table documents changes the settings, or is refused naming itself when bad."""
    base = COMPANIONS.get(name, {})
    try:
        changed = Settings.from_env({**base, name: "bogus value 7"})
    except ConfigError as exc:
        assert exc.variable == name or name in str(exc), exc
    else:
        assert changed != Settings.from_env(base), name


def test_no_undocumented_variable() -> None:
    """Every variable name config.py mentions is named in the README's configuration table."""
    source = (ROOT / "handler" / "jobwatch" / "config.py").read_text()
    mentioned = set(re.findall(r"\b((?:JOBWATCH|TENCENTCLOUD)_[A-Z_]+)\b", source))
    assert mentioned - readme_variables()[1] == set()


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
