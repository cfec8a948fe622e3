"""The execution role's CAM policy for a given set of watched buckets (``make policy BUCKETS=...``).

``deploy/cam-policy.json`` is the template (its actions are what the code calls: ``tests/unit/test_cam_policy.py``);
this fills it in: the CI reads on each listed bucket alone, or, for ``discover:<regions>``, on every bucket of those
regions plus ``ci:DescribeMediaBuckets``; object access under the store prefix; ``scf:InvokeFunction`` on the
function itself (its fan-out) and on a chained function when one is named. Nothing is sent anywhere: it prints JSON.

    python -m devkit.policy --buckets "media-1250000000@ap-guangzhou,clips-1250000000@ap-shanghai" \\
        --store s3://jobwatch-store-1250000000/jobwatch --store-region ap-guangzhou --uin 100000000001 \\
        --function default/jobwatch
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import Any

from jobwatch.targets import parse_list

TEMPLATE = Path(__file__).resolve().parents[1] / "deploy" / "cam-policy.json"
ACTING = TEMPLATE.with_name("cam-policy-act.json")  # cancel when failing, retry failed objects
DISCOVER_ACTION = "ci:DescribeMediaBuckets"


def appid_of(bucket: str) -> str:
    return bucket.rsplit("-", 1)[1]


def build(buckets: str, store: str, store_region: str, uin: str, function: str, chain: str | None = None,
          appid: str | None = None, act: bool = False) -> dict[str, Any]:  # fmt: skip
    """The filled-in policy (with ``act``, also what cancelling and retrying need); ``ValueError`` naming what is
    wrong."""
    targets, regions = parse_list(buckets)
    if regions and not appid:
        raise ValueError("discover: needs --appid (the account's APPID, e.g. 1250000000)")
    if not store.startswith("s3://") or "/" not in store[len("s3://") :]:
        raise ValueError("--store must be s3://<bucket>/<prefix>")
    store_bucket, prefix = store[len("s3://") :].split("/", 1)
    prefix = prefix.strip("/")
    policy = copy.deepcopy(json.loads(TEMPLATE.read_text()))
    statements: list[dict[str, Any]] = []
    for statement in policy["statement"]:
        actions = statement["action"]
        if any(a.startswith("ci:") for a in actions):
            if regions:
                statement["resource"] = [f"qcs::ci:{r}:uid/{appid}:bucket/*" for r in regions]
                statements.append(statement)
                statements.append({"effect": "allow", "action": [DISCOVER_ACTION],
                                   "resource": [f"qcs::ci:{r}:uid/{appid}:*" for r in regions]})  # fmt: skip
            else:
                statement["resource"] = [f"qcs::ci:{t.region}:uid/{appid_of(t.bucket)}:bucket/{t.bucket}/*"
                                         for t in targets]  # fmt: skip
                statements.append(statement)
            continue
        if any(a.startswith("cos:") for a in actions):
            text = json.dumps(statement)
            for name, value in (("${Region}", store_region), ("${AppId}", appid_of(store_bucket)),
                                ("${StoreBucket}", store_bucket), ("${StorePrefix}", prefix)):  # fmt: skip
                text = text.replace(name, value)
            statements.append(json.loads(text))
            continue
        namespace, _, name = function.rpartition("/")
        invoked = [f"qcs::scf:{store_region}:uin/{uin}:namespace/{namespace or 'default'}/function/{name}"]
        if chain:
            chain_namespace, _, chain_name = chain.rpartition("/")
            invoked.append(f"qcs::scf:{store_region}:uin/{uin}:namespace/{chain_namespace or 'default'}"
                           f"/function/{chain_name}")  # fmt: skip
        statements.append({**statement, "resource": invoked})
    if act:
        statements += _acting(targets, regions, appid)
    policy["statement"] = statements
    return policy


def _acting(targets: list[Any] | tuple[Any, ...], regions: tuple[str, ...], appid: str | None) -> list[dict[str, Any]]:
    """``deploy/cam-policy-act.json`` filled in: the CI actions on the watched buckets, the retry lists' PutObject
    under ``jobwatch/retries/`` of each."""
    places = [(t.region, appid_of(t.bucket), t.bucket) for t in targets] or [(r, appid, "*") for r in regions]
    found = []
    for statement in json.loads(ACTING.read_text())["statement"]:
        if any(a.startswith("ci:") for a in statement["action"]):
            resources = [f"qcs::ci:{r}:uid/{a}:bucket/{b}/*" for r, a, b in places]
        else:
            resources = [f"qcs::cos:{r}:uid/{a}:{b}/jobwatch/retries/*" for r, a, b in places]
        found.append({**statement, "resource": resources})
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devkit.policy", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--buckets", required=True, help="as JOBWATCH_CI_BUCKETS: bucket@region,… or discover:<regions>"
    )
    parser.add_argument("--store", required=True, help="as JOBWATCH_STORE: s3://<bucket>/<prefix>")
    parser.add_argument("--store-region", required=True, help="the store bucket's (and the function's) region")
    parser.add_argument("--uin", default="${Uin}", help="the account's UIN (for the SCF resource)")
    parser.add_argument("--function", default="default/jobwatch", help="namespace/name of this function")
    parser.add_argument("--chain", help="namespace/name of JOBWATCH_CHAIN_FUNCTION, if any")
    parser.add_argument("--appid", help="the account's APPID (needed with discover:)")
    parser.add_argument(
        "--act", action="store_true", help="also what JOBWATCH_CANCEL_WHEN_FAILING and JOBWATCH_RETRY need"
    )
    args = parser.parse_args(argv)
    try:
        policy = build(args.buckets, args.store, args.store_region, args.uin, args.function, args.chain, args.appid,
                       args.act)  # fmt: skip
    except ValueError as exc:
        print(f"policy: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(policy, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
