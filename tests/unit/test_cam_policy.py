"""Least privilege: deploy/cam-policy.json grants exactly the CI, COS and SCF actions that the deployed code calls.

The set is derived from the code: every call of a CI client method outside the client itself, every boto3 call in
the S3 store, every SCF SDK call in the chained invoker. A new call without its action (or an action no code calls)
fails here, so the policy and the code cannot drift. Each action name must be one the README's CAM table documents,
with the page it comes from, so a misspelt or invented name (which CAM would ignore or refuse) fails too."""

from __future__ import annotations

import ast
import inspect
import json
import re
from pathlib import Path

from jobwatch.ci.client import CIClient

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "handler" / "jobwatch"

# What each callable costs in CAM (CI's and COS's documented action names); empty: makes no request.
CI_ACTIONS: dict[str, set[str]] = {
    "create": {"ci:CreateInventoryTriggerJob"},
    "describe": {"ci:DescribeInventoryTriggerJob"},
    "operation_of": {"ci:DescribeInventoryTriggerJob"},  # a retry reads the original's Operation, secrets kept
    "list_page": {"ci:DescribeInventoryTriggerJobs"},
    "iter_jobs": {"ci:DescribeInventoryTriggerJobs"},
    "list_jobs": {"ci:DescribeInventoryTriggerJobs"},
    "cancel": {"ci:CancelInventoryTriggerJob"},
    # GET /workflowexecution (a Workflow batch's objects) or GET /jobs (a Job batch's)
    "list_children_page": {"ci:DescribeMediaWorkflowExecutions", "ci:DescribeMediaJobs"},
    "execution_failure": {"ci:DescribeMediaWorkflowExecutions"},  # GET /workflowexecution/<RunId>
    "from_settings": set(),
    "for_host": set(),
    "media_buckets": {"ci:DescribeMediaBuckets"},  # GET /mediabucket: discover:<regions> only
}
BOTO3_ACTIONS = {
    "get_object": "cos:GetObject",
    "put_object": "cos:PutObject",
    "delete_object": "cos:DeleteObject",
    "head_object": "cos:HeadObject",
    "list_objects_v2": "cos:GetBucket",
    "get_bucket_versioning": "cos:GetBucketVersioning",
}
SCF_ACTIONS = {"Invoke": "scf:InvokeFunction"}


def calls(path: Path) -> list[ast.Call]:
    return [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Call)]


def attribute_names(path: Path) -> list[str]:
    return [c.func.attr for c in calls(path) if isinstance(c.func, ast.Attribute)]


def client_methods() -> set[str]:
    return {name for name, _ in inspect.getmembers(CIClient, inspect.isroutine) if not name.startswith("_")}


def _is_ci(node: ast.expr) -> bool:
    """``ci``, ``self.ci`` or ``ports.ci``: the one name the code gives its CI client (the CISource port)."""
    return (isinstance(node, ast.Name) and node.id == "ci") or (isinstance(node, ast.Attribute) and node.attr == "ci")


def ci_actions_used() -> set[str]:
    methods = client_methods()
    used = set()
    for path in PACKAGE.rglob("*.py"):
        if path.is_relative_to(PACKAGE / "ci"):
            continue  # the client's own definitions and internal calls are not uses
        for call in calls(path):
            func = call.func
            if isinstance(func, ast.Attribute) and _is_ci(func.value):
                assert func.attr in methods, f"{path.name} calls ci.{func.attr}, which the CI client does not have"
                used.add(func.attr)
    return {action for method in used for action in CI_ACTIONS[method]}


