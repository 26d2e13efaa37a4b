"""Every winfleet policy through its rule function: a compliant stack passes, each violation is caught,
config overrides change the verdict, and unknown-at-preview values never produce a false verdict.

Props take the pack process's path (Struct round trip → floats, secret marking, unknown-checking proxy):
see harness.py.
"""
from __future__ import annotations

import copy

import pytest

from tests.policies import harness as h
from tests.policies import stacks as s
from tests.policies.stacks import MIB, UNKNOWN_NUMBER, UNKNOWN_STRING

GOOD = s.good_stack()


def svc(**over):
    return s.service(**over)


def with_(resource, typ=None):
    return s.replace(GOOD, typ or resource[0], resource)


# ------------------------------------------------------------------ the compliant stack


@pytest.mark.parametrize("policy", sorted(h.POLICIES))
def test_compliant_stack_passes_every_policy(policy):
    res = h.run_all(GOOD)[policy]
    assert res.messages == []
    assert res.not_applicable is None


def test_pack_has_the_issue_policies_with_metadata():
    wanted = {"lb-probe-is-readiness", "service-readiness-endpoint", "graceful-shutdown-budget",
              "eventlog-minimum-sizes", "eventlog-retention", "service-logging", "service-account-quota-bindable",
              "service-log-quota", "service-crash-recovery", "crash-dumps-gotraceback", "baseline-never-disable",
              "baseline-keeps-dependencies", "winrm-https-only", "nsg-no-internet-management",
              "winrm-validates-certificates", "passwords-are-secrets", "vm-boot-diagnostics", "vm-managed-disks"}
    assert wanted <= set(h.POLICIES)
    for p in h.POLICIES.values():
        assert p.description and p.severity is not None and p.enforcement_level is not None
        assert p.remediation_steps and len(p.remediation_steps) > 20
        if p.config_schema is not None:
            for key, schema in p.config_schema.properties.items():
                assert "default" in schema, (p.name, key)


# ------------------------------------------------------------------ readiness


def test_lb_tcp_probe_is_not_readiness():
    res = h.run_resource("lb-probe-is-readiness", s.lb(probe_protocol="Tcp"))
    assert res.has("TCP probe")


def test_lb_probe_without_path_and_wrong_port():
    typ, name, props = s.lb(probe_port=9090)
    del props["probes"][0]["requestPath"]
    res = h.run_resource("lb-probe-is-readiness", (typ, name, props))
    assert res.has("no requestPath") and res.has("checks port 9090", "backend port 8080")


def test_lb_rule_without_probe_or_with_dangling_probe():
    typ, name, props = s.lb()
    props["loadBalancingRules"].append({"name": "raw", "protocol": "Tcp", "frontendPort": 80, "backendPort": 80})
    props["loadBalancingRules"].append({"name": "ghost", "protocol": "Tcp", "frontendPort": 81, "backendPort": 81,
                                        "probe": {"id": s.LB_ID + "/probes/nope"}})
    res = h.run_resource("lb-probe-is-readiness", (typ, name, props))
    assert res.has("loadBalancingRules[raw] has no probe") and res.has("references probe 'nope'")


def test_lb_probe_interval_and_threshold_bounds_and_config_override():
    slow = s.lb(interval=60, threshold=10)
    res = h.run_resource("lb-probe-is-readiness", slow)
    assert res.has("intervalInSeconds=60") and res.has("threshold=10")
    relaxed = h.run_resource("lb-probe-is-readiness", slow, {"maxIntervalSeconds": 60, "maxThreshold": 10})
    assert relaxed.messages == []


def test_lb_unknown_probe_values_are_tolerated():
    typ, name, props = s.lb()
    props["probes"][0]["intervalInSeconds"] = UNKNOWN_NUMBER
    props["loadBalancingRules"][0]["probe"] = {"id": UNKNOWN_STRING}
    assert h.run_resource("lb-probe-is-readiness", (typ, name, props)).messages == []


def test_readiness_equal_to_health_path():
    res = h.run_stack("service-readiness-endpoint", with_(svc(readinessPath="/healthz")))
    assert res.has("readinessPath and healthPath are both '/healthz'")


def test_readiness_missing_path_and_tcp_probe_through_stack():
    stack = s.replace(with_(svc(readinessPath=None)), s.LB, s.lb(probe_protocol="Tcp"))
    res = h.run_stack("service-readiness-endpoint", stack)
    assert res.has("declares no readinessPath") and res.has("a TCP probe is not readiness")


