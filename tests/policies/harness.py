"""Run winfleet rules the way the pack process runs them, without the process.

Properties take the servicer's path: ``Struct`` round trip (numbers become floats) → ``json_format.MessageToDict``
→ the pack's secret marking → ``pulumi_policy.deserialize.deserialize_properties`` → ``unknown_checking_proxy``.
Config is passed explicitly (the CLI, not the SDK, applies schema defaults), so the rules' fallbacks are exercised.
"""
from __future__ import annotations

import asyncio
import sys
from inspect import isawaitable
from pathlib import Path

from google.protobuf import json_format, struct_pb2

ROOT = Path(__file__).resolve().parents[2]
PACK_DIR = ROOT / "policies"
if str(PACK_DIR) not in sys.path:
    sys.path.insert(0, str(PACK_DIR))

from pulumi_policy import (PolicyCustomTimeouts, PolicyResource, PolicyResourceOptions,  # noqa: E402
                           ResourceValidationArgs, StackValidationArgs)
from pulumi_policy.deserialize import deserialize_properties  # noqa: E402
from pulumi_policy.policy import _NotApplicableError  # noqa: E402
from pulumi_policy.proxy import unknown_checking_proxy  # noqa: E402

import winfleet_policies  # noqa: E402
from winfleet_policies import secrets as pack_secrets  # noqa: E402

POLICIES = {p.name: p for p in winfleet_policies.all_policies()}


def to_struct(props: dict) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(props)
    return s


def engine_props(props: dict):
    """Wire-form props → what a validate function receives inside the pack process."""
    as_dict = json_format.MessageToDict(to_struct(props))
    return unknown_checking_proxy(deserialize_properties(pack_secrets.mark_secrets(as_dict)))


def _opts():
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)


def urn(typ: str, name: str) -> str:
    return f"urn:pulumi:test::winfleet::{typ}::{name}"


class Result:
    def __init__(self):
        self.messages: list[str] = []
        self.urns: list = []
        self.not_applicable = None

    def report(self, message, urn=None):
        self.messages.append(message)
        self.urns.append(urn)

    def __bool__(self):  # truthy when something was reported
        return bool(self.messages)

    def has(self, *fragments) -> bool:
        return any(all(f in m for f in fragments) for m in self.messages)


def _run(fn):
    out = fn()
    if isawaitable(out):
        asyncio.new_event_loop().run_until_complete(out)


def run_resource(policy_name: str, resource, config=None) -> Result:
    typ, name, props = resource
    policy = POLICIES[policy_name]
    args = ResourceValidationArgs(typ, engine_props(props), urn(typ, name), name, _opts(), None, config)
    res = Result()
    try:
        _run(lambda: policy.validate(args, res.report))
    except _NotApplicableError as e:
        res.not_applicable = e.reason or "not applicable"
    return res


def policy_resources(resources) -> list:
    """``(type, name, props[, [dependency names]])`` → PolicyResources wired like the servicer wires them."""
    prs, by_name = [], {}
    for r in resources:
        t, n, p = r[:3]
        pr = PolicyResource(t, engine_props(p), urn(t, n), n, _opts(), None, None, [], {})
        prs.append(pr)
        by_name[n] = pr
    for r, pr in zip(resources, prs):
        for dep in (r[3] if len(r) > 3 else []):
            pr.dependencies.append(by_name[dep])
    return prs


def run_stack(policy_name: str, resources, config=None) -> Result:
    policy = POLICIES[policy_name]
    prs = policy_resources(resources)
    args = StackValidationArgs(prs, config)
    res = Result()
    try:
        _run(lambda: policy.validate(args, res.report))
    except _NotApplicableError as e:
        res.not_applicable = e.reason or "not applicable"
    return res


def run_all(resources, config=None) -> dict:
    """{policy name: Result} for every policy over a stack (resource policies per resource)."""
    from pulumi_policy import ResourceValidationPolicy
    out = {}
    for name, policy in POLICIES.items():
        if isinstance(policy, ResourceValidationPolicy):
            agg = Result()
            for r in resources:
                one = run_resource(name, r[:3], (config or {}).get(name))
                agg.messages += one.messages
                agg.urns += one.urns
            out[name] = agg
        else:
            out[name] = run_stack(name, resources, (config or {}).get(name))
    return out
