"""The real pack process (`python -u -m pulumi.policy <engine> .`, cwd = policies/, no PYTHONPATH) over gRPC:
metadata, every policy's pass and fail verdicts through Analyze/AnalyzeStack, config overrides, enforcement
levels, secrets and unknowns as the engine sends them."""
from __future__ import annotations

import pytest

from tools.offline_gate import GateError, Resource, analyze, reconcile_config
from tests.policies import stacks as s

MANDATORY_BY_DEFAULT = {
    "lb-probe-is-readiness", "service-readiness-endpoint", "graceful-shutdown-budget", "service-stop-contract",
    "eventlog-minimum-sizes",
    "eventlog-retention", "service-logging", "service-account-quota-bindable", "service-log-quota",
    "service-crash-recovery", "crash-dumps-gotraceback", "baseline-never-disable", "baseline-keeps-dependencies",
    "winrm-https-only", "nsg-no-internet-management", "winrm-validates-certificates", "passwords-are-secrets",
    "vm-managed-disks", "service-port-firewall",
}


def _urn(typ, name):
    return f"urn:pulumi:test::winfleet::winfleet:index:Fleet${typ}::{name}"


def resources(stack) -> list:
    urns = {r[1]: _urn(r[0], r[1]) for r in stack}
    out = []
    for r in stack:
        typ, name, props = r[:3]
        deps = [urns[d] for d in (r[3] if len(r) > 3 else [])]
        out.append(Resource(urn=urns[name], type=typ, name=name, inputs=props, outputs=props, dependencies=deps))
    return out


def run(pack, stack, config=None):
    info, diags = analyze(resources(stack), pack, config or {})
    return info, diags


def test_process_started_like_the_cli(pack):
    assert pack.argv[1:4] == ["-u", "-m", "pulumi.policy"] and pack.argv[-1] == "."
    assert pack.proc.poll() is None
    assert pack.handshake() is False  # the Python SDK does not implement Handshake; the CLI falls back too


def test_analyzer_info(pack):
    info = pack.info()
    assert info["name"] == "winfleet" and info["version"] == "0.1.0" and info["supportsConfig"]
    by_name = {p["name"]: p for p in info["policies"]}
    assert set(s.VIOLATIONS) == set(by_name)
    for name, p in by_name.items():
        expected = "mandatory" if name in MANDATORY_BY_DEFAULT else "advisory"
        assert p["enforcementLevel"] == expected, name
        assert p["severity"] in ("low", "medium", "high", "critical") and p["remediationSteps"], name
        for key, schema in p["configSchema"]["properties"].items():
            assert "default" in schema, (name, key)
    assert by_name["service-log-quota"]["type"] == "stack" and by_name["vm-managed-disks"]["type"] == "resource"
    assert by_name["eventlog-minimum-sizes"]["configSchema"]["properties"]["minimumSizesKb"]["default"] == {
        "Application": 32768, "System": 32768, "Setup": 32768, "Security": 196608}


def test_compliant_stack_has_no_diagnostics(pack):
    _, diags = run(pack, s.good_stack())
    assert diags == []


@pytest.mark.parametrize("policy", sorted(s.VIOLATIONS))
def test_each_policy_fails_its_bad_stack_over_grpc(pack, policy):
    info, diags = run(pack, s.VIOLATIONS[policy]())
    mine = [d for d in diags if d["policy"] == policy]
    assert mine, (policy, diags)
    level = {p["name"]: p["enforcementLevel"] for p in info["policies"]}[policy]
    assert {d["level"] for d in mine} == {level}
    assert all(d["urn"].startswith("urn:pulumi:") and d["pack"] == "winfleet" for d in mine)
    assert all(d["message"].startswith(d["description"]) for d in mine)


def test_enforcement_level_overrides_and_disabled(pack):
    bad = s.VIOLATIONS["lb-probe-is-readiness"]()
    _, diags = run(pack, bad, {"lb-probe-is-readiness": "advisory", "service-readiness-endpoint": "disabled"})
    assert {d["level"] for d in diags if d["policy"] == "lb-probe-is-readiness"} == {"advisory"}
    assert not [d for d in diags if d["policy"] == "service-readiness-endpoint"]
    _, diags = run(pack, s.VIOLATIONS["vm-boot-diagnostics"](), {"all": "mandatory"})
    assert {d["level"] for d in diags if d["policy"] == "vm-boot-diagnostics"} == {"mandatory"}
    _, diags = run(pack, s.VIOLATIONS["vm-boot-diagnostics"]())
    assert {d["level"] for d in diags if d["policy"] == "vm-boot-diagnostics"} == {"advisory"}