def test_readiness_probe_path_and_port_must_match_service():
    stack = with_(s.lb(path="/ready", probe_port=8081))
    res = h.run_stack("service-readiness-endpoint", stack)
    assert res.has("asks '/ready'", "'/readyz'") and res.has("checks port 8081", "service port 8080")


def test_readiness_nsg_must_admit_azure_load_balancer():
    typ, name, props = s.nsg()
    props["securityRules"] = [r for r in props["securityRules"] if r["name"] != "allow-lb-probe"]
    res = h.run_stack("service-readiness-endpoint", with_((typ, name, props)))
    # the Internet allow at 110 also matches the LB source first; drop it too: the deny-all then wins
    props["securityRules"] = [r for r in props["securityRules"] if r["name"] != "allow-https"]
    res = h.run_stack("service-readiness-endpoint", with_((typ, name, props)))
    assert res.has("NSG 'nsg' rule 'deny-all' denies AzureLoadBalancer on port 8080")


def test_readiness_nsg_without_explicit_rule_follows_config():
    bare = (s.NSG, "nsg", {"networkSecurityGroupName": "nsg", "securityRules": []})
    strict = h.run_stack("service-readiness-endpoint", with_(bare))
    assert strict.has("has no inbound rule admitting AzureLoadBalancer on port 8080")
    lenient = h.run_stack("service-readiness-endpoint", with_(bare), {"requireExplicitLoadBalancerRule": False})
    assert lenient.messages == []


def test_readiness_standalone_security_rule_admits_lb():
    bare = (s.NSG, "nsg", {"networkSecurityGroupName": "nsg"})
    rule = (s.RULE, "lb-probe", {"networkSecurityGroupName": "nsg", "priority": 100, "direction": "Inbound",
                                 "access": "Allow", "protocol": "Tcp", "sourceAddressPrefix": "AzureLoadBalancer",
                                 "destinationPortRanges": ["8000-8100"]})
    assert h.run_stack("service-readiness-endpoint", with_(bare) + [rule]).messages == []


def test_readiness_not_behind_lb_only_checks_paths():
    stack = [r for r in GOOD if r[0] not in (s.LB, s.NSG)]
    assert h.run_stack("service-readiness-endpoint", stack).messages == []
    stack = [r for r in with_(svc(readinessPath="/healthz")) if r[0] not in (s.LB, s.NSG)]
    assert h.run_stack("service-readiness-endpoint", stack).has("both '/healthz'")


# ------------------------------------------------------------------ shutdown


def test_preshutdown_shorter_than_detection_plus_drain():
    res = h.run_stack("graceful-shutdown-budget", with_(svc(preshutdownTimeoutSeconds=15)))
    # 5 s x 2 + 15 s default drain = 25 s
    assert res.has("preshutdownTimeoutSeconds=15", "at least 25")


def test_preshutdown_missing_uses_windows_default_and_config_drain():
    props = s.service()[2]
    del props["preshutdownTimeoutSeconds"]
    res = h.run_stack("graceful-shutdown-budget", with_((s.SVC, "web-0-api", props)))
    assert res.has("Windows default 10s")
    ok = h.run_stack("graceful-shutdown-budget", with_(svc(preshutdownTimeoutSeconds=30)), {"drainSeconds": 20})
    assert ok.messages == []
    tight = h.run_stack("graceful-shutdown-budget", with_(svc(preshutdownTimeoutSeconds=30)), {"drainSeconds": 21})
    assert tight.has("at least 31")


def test_preshutdown_unknown_is_tolerated():
    assert h.run_stack("graceful-shutdown-budget", with_(svc(preshutdownTimeoutSeconds=UNKNOWN_NUMBER))).messages == []


# ------------------------------------------------------------------ logs


def test_eventlog_sizes_below_baseline_and_missing_log():
    typ, name, props = s.eventlogs(Application=20480, Security=131072)
    props["logs"] = [l for l in props["logs"] if l["name"] != "Setup"]
    res = h.run_resource("eventlog-minimum-sizes", (typ, name, props))
    assert res.has("Application: maxSizeKb=20480", "32768") and res.has("Security: maxSizeKb=131072", "196608")
    assert res.has("event log Setup is not sized")