def cos_actions_used() -> set[str]:
    found = set()
    for call in calls(PACKAGE / "store" / "s3.py"):
        func = call.func
        if isinstance(func, ast.Attribute) and func.attr == "_call":  # self._call("put_object", ...): a client call
            name = call.args[0]
            assert isinstance(name, ast.Constant) and name.value in BOTO3_ACTIONS, ast.dump(name)
            found.add(BOTO3_ACTIONS[name.value])
            continue
        if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Attribute)):
            continue
        if func.value.attr not in ("client", "_client"):
            continue
        if func.attr == "get_paginator":
            arg = call.args[0]
            assert isinstance(arg, ast.Constant)
            found.add(BOTO3_ACTIONS[arg.value])
        else:
            assert func.attr in BOTO3_ACTIONS, f"S3 store calls {func.attr}: add its COS action here and to the policy"
            found.add(BOTO3_ACTIONS[func.attr])
    return found


def scf_actions_used() -> set[str]:
    return {SCF_ACTIONS[n] for n in attribute_names(PACKAGE / "notify" / "chain.py") if n in SCF_ACTIONS}


def policy_actions(name: str = "cam-policy.json") -> set[str]:
    policy = json.loads((ROOT / "deploy" / name).read_text())
    return {a for statement in policy["statement"] for a in statement["action"]}


# What acting on failures needs (JOBWATCH_CANCEL_WHEN_FAILING, JOBWATCH_RETRY): a policy of its own, off by default.
ACTING = {"ci:CancelInventoryTriggerJob", "ci:CreateInventoryTriggerJob"}


def readme_actions() -> dict[str, str]:
    """The README's CAM table: action → where its name is documented."""
    text = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\s*\| `((?:ci|cos|scf):[A-Za-z]+)` \|[^|]+\|([^|]*)\|\s*$", text, re.MULTILINE)
    return {action: source.strip() for action, source in rows}


def test_policy_actions_are_documented_names() -> None:
    """Every action the policy grants is a name the README's CAM table documents, with the page it comes from."""
    documented = readme_actions()
    granted = policy_actions() | policy_actions("cam-policy-act.json")
    assert granted <= set(documented), granted - set(documented)
    assert all(documented[a] for a in granted)


def test_every_client_method_has_a_known_action() -> None:
    """Every public CI client method is in the table, so a new one cannot slip past this check."""
    assert client_methods() <= set(CI_ACTIONS)


def test_policy_is_exactly_what_the_code_calls() -> None:
    """The two policies' actions equal the set derived from the code's calls: nothing missing, nothing extra; the
    acting ones (cancel, create) are in the acting policy only."""
    derived = ci_actions_used() | cos_actions_used() | scf_actions_used()
    assert "ci:DescribeInventoryTriggerJobs" in derived and "cos:PutObject" in derived  # the derivation sees calls
    base, acting = policy_actions(), policy_actions("cam-policy-act.json")
    assert base == derived - ACTING, {"missing": derived - ACTING - base, "extra": base - derived}
    ci_acting = {a for a in acting if a.startswith("ci:")}
    assert ci_acting == derived & ACTING, {"missing": derived & ACTING - ci_acting, "extra": ci_acting - derived}
    assert acting <= derived  # and the retry lists' PutObject, on jobwatch/retries/* of the watched bucket only


def test_deployed_function_neither_creates_nor_cancels() -> None:
    """The function only reads CI: creating and cancelling batch jobs are not granted."""
    assert not {"ci:CreateInventoryTriggerJob", "ci:CancelInventoryTriggerJob"} & policy_actions()


def test_resources_are_scoped() -> None:
    """No wildcard resource; object actions stay under the store prefix, listing is conditioned on it."""
    policy = json.loads((ROOT / "deploy" / "cam-policy.json").read_text())
    resources = [r for s in policy["statement"] for r in s["resource"]]
    assert all(r != "*" and "${" in r for r in resources)
    objects = next(s for s in policy["statement"] if "cos:PutObject" in s["action"])
    assert all(r.endswith("${StorePrefix}/*") for r in objects["resource"])
    listing = next(s for s in policy["statement"] if "cos:GetBucket" in s["action"])
    assert listing["condition"]["string_like"]["cos:prefix"] == "${StorePrefix}/*"