def test_remediate_level_reports_as_mandatory(pack):
    _, diags = run(pack, s.VIOLATIONS["vm-managed-disks"](), {"vm-managed-disks": "remediate"})
    assert {d["level"] for d in diags if d["policy"] == "vm-managed-disks"} == {"mandatory"}


def test_config_properties_reach_the_rules(pack):
    slow = s.replace(s.good_stack(), s.LB, s.lb(interval=30, threshold=2))
    # 30 s x 2 + 10 s drain = 70 s > 30 s pre-shutdown: the stack policy sees the same probe
    _, diags = run(pack, slow)
    assert {d["policy"] for d in diags} == {"lb-probe-is-readiness", "graceful-shutdown-budget"}
    _, diags = run(pack, slow, {"lb-probe-is-readiness": {"enforcementLevel": "mandatory", "maxIntervalSeconds": 30},
                                "graceful-shutdown-budget": {"drainSeconds": 0, "enforcementLevel": "advisory"}})
    assert [d["policy"] for d in diags] == ["graceful-shutdown-budget"]
    assert diags[0]["level"] == "advisory" and "at least 60" in diags[0]["message"]


def test_schema_defaults_applied_like_the_cli(pack):
    info = pack.info()
    reconciled = reconcile_config(info, {"eventlog-retention": {"allowedRetention": ["circular"]}})
    assert reconciled["eventlog-retention"]["properties"] == {"allowedRetention": ["circular"]}
    assert reconciled["service-log-quota"]["properties"]["minHeadroom"] == 1.1
    assert reconciled["vm-boot-diagnostics"]["enforcementLevel"] == "advisory"
    _, diags = run(pack, s.good_stack(), {"eventlog-retention": {"allowedRetention": ["circular"]}})
    assert [d["policy"] for d in diags] == ["eventlog-retention"] and "Security" in diags[0]["message"]


@pytest.mark.parametrize("bad, fragment", [
    ({"no-such-policy": "mandatory"}, "no such policy"),
    ({"all": "fatal"}, "invalid enforcement level"),
    ({"service-log-quota": {"minHeadroom": 0.5}}, "minHeadroom: must be >= 1"),
    ({"lb-probe-is-readiness": {"maxIntervalSeconds": "slow"}}, "is not of type integer"),
])
def test_invalid_policy_config_is_rejected(pack, bad, fragment):
    with pytest.raises(GateError) as e:
        reconcile_config(pack.info(), bad)
    assert "validating policy config" in str(e.value) and fragment in str(e.value)


def test_secrets_as_the_engine_sends_them(pack):
    # plaintext password → violation; the same value as a secret signature object → no violation
    _, diags = run(pack, s.VIOLATIONS["passwords-are-secrets"]())
    assert [d["policy"] for d in diags] == ["passwords-are-secrets"]
    assert "adminPassword is not a Pulumi secret" in diags[0]["message"]
    # other policies still read values inside a secret (connection is secret as a whole)
    _, diags = run(pack, s.replace(s.good_stack(), s.SVC, s._no_cert_service()))
    assert [d["policy"] for d in diags] == ["winrm-validates-certificates"]


def test_unknown_values_at_preview_do_not_produce_verdicts(pack):
    typ, name, props = s.lb()
    props["probes"] = s.UNKNOWN_STRING.replace("04da6b54-80e4-46f7-96ec-b56ff0331ba9",
                                               "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2")
    svc = s.service(preshutdownTimeoutSeconds=s.UNKNOWN_NUMBER, readinessPath=s.UNKNOWN_STRING)
    q = s.quota(limit=s.UNKNOWN_NUMBER)
    stack = s.replace(s.replace(s.replace(s.good_stack(), s.LB, (typ, name, props)), s.SVC, svc), s.QUOTA, q)
    _, diags = run(pack, stack)
    assert diags == []


def test_internal_keys_are_not_sent(pack):
    typ, name, props = s.service()
    props["__provider"] = {s.SIG: s.SECRET_SIG, "value": "gAWVbase64dill"}
    _, diags = run(pack, s.replace(s.good_stack(), s.SVC, (typ, name, props)))
    assert diags == []


def test_pack_is_self_contained(pack):
    # the pack process got no PYTHONPATH and cwd=policies/: it imported only its own modules
    assert "ModuleNotFoundError" not in pack.stderr and "Traceback" not in pack.stderr


def test_preview_connections_unknown_hosts_correlated_by_dependencies(pack):
    stack = s.preview_stack()
    _, diags = run(pack, stack)
    assert diags == []
    bad = [r if r[1] != "web-1-quota-api" else (r[0], r[1], dict(r[2], limitBytes=100 * 2**20), r[3]) for r in stack]
    _, diags = run(pack, bad)
    assert [(d["policy"], d["name"]) for d in diags] == [("service-log-quota", "web-1-quota-api")]