def test_eventlog_sizes_config_override_and_validity():
    res = h.run_resource("eventlog-minimum-sizes", s.eventlogs(System=300000),
                         {"minimumSizesKb": {"System": 400000}, "requireAllLogs": False})
    assert res.has("System: maxSizeKb=300000", "400000") and res.has("not a valid size")
    assert len(res.messages) == 2


def test_eventlog_retain_is_rejected_unless_allowed():
    typ, name, props = s.eventlogs()
    props["logs"][0]["retention"] = "retain"
    assert h.run_resource("eventlog-retention", (typ, name, props)).has("Application", "'retain'")
    assert h.run_resource("eventlog-retention", (typ, name, props),
                          {"allowedRetention": ["circular", "autoBackup", "retain"]}).messages == []


def test_service_logging_requires_event_source_and_data_volume():
    res = h.run_resource("service-logging", svc(eventSource=None, logs={"directory": "C:\\logs\\api",
                                                                          "maxSizeBytes": 0, "maxFiles": 5}))
    assert res.has("no event source") and res.has("is on C:") and res.has("logs.maxSizeBytes must be a positive")
    rel = h.run_resource("service-logging", svc(logs={"directory": "logs", "maxSizeBytes": 1, "maxFiles": 1}))
    assert rel.has("not an absolute path")
    d_forbidden = h.run_resource("service-logging", svc(), {"forbiddenLogDrives": ["C", "D"]})
    assert d_forbidden.has("is on D:")


def test_account_must_be_quota_bindable():
    for account in ("LocalSystem", "NT AUTHORITY\\SYSTEM", ".\\Administrator", "BUILTIN\\Administrators"):
        assert h.run_resource("service-account-quota-bindable", svc(account=account)).has("exempt from NTFS quotas")
    assert h.run_resource("service-account-quota-bindable", svc(account=None)).has("runs as LocalSystem")
    assert h.run_resource("service-account-quota-bindable", s.quota(account="LocalSystem")).has("exempt")
    assert h.run_resource("service-account-quota-bindable", svc(account="NT SERVICE\\api")).messages == []


def test_quota_below_log_budget():
    res = h.run_stack("service-log-quota", with_(s.quota(limit=300 * MIB)))
    assert res.has("limitBytes=314572800", "log budget")
    assert res.urns[0].endswith("web-0-quota-api")


def test_quota_budget_counts_dumps_and_headroom_config():
    budget = s.LOG_BUDGET + s.DUMP_BUDGET
    exact = with_(s.quota(limit=budget))
    assert h.run_stack("service-log-quota", exact).has("x 1.1 headroom")
    assert h.run_stack("service-log-quota", exact, {"minHeadroom": 1.0}).messages == []
    # without the CrashDumps resource the dumps are not part of the budget
    no_dumps = [r for r in with_(s.quota(limit=int(s.LOG_BUDGET * 1.2), budget=s.LOG_BUDGET)) if r[0] != s.DUMPS]
    assert h.run_stack("service-log-quota", no_dumps).messages == []


def test_quota_missing_wrong_account_or_wrong_volume():
    assert h.run_stack("service-log-quota", with_(s.quota(account="NT SERVICE\\other"))).has("no NtfsQuota")
    assert h.run_stack("service-log-quota", with_(s.quota(volume="E:"))).has("logs to D: but its quota is on E:")
    other_host = with_(s.quota(host="web-1"))
    assert h.run_stack("service-log-quota", other_host).has("no NtfsQuota")


def test_quota_unknown_limit_is_tolerated():
    assert h.run_stack("service-log-quota", with_(s.quota(limit=UNKNOWN_NUMBER))).messages == []


# ------------------------------------------------------------------ crash


def test_crash_recovery_missing_and_non_crash_flag():
    assert h.run_resource("service-crash-recovery", svc(recovery={"actions": []})).has("no recovery actions")
    res = h.run_resource("service-crash-recovery", svc(recovery={
        "actions": [{"action": "none", "delaySeconds": 0}], "resetPeriodSeconds": 0, "failureActionsOnNonCrash": False}))
    assert res.has("never restart") and res.has("failureActionsOnNonCrash is not true") and res.has("resetPeriod")


def test_crash_recovery_delay_config():
    slow = svc(recovery={"actions": [{"action": "restart", "delaySeconds": 120}], "resetPeriodSeconds": 60,
                         "failureActionsOnNonCrash": True})
    assert h.run_resource("service-crash-recovery", slow).has("waits 120s")
    assert h.run_resource("service-crash-recovery", slow, {"maxFirstRestartDelaySeconds": 300}).messages == []


def test_dumps_need_gotraceback_wer():
    res = h.run_stack("crash-dumps-gotraceback", with_(svc(environment={"GOTRACEBACK": "all"})))
    assert res.has("GOTRACEBACK='all'")
    res = h.run_stack("crash-dumps-gotraceback", with_(svc(environment={})))
    assert res.has("GOTRACEBACK=None")
    lower = h.run_stack("crash-dumps-gotraceback", with_(svc(environment={"gotraceback": "WER"})))
    assert lower.messages == []
    no_dumps = [r for r in with_(svc(environment={})) if r[0] != s.DUMPS]
    assert h.run_stack("crash-dumps-gotraceback", no_dumps).messages == []


def test_dumps_for_unknown_executable():
    res = h.run_stack("crash-dumps-gotraceback", with_(s.dumps(exe="worker.exe", account="NT SERVICE\\worker")))
    assert res.has("no service on that host runs this executable")


# ------------------------------------------------------------------ baseline


def test_baseline_never_disable_and_managed():
    res = h.run_resource("baseline-never-disable", s.baseline(services=["Spooler", "winrm", "W32Time", "api"]))
    assert res.has("winrm", "W32Time") and res.has("services winfleet manages: api")
    assert h.run_resource("baseline-never-disable", s.baseline(services=["Spooler"]),
                          {"extraNeverDisable": ["spooler"]}).has("Spooler")


def test_baseline_keeps_dependencies():
    res = h.run_stack("baseline-keeps-dependencies", with_(s.baseline(services=["Spooler", "Afd"])))
    assert res.has("disables Afd", "service 'api' depends")
    other = with_(s.baseline(host="web-1", services=["Afd"]))
    assert h.run_stack("baseline-keeps-dependencies", other).messages == []


# ------------------------------------------------------------------ security


def test_winrm_http_listener_rejected():
    typ, name, props = s.vm()
    props["osProfile"]["windowsConfiguration"]["winRM"]["listeners"] = [{"protocol": "Http"}]
    res = h.run_resource("winrm-https-only", (typ, name, props))
    assert res.has("protocol 'Http'") and res.has("no WinRM Https listener")
    props["osProfile"]["windowsConfiguration"]["winRM"]["listeners"] = [{"protocol": "Https"}]
    assert h.run_resource("winrm-https-only", (typ, name, props)).has("without certificateUrl")


@pytest.mark.parametrize("source", ["*", "Internet", "0.0.0.0/0", "::/0"])
@pytest.mark.parametrize("port", ["3389", "5985", "5986", "22", "5000-6000", "*"])
def test_nsg_management_ports_open_to_internet(source, port):
    bad = {"name": "oops", "priority": 200, "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
           "sourceAddressPrefix": source, "destinationPortRange": port}
    res = h.run_resource("nsg-no-internet-management", s.nsg([bad]))
    assert res.has("'oops'", repr(source))
    standalone = (s.RULE, "oops", dict(bad, networkSecurityGroupName="nsg"))
    assert h.run_resource("nsg-no-internet-management", standalone).has("'oops'")


def test_nsg_management_rules_that_pass():
    ok = [{"name": "deny-rdp", "priority": 200, "direction": "Inbound", "access": "Deny",
           "sourceAddressPrefix": "*", "destinationPortRange": "3389"},
          {"name": "out", "priority": 210, "direction": "Outbound", "access": "Allow",
           "sourceAddressPrefix": "*", "destinationPortRange": "5986"},
          {"name": "named", "priority": 220, "direction": "Inbound", "access": "Allow",
           "sourceAddressPrefixes": ["10.0.0.0/8"], "destinationPortRanges": ["22", "3389"]},
          {"name": "prefixes-unknown", "priority": 230, "direction": "Inbound", "access": "Allow",
           "sourceAddressPrefix": UNKNOWN_STRING, "destinationPortRange": "5986"}]
    assert h.run_resource("nsg-no-internet-management", s.nsg(ok)).messages == []
    # an organisation that also treats 8080 as management
    assert h.run_resource("nsg-no-internet-management", s.nsg(), {"managementPorts": [8080]}).has("8080")


def test_winrm_client_must_validate_certificates():
    typ, name, props = s.service()
    conn = copy.deepcopy(props["connection"]["value"])
    conn.update({"caPem": None, "certSha256": None})
    res = h.run_resource("winrm-validates-certificates", (typ, name, dict(props, connection=s.secret(conn))))
    assert res.has("neither caPem nor certSha256")
    conn.update({"certSha256": "nothex", "serverCertValidation": "ignore", "port": 5985})
    res = h.run_resource("winrm-validates-certificates", (typ, name, dict(props, connection=conn)))
    assert res.has("not a SHA-256") and res.has("serverCertValidation") and res.has("5985")
    conn = dict(s.connection()["value"], caPem="-----BEGIN CERTIFICATE-----\n...", certSha256=None)
    assert h.run_resource("winrm-validates-certificates", s.eventlogs()[:2] + ({"connection": conn, "logs": []},)
                          ).messages == []


def test_passwords_must_be_secrets():
    typ, name, props = s.vm()
    props["osProfile"]["adminPassword"] = "plaintext"
    assert h.run_resource("passwords-are-secrets", (typ, name, props)).has("osProfile.adminPassword is not")
    plain_conn = dict(s.connection()["value"])
    res = h.run_resource("passwords-are-secrets", svc(connection=plain_conn, accountPassword="pw"))
    assert res.has("accountPassword is not") and res.has("connection.password is not")
    ok = h.run_resource("passwords-are-secrets", svc(accountPassword=s.secret("pw")))
    assert ok.messages == []
    only_pw_secret = dict(plain_conn, password=s.secret("pw"))
    assert h.run_resource("passwords-are-secrets", s.quota()[:2] + ({"connection": only_pw_secret},)).messages == []


def test_boot_diagnostics_and_managed_disks():
    typ, name, props = s.vm()
    props["diagnosticsProfile"] = {"bootDiagnostics": {"enabled": False}}
    assert h.run_resource("vm-boot-diagnostics", (typ, name, props)).has("boot diagnostics are off")
    del props["diagnosticsProfile"]
    assert h.run_resource("vm-boot-diagnostics", (typ, name, props)).has("boot diagnostics are off")
    typ, name, props = s.vm()
    props["storageProfile"]["osDisk"] = {"createOption": "FromImage", "vhd": {"uri": "https://sa.blob/x.vhd"}}
    props["storageProfile"]["dataDisks"][0]["vhd"] = {"uri": "https://sa.blob/d.vhd"}
    res = h.run_resource("vm-managed-disks", (typ, name, props))
    assert res.has("osDisk uses an unmanaged VHD") and res.has("dataDisks[0]")


def test_unknown_vm_sections_are_tolerated():
    typ, name, props = s.vm()
    props["osProfile"] = {"adminPassword": UNKNOWN_STRING, "windowsConfiguration": UNKNOWN_STRING}
    props["diagnosticsProfile"] = {"bootDiagnostics": {"enabled": "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7"}}
    for policy in ("winrm-https-only", "passwords-are-secrets", "vm-boot-diagnostics", "vm-managed-disks"):
        assert h.run_resource(policy, (typ, name, props)).messages == [], policy


def test_policies_ignore_resources_of_other_types():
    other = ("random:index/randomPassword:RandomPassword", "pw", {"length": 24})
    for name in h.POLICIES:
        assert h.run_all([other])[name].messages == []


# ------------------------------------------------------------------ one broken thing per policy


@pytest.mark.parametrize("policy", sorted(s.VIOLATIONS))
def test_each_violation_is_caught_by_its_policy_only(policy):
    results = h.run_all(s.VIOLATIONS[policy]())
    assert results[policy].messages, policy
    others = {name for name, r in results.items() if r.messages and name != policy}
    # a single broken setting may legitimately trip a closely related policy; never an unrelated theme
    related = {
        "lb-probe-is-readiness": {"service-readiness-endpoint"},
        "service-logging": {"service-log-quota"},
        "service-account-quota-bindable": {"service-log-quota"},
        "winrm-validates-certificates": set(),
    }
    assert others <= related.get(policy, set()), (policy, others)


def test_every_policy_has_a_violation_fixture():
    assert set(s.VIOLATIONS) == set(h.POLICIES)


# ------------------------------------------------------------------ preview: connections unknown


def test_preview_stack_correlates_hosts_through_vm_dependencies():
    stack = s.preview_stack()
    assert all(r.messages == [] for r in h.run_all(stack).values())
    # a quota too small on web-1 only: reported for web-1's service, on web-1's quota
    bad = [r if r[1] != "web-1-quota-api" else (r[0], r[1], dict(r[2], limitBytes=100 * MIB), r[3]) for r in stack]
    res = h.run_stack("service-log-quota", bad)
    assert len(res.messages) == 1 and "on web-1" in res.messages[0] and res.urns[0].endswith("web-1-quota-api")
    # the baseline of web-0 disables what web-0's service depends on
    bad = [r if r[1] != "web-0-baseline" else (r[0], r[1], dict(r[2], services=["Afd"]), r[3]) for r in stack]
    res = h.run_stack("baseline-keeps-dependencies", bad)
    assert len(res.messages) == 1 and "on web-0" in res.messages[0]
    # GOTRACEBACK missing on web-1's service only
    bad = [r if r[1] != "web-1-api" else (r[0], r[1], dict(r[2], environment={}), r[3]) for r in stack]
    assert len(h.run_stack("crash-dumps-gotraceback", bad).messages) == 1


def test_preview_stack_without_dependencies_skips_host_correlation():
    stack = [r[:3] for r in s.preview_stack()]
    bad = [r if r[1] != "web-1-quota-api" else (r[0], r[1], dict(r[2], limitBytes=100 * MIB)) for r in stack]
    # no way to know which host a resource targets: no verdict rather than a wrong one
    assert h.run_stack("service-log-quota", bad).messages == []
    assert h.run_stack("crash-dumps-gotraceback", bad).messages == []


def test_unknown_list_elements_never_produce_a_verdict():
    typ, name, props = s.lb()
    props["probes"].append(UNKNOWN_STRING)
    props["loadBalancingRules"][0]["probe"] = {"id": s.LB_ID + "/probes/later"}
    assert h.run_resource("lb-probe-is-readiness", (typ, name, props)).messages == []
    typ, name, props = s.eventlogs()
    props["logs"][3] = UNKNOWN_STRING  # Security, computed
    assert h.run_resource("eventlog-minimum-sizes", (typ, name, props)).messages == []
    rec = svc(recovery={"actions": [UNKNOWN_STRING], "resetPeriodSeconds": 86400, "failureActionsOnNonCrash": True})
    assert h.run_resource("service-crash-recovery", rec).messages == []


# ------------------------------------------------------------------ guest firewall (issue 11 item 17)


def test_port_firewall_missing_rule_is_a_violation():
    stack = [r for r in GOOD if r[0] != s.PORT]
    res = h.run_stack("service-port-firewall", stack)
    assert res.has("service 'api'", "port 8080", "no ServicePort", "168.63.129.16")


def test_port_firewall_rule_must_admit_the_probe_address():
    res = h.run_stack("service-port-firewall", with_(s.service_port(remote=["203.0.113.0/24"])))
    assert res.has("does not admit the Azure probe address 168.63.129.16")
    res = h.run_stack("service-port-firewall", with_(s.service_port(remote=None)))
    assert res.has("does not admit")
    for ok in (["Any"], ["168.63.128.0/22"], ["10.0.0.0/8", "168.63.129.16"]):
        assert h.run_stack("service-port-firewall", with_(s.service_port(remote=ok))).messages == [], ok


def test_port_firewall_rule_on_another_host_or_port_does_not_count():
    assert h.run_stack("service-port-firewall", with_(s.service_port(host="web-9"))).has("no ServicePort")
    assert h.run_stack("service-port-firewall", with_(s.service_port(port=9090))).has("no ServicePort")


def test_port_firewall_not_behind_lb_and_unknowns_pass():
    stack = [r for r in GOOD if r[0] not in (s.PORT, s.LB)]
    assert h.run_stack("service-port-firewall", stack).messages == []
    assert h.run_stack("service-port-firewall", with_(s.service_port(remote=[UNKNOWN_STRING]))).messages == []


# ------------------------------------------------------------------ all probed down (issue 14 item 6)


def test_all_down_behavior_default_or_explicit_all_probed_down_is_flagged():
    assert h.run_resource("lb-probe-all-down-behavior", s.lb(all_down="AllProbedDown")).has("AllProbedDown",
                                                                                            "whole fleet")
    assert h.run_resource("lb-probe-all-down-behavior", s.lb(all_down=None)).has("the default")
    assert h.run_resource("lb-probe-all-down-behavior", s.lb(all_down="AllProbedUp")).messages == []
    assert h.run_resource("lb-probe-all-down-behavior", s.lb(all_down=UNKNOWN_STRING)).messages == []
