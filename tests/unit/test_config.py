"""Stack config: defaults, both stack files, and every validation rule (one problem per rule, naming the
key path, the bad value and what is allowed)."""
from __future__ import annotations

import copy
import json

import pytest
import yaml

from components import windows_facts as wf
from components.config import (ConfigError, WinfleetConfig, load_config_file, parse_config)
from tests.unit.conftest import ROOT


def problems_of(raw: dict) -> list:
    with pytest.raises(ConfigError) as ei:
        parse_config(raw)
    return ei.value.problems


def svc(raw, i=0) -> dict:
    return raw["services"][i]


# ------------------------------------------------------------------------------------------------
# Happy paths and defaults
# ------------------------------------------------------------------------------------------------
def test_example_stack_parses_with_expected_values():
    cfg = load_config_file(ROOT / "Pulumi.example.yaml")
    assert cfg.mode == "azure"
    assert [s.name for s in cfg.services] == ["orders-api", "billing-worker"]
    assert cfg.azure.host_names() == ["go-0", "go-1"]
    assert cfg.azure.location == "westeurope"
    assert cfg.winrm.allowed_sources == ["203.0.113.0/28", "198.51.100.7/32"]
    api = cfg.service("orders-api")
    assert api.port == 8080 and api.readiness_path == "/readyz"
    assert cfg.service("billing-worker").readiness_path == "/ready"


def test_service_defaults_are_filled_from_the_name():
    raw = {"mode": "azure", "azure": {"location": "westeurope"}, "winrm": {"allowedSources": ["203.0.113.4"]},
           "services": [{"name": "api", "port": 8080,
                         "binary": {"url": "https://x.example.com/api.exe", "sha256": "A" * 64}}]}
    cfg = parse_config(raw)
    s = cfg.services[0]
    assert s.display_name == "api"
    assert s.account == "NT SERVICE\\api" and s.is_virtual_account
    assert s.start_mode == "delayed-auto"
    assert s.health_path == "/healthz" and s.readiness_path == "/readyz"
    assert s.logs.directory == "D:\\logs\\api"
    assert s.crash_dumps.folder == "D:\\dumps\\api"
    assert s.binary.exe_name == "api.exe" and s.binary.sha256 == "a" * 64
    assert [(a.action, a.delay_seconds) for a in s.recovery.actions] == [("restart", 5), ("restart", 10),
                                                                        ("restart", 30)]
    assert s.recovery.failure_actions_on_non_crash is True
    assert s.effective_environment["GOTRACEBACK"] == "wer"
    assert s.effective_environment["WINFLEET_LOG_DIR"] == "D:\\logs\\api"
    # fleet-wide safe defaults
    assert {k: (v.max_size_kb, v.retention) for k, v in cfg.event_logs.items()} == {
        k: (kb, "circular") for k, kb in wf.CIS_EVENTLOG_MIN_KB.items()}
    assert cfg.load_balancer.public is False
    assert cfg.winrm.connect_via == "private" and cfg.winrm.auth == "ntlm"
    assert cfg.baseline.name == "go-host-minimal"
    assert cfg.quota.headroom == 1.5
    assert cfg.rollout.batch_size == 1
    img = cfg.azure.image
    assert (img.publisher, img.offer, img.sku, img.version) == (
        "MicrosoftWindowsServer", "WindowsServer", "2022-datacenter-azure-edition", "latest")
    # quota covers logs + dumps with headroom, and is a whole number of MiB
    q = cfg.quota_sizing(s)
    assert q.budget_bytes == 100 * 10 * 2**20 + 5 * 64 * 2**20
    assert q.limit_bytes >= q.budget_bytes * 1.5 and q.limit_bytes % 2**20 == 0


def test_event_log_overrides_merge_with_cis_defaults(example_raw):
    example_raw["eventLogs"] = {"Security": {"maxSizeKb": 1048576},
                                "Microsoft-Windows-PowerShell/Operational": {"maxSizeKb": 65536,
                                                                             "retention": "autoBackup"}}
    cfg = parse_config(example_raw)
    assert cfg.event_logs["Security"].max_size_kb == 1048576
    assert cfg.event_logs["Application"].max_size_kb == 32768
    assert cfg.event_logs["Microsoft-Windows-PowerShell/Operational"].retention == "autoBackup"


def _lab_doc(test_ca_path: str) -> dict:
    """What `make up` makes of the tracked Pulumi.lab.yaml for a running lab (tools/lab.py)."""
    from tools.lab import lab_stack_doc
    lab = {"pid": 1, "adminUrl": "http://127.0.0.1:1", "caPemFile": test_ca_path,
           "hosts": [{"name": f"lab-{i}", "host": "127.0.0.1", "port": 25986 + i, "username": "winfleetadmin",
                      "password": f"pw{i}", "tlsServerName": f"lab-{i}"} for i in range(3)],
           "artifacts": {"winfleet-refsvc.exe": {"url": "https://artifacts.lab.winfleet.test/winfleet-refsvc.exe",
                                                 "sha256": "ab" * 32}}}
    return lab_stack_doc(yaml.safe_load((ROOT / "Pulumi.lab.yaml").read_text()), lab)


def test_tracked_lab_stack_holds_no_secret_values():
    """The lab's credentials reach the stack as real Pulumi secrets (make up): none, and no fake
    ciphertext, in the tracked file."""
    text = (ROOT / "Pulumi.lab.yaml").read_text()
    assert "secure:" not in text and "password:" not in text


def test_lab_stack_parses_with_substituted_secrets(tmp_path, test_ca):
    doc, secrets = _lab_doc(str(test_ca[1]))
    assert sorted(secrets) == [f"winfleet:existingHosts[{i}].password" for i in range(3)]
    assert "pw0" not in yaml.safe_dump(doc)                  # passwords go to `pulumi config set --secret`
    for i in range(3):                                       # what the CLI writes for them
        doc["config"]["winfleet:existingHosts"][i]["password"] = {"secure": "v1:AAAA"}
    path = tmp_path / "Pulumi.lab.yaml"
    path.write_text(yaml.safe_dump(doc))
    cfg = load_config_file(path, secrets={"winfleet:existingHosts[0].password": "pw0"},
                           secret_placeholder="placeholder")
    assert cfg.mode == "existingHosts"
    assert [h.name for h in cfg.existing_hosts] == ["lab-0", "lab-1", "lab-2"]
    assert [h.port for h in cfg.existing_hosts] == [25986, 25987, 25988]     # the lab's, not the template's
    assert cfg.services[0].binary.sha256 == "ab" * 32                        # the SHA-256 the lab serves
    assert cfg.existing_hosts[0].password.get_secret_value() == "pw0"
    assert cfg.existing_hosts[1].password.get_secret_value() == "placeholder"
    assert cfg.existing_hosts[0].ca_pem == test_ca[0]      # caPemFile read at load time
    assert cfg.existing_hosts[0].auth == "ntlm"             # default from winfleet:winrm.auth
    assert "pw0" not in repr(cfg)


def test_encrypted_values_without_substitution_are_problems(tmp_path, test_ca):
    doc, _ = _lab_doc(str(test_ca[1]))
    for i in range(3):
        doc["config"]["winfleet:existingHosts"][i]["password"] = {"secure": "AAABAJ2nLYsDkz8PkRcN5yv0wUmNn0Q1"}
    path = tmp_path / "Pulumi.lab.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError) as ei:
        load_config_file(path)
    paths = [p.path for p in ei.value.problems]
    assert paths == [f"winfleet:existingHosts[{i}].password" for i in range(3)]
    assert "AAAB" not in str(ei.value)          # ciphertext is not echoed either
    assert "secrets=" in str(ei.value)


def test_load_config_reads_pulumi_config(example_raw):
    """load_config() goes through pulumi.Config('winfleet') exactly as under the CLI (values JSON-encoded)."""
    from components.config import load_config
    from tests.unit.mocks import run_program
    config = {f"winfleet:{k}": v for k, v in example_raw.items()}
    config["winfleet:mode"] = "azure"            # a plain string, as the CLI passes scalars
    run = run_program(load_config, config=config)
    cfg = run.value
    assert isinstance(cfg, WinfleetConfig)
    assert [s.name for s in cfg.services] == ["orders-api", "billing-worker"]
    assert cfg.azure.host_count == 2


def test_load_config_falls_back_to_azure_native_location(example_raw):
    from components.config import load_config
    from tests.unit.mocks import run_program
    del example_raw["azure"]["location"]
    config = {f"winfleet:{k}": v for k, v in example_raw.items()}
    config["azure-native:location"] = "northeurope"
    assert run_program(load_config, config=config).value.azure.location == "northeurope"


def test_all_problems_are_reported_at_once(example_raw):
    svc(example_raw, 0)["name"] = 'bad "name"'
    svc(example_raw, 1)["readinessPath"] = "ready"
    example_raw["eventLogs"] = {"System": {"maxSizeKb": 512}}
    example_raw["winrm"]["allowedSources"] = ["0.0.0.0/0"]
    with pytest.raises(ConfigError) as ei:
        parse_config(example_raw)
    paths = {p.path for p in ei.value.problems}
    assert {"winfleet:services[0].name", "winfleet:services[1].readinessPath",
            "winfleet:eventLogs.System.maxSizeKb", "winfleet:winrm.allowedSources"} <= paths
    text = str(ei.value)
    assert text.count("\n  - ") == len(ei.value.problems) >= 4
    assert '"ready"' in text and "starting with '/'" in text


def test_config_error_is_a_clean_pulumi_run_error():
    import pulumi
    assert issubclass(ConfigError, pulumi.RunError)


# ------------------------------------------------------------------------------------------------
# One case per rule: (id, mutation, key path, fragment of "what is allowed")
# ------------------------------------------------------------------------------------------------
def _set(path: list, value):
    def mutate(raw):
        obj = raw
        for p in path[:-1]:
            obj = obj[p]
        obj[path[-1]] = value
    return mutate


def _del(path: list):
    def mutate(raw):
        obj = raw
        for p in path[:-1]:
            obj = obj[p]
        del obj[path[-1]]
    return mutate


def _do(*fns):
    def mutate(raw):
        for f in fns:
            f(raw)
    return mutate


def _dup_name(raw):
    svc(raw, 1)["name"] = "ORDERS-API"


def _dup_port(raw):
    svc(raw, 1)["port"] = svc(raw, 0)["port"]


def _cycle(raw):
    svc(raw, 0)["dependencies"] = ["billing-worker"]      # billing-worker already depends on orders-api


def _existing(raw):
    raw.clear()
    raw.update({"mode": "existingHosts", "existingHosts": [
        {"name": "h1", "host": "h1.lab.example", "username": "u", "password": "p", "certSha256": "ab" * 32},
        {"name": "h2", "host": "h2.lab.example", "username": "u", "password": "p", "certSha256": "cd" * 32}]})


def _existing_then(*fns):
    return _do(_existing, *fns)


S0 = ["services", 0]
RULES = [
    # --- services --------------------------------------------------------------------------------
    ("svc-name-quote", _set(S0 + ["name"], 'api"; rm'), "winfleet:services[0].name", "no spaces, quotes"),
    ("svc-name-space", _set(S0 + ["name"], "orders api"), "winfleet:services[0].name", "no spaces"),
    ("svc-name-windows", _set(S0 + ["name"], "winrm"), "winfleet:services[0].name", "collides with the Windows service 'WinRM'"),
    ("svc-dup-name", _dup_name, "winfleet:services[1].name", "duplicate service name"),
    ("svc-dup-port", _dup_port, "winfleet:services[1].port", "duplicate port"),
    ("svc-port-winrm", _set(S0 + ["port"], 5986), "winfleet:services[0].port", "reserved for WinRM HTTPS"),
    ("svc-port-low", _set(S0 + ["port"], 80), "winfleet:services[0].port", "greater than or equal to 1024"),
    ("svc-readiness-slash", _set(S0 + ["readinessPath"], "readyz"), "winfleet:services[0].readinessPath", "starting with '/'"),
    ("svc-health-space", _set(S0 + ["healthPath"], "/health z"), "winfleet:services[0].healthPath", "no spaces"),
    ("svc-binary-http", _set(S0 + ["binary", "url"], "http://artifacts.example.com/a.exe"), "winfleet:services[0].binary.url", "https://"),
    ("svc-binary-sha", _set(S0 + ["binary", "sha256"], "abc"), "winfleet:services[0].binary.sha256", "64 hex"),
    ("svc-binary-missing", _del(S0 + ["binary"]), "winfleet:services[0].binary", "required"),
    ("svc-exe-dup", _do(_set(S0 + ["binary", "exeName"], "svc.exe"), _set(["services", 1, "binary", "exeName"], "SVC.exe")),
     "winfleet:services[1].binary.exeName", "duplicate exe name"),
    ("svc-display-newline", _set(S0 + ["displayName"], "a\nb"), "winfleet:services[0].displayName", "control characters"),
    ("svc-start-mode", _set(S0 + ["startMode"], "automatic"), "winfleet:services[0].startMode", "'delayed-auto'"),
    ("svc-dep-self", _set(S0 + ["dependencies"], ["orders-api"]), "winfleet:services[0].dependencies", "depend on itself"),
    ("svc-dep-cycle", _cycle, "winfleet:services[", "dependency cycle"),
    ("svc-dep-bad-name", _set(S0 + ["dependencies"], ["Windows Update"]), "winfleet:services[0].dependencies", "not a service name"),
    ("svc-env-name", _set(S0 + ["environment"], {"BAD-NAME": "x"}), "winfleet:services[0].environment", "must match"),
    ("svc-env-traceback", _set(S0 + ["environment"], {"GOTRACEBACK": "all"}), "winfleet:services[0].environment.GOTRACEBACK", "must be 'wer'"),
    ("svc-env-reserved", _set(S0 + ["environment"], {"WINFLEET_LOG_DIR": "C:\\x"}), "winfleet:services[0].environment.WINFLEET_LOG_DIR", "set by winfleet"),
    ("svc-logs-drive", _set(S0 + ["logs"], {"directory": "C:\\logs\\api"}), "winfleet:services[0].logs.directory", "data volume D:"),
    ("svc-logs-relative", _set(S0 + ["logs"], {"directory": "logs\\api"}), "winfleet:services[0].logs.directory", "absolute Windows path"),
    ("svc-logs-dotdot", _set(S0 + ["logs"], {"directory": "D:\\logs\\..\\Windows"}), "winfleet:services[0].logs.directory", "'..'"),
    ("svc-logs-size", _set(S0 + ["logs"], {"maxFileSizeMb": 0}), "winfleet:services[0].logs.maxFileSizeMb", "greater than or equal to 1"),
    ("svc-logs-dup-dir", _do(_set(S0 + ["logs"], {"directory": "D:\\logs\\shared"}), _set(["services", 1, "logs"], {"directory": "D:\\LOGS\\shared"})),
     "winfleet:services[1].logs.directory", "is the same folder as winfleet:services[0].logs.directory"),
    ("svc-dumps-type", _set(S0 + ["crashDumps"], {"type": "triage"}), "winfleet:services[0].crashDumps.type", "'mini' or 'full'"),
    ("svc-dumps-count", _set(S0 + ["crashDumps"], {"count": 0}), "winfleet:services[0].crashDumps.count", "greater than or equal to 1"),
    ("svc-dumps-folder", _set(S0 + ["crashDumps"], {"folder": "E:\\dumps"}), "winfleet:services[0].crashDumps.folder", "data volume D:"),
    ("svc-recovery-action", _set(S0 + ["recovery"], {"actions": [{"action": "restart-computer"}]}), "winfleet:services[0].recovery.actions[0].action", "'restart', 'reboot' or 'none'"),
    ("svc-recovery-empty", _set(S0 + ["recovery"], {"actions": []}), "winfleet:services[0].recovery.actions", "at least 1 item"),
    ("svc-recovery-delay", _set(S0 + ["recovery"], {"actions": [{"action": "restart", "delaySeconds": -1}]}), "winfleet:services[0].recovery.actions[0].delaySeconds", "greater than or equal to 0"),
    ("svc-preshutdown", _set(S0 + ["preshutdownTimeoutSeconds"], 10), "winfleet:services[0].preshutdownTimeoutSeconds",
     "winfleet:loadBalancer.probeIntervalSeconds x unhealthyThreshold + drainSeconds = 5 x 2 + 15 = 25"),
    ("svc-preshutdown-lb", _set(["loadBalancer", "drainSeconds"], 60), "winfleet:services[0].preshutdownTimeoutSeconds", "= 70"),
    ("svc-account-other-virtual", _set(S0 + ["account"], "NT SERVICE\\other"), "winfleet:services[0].account", "'NT SERVICE\\orders-api'"),
    ("svc-account-nopw", _set(S0 + ["account"], "CORP\\svc-orders"), "winfleet:services[0].accountPassword", "needs accountPassword"),
    ("svc-account-pw-virtual", _set(S0 + ["accountPassword"], "hunter2"), "winfleet:services[0].accountPassword", "have no password"),
    ("svc-account-junk", _set(S0 + ["account"], "a b c"), "winfleet:services[0].account", "allowed: 'NT SERVICE\\orders-api'"),
    ("svc-sid-none-virtual", _set(S0 + ["sidType"], "none"), "winfleet:services[0].sidType", "needs a service SID"),
    ("svc-unknown-key", _set(S0 + ["readinesPath"], "/readyz"), "winfleet:services[0].readinesPath", "unknown key"),
    # --- fleet-wide --------------------------------------------------------------------------------
    ("unknown-top-level", _set(["service"], []), "winfleet:service", "unknown key; allowed: mode, services"),
    ("mode", _set(["mode"], "vsphere"), "winfleet:mode", "'azure' or 'existingHosts'"),
    ("eventlog-min", _set(["eventLogs"], {"System": {"maxSizeKb": 512}}), "winfleet:eventLogs.System.maxSizeKb", "Windows minimum of 1024 KB"),
    ("eventlog-multiple", _set(["eventLogs"], {"Application": {"maxSizeKb": 32769}}), "winfleet:eventLogs.Application.maxSizeKb", "use 32768 or 32832"),
    ("eventlog-retention", _set(["eventLogs"], {"Security": {"maxSizeKb": 196608, "retention": "overwrite"}}), "winfleet:eventLogs.Security.retention", "'circular', 'autoBackup' or 'retain'"),
    ("eventlog-name", _set(["eventLogs"], {"Bad\"Log": {"maxSizeKb": 1024}}), "winfleet:eventLogs", "not an event log name"),
    ("baseline-never-disable", _set(["baseline"], {"name": "none", "services": ["Spooler", "winrm"]}), "winfleet:baseline.services", "'winrm' must never be disabled"),
    ("baseline-own-service", _set(["baseline"], {"services": ["orders-api"]}), "winfleet:baseline.services[0]", "one of this stack's Go services"),
    ("baseline-name", _set(["baseline"], {"name": "cis-l2"}), "winfleet:baseline.name", "'go-host-minimal', 'ms-server-2016-ok' or 'none'"),
    ("quota-headroom", _set(["quota"], {"headroom": 0.8}), "winfleet:quota.headroom", "greater than or equal to 1"),
    ("winrm-any-v4", _set(["winrm", "allowedSources"], ["0.0.0.0/0"]), "winfleet:winrm.allowedSources", "never 0.0.0.0/0"),
    ("winrm-any-v6", _set(["winrm", "allowedSources"], ["::/0"]), "winfleet:winrm.allowedSources", "to everyone"),
    ("winrm-star", _set(["winrm", "allowedSources"], ["*"]), "winfleet:winrm.allowedSources", "to everyone"),
    ("winrm-internet", _set(["winrm", "allowedSources"], ["Internet"]), "winfleet:winrm.allowedSources", "to everyone"),
    ("winrm-broad", _set(["winrm", "allowedSources"], ["64.0.0.0/2"]), "winfleet:winrm.allowedSources", "too broad"),
    ("winrm-broad-v6", _set(["winrm", "allowedSources"], ["2000::/3"]), "winfleet:winrm.allowedSources", "too broad"),
    ("winrm-host-bits", _set(["winrm", "allowedSources"], ["203.0.113.7/24"]), "winfleet:winrm.allowedSources", "has host bits set"),
    ("winrm-garbage", _set(["winrm", "allowedSources"], ["my-office"]), "winfleet:winrm.allowedSources", "not a valid CIDR"),
    ("winrm-empty", _set(["winrm", "allowedSources"], []), "winfleet:winrm.allowedSources", "required in azure mode"),
    ("winrm-connect-via", _set(["winrm", "connectVia"], "bastion"), "winfleet:winrm.connectVia", "'public' or 'private'"),
    ("winrm-kerberos-azure", _set(["winrm", "auth"], "kerberos"), "winfleet:winrm.auth", "not domain-joined"),
    ("lb-interval", _set(["loadBalancer", "probeIntervalSeconds"], 2), "winfleet:loadBalancer.probeIntervalSeconds", "greater than or equal to 5"),
    ("lb-threshold", _set(["loadBalancer", "unhealthyThreshold"], 0), "winfleet:loadBalancer.unhealthyThreshold", "greater than or equal to 1"),
    ("rollout-batch", _set(["rollout", "batchSize"], 2), "winfleet:rollout.batchSize", "smaller than the number of hosts (2)"),
    ("rollout-batch-zero", _set(["rollout", "batchSize"], 0), "winfleet:rollout.batchSize", "greater than or equal to 1"),
    ("data-volume-letter", _set(["dataVolume"], {"driveLetter": "C"}), "winfleet:dataVolume.driveLetter", "drive letter D-Z"),
    # --- azure -------------------------------------------------------------------------------------
    ("azure-location", _del(["azure", "location"]), "winfleet:azure.location", "required in azure mode"),
    ("azure-dns-prefix", _del(["azure", "dnsPrefix"]), "winfleet:azure.dnsPrefix", "required when winfleet:winrm.connectVia is 'public'"),
    ("azure-host-prefix", _set(["azure", "hostNamePrefix"], "averyverylongprefix"), "winfleet:azure.hostNamePrefix", "15-character limit"),
    ("azure-name-prefix", _set(["azure", "namePrefix"], "wf--x-"), "winfleet:azure.namePrefix", "single '-'"),
    ("azure-admin-reserved", _set(["azure", "adminUsername"], "Administrator"), "winfleet:azure.adminUsername", "reserved admin name"),
    ("azure-zones", _set(["azure", "zones"], ["1", "4"]), "winfleet:azure.zones", "'1', '2', '3'"),
    ("azure-host-count", _set(["azure", "hostCount"], 0), "winfleet:azure.hostCount", "greater than or equal to 1"),
    ("azure-subnet-outside", _set(["azure", "subnetPrefix"], "10.41.1.0/24"), "winfleet:azure.subnetPrefix", "inside azure.vnetAddressSpace"),
    ("azure-subnet-small", _do(_set(["azure", "subnetPrefix"], "10.40.1.0/28"), _set(["azure", "hostCount"], 6)), "winfleet:azure.subnetPrefix", "too small for 6 hosts"),
    ("azure-vnet-public", _set(["azure", "vnetAddressSpace"], "8.8.0.0/16"), "winfleet:azure.vnetAddressSpace", "private IPv4 CIDR"),
    ("azure-data-disk", _set(["azure", "dataDiskSizeGb"], 2), "winfleet:azure.dataDiskSizeGb", "use at least"),
    ("azure-temp-disk", _set(["azure", "vmSize"], "Standard_D2ds_v5"), "winfleet:dataVolume.driveLetter", "temporary disk"),
    ("azure-client-any", _set(["azure", "clientSources"], ["0.0.0.0/0"]), "winfleet:azure.clientSources", "to everyone"),
    ("azure-public-lb-no-clients", _do(_set(["loadBalancer", "public"], True), _set(["azure", "clientSources"], [])), "winfleet:azure.clientSources", "public load balancer"),
    ("azure-image-key", _set(["azure", "image"], {"sku": "2022-datacenter-azure-edition", "versoin": "latest"}), "winfleet:azure.image.versoin", "unknown key"),
    ("azure-with-existing", _set(["existingHosts"], [{"name": "x"}]), "winfleet:existingHosts", "only used when winfleet:mode is 'existingHosts'"),
    # --- existing hosts ----------------------------------------------------------------------------
    ("existing-none", _do(_existing, _set(["existingHosts"], [])), "winfleet:existingHosts", "at least one host"),
    ("existing-no-trust", _existing_then(_del(["existingHosts", 0, "certSha256"])), "winfleet:existingHosts[0]", "no 'ignore certificate' option"),
    ("existing-bad-fingerprint", _existing_then(_set(["existingHosts", 0, "certSha256"], "12:34")), "winfleet:existingHosts[0].certSha256", "64 hex digits"),
    ("existing-bad-pem", _existing_then(_set(["existingHosts", 0, "caPem"], "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")), "winfleet:existingHosts[0].caPem", "not a readable PEM"),
    ("existing-pem-file-missing", _existing_then(_set(["existingHosts", 0, "caPemFile"], "/nonexistent/ca.pem")), "winfleet:existingHosts[0].caPemFile", "cannot be read"),
    ("existing-http-port", _existing_then(_set(["existingHosts", 0, "port"], 5985)), "winfleet:existingHosts[0].port", "only connects over HTTPS"),
    ("existing-dup-name", _existing_then(_set(["existingHosts", 1, "name"], "H1")), "winfleet:existingHosts[1].name", "duplicate host name"),
    ("existing-dup-endpoint", _existing_then(_set(["existingHosts", 1, "host"], "H1.lab.example")), "winfleet:existingHosts[1].host", "duplicate endpoint"),
    ("existing-bad-host", _existing_then(_set(["existingHosts", 0, "host"], "https://h1:5986")), "winfleet:existingHosts[0].host", "no scheme, no port"),
    ("existing-empty-password", _existing_then(_set(["existingHosts", 0, "password"], "")), "winfleet:existingHosts[0].password", "must not be empty"),
    ("existing-no-password", _existing_then(_del(["existingHosts", 0, "password"])), "winfleet:existingHosts[0].password", "required"),
    ("existing-disk-both", _existing_then(_set(["existingHosts", 0, "dataDisk"], {"diskNumber": 1, "lun": 0})), "winfleet:existingHosts[0].dataDisk", "not both"),
    ("existing-with-azure", _existing_then(_set(["azure"], {"location": "westeurope"})), "winfleet:azure", "only used when winfleet:mode is 'azure'"),
    ("existing-public-lb", _existing_then(_set(["loadBalancer"], {"public": True})), "winfleet:loadBalancer.public", "no load balancer"),
    ("existing-batch", _existing_then(_set(["rollout"], {"batchSize": 2})), "winfleet:rollout.batchSize", "smaller than the number of hosts (2)"),
]


@pytest.mark.parametrize("mutate,path,fragment", [r[1:] for r in RULES], ids=[r[0] for r in RULES])
def test_rule(example_raw, mutate, path, fragment):
    raw = copy.deepcopy(example_raw)
    mutate(raw)
    probs = problems_of(raw)
    matching = [p for p in probs if p.path.startswith(path) and fragment in p.allowed]
    assert matching, f"no problem at {path} mentioning {fragment!r}; got:\n" + "\n".join(map(str, probs))
    # every message carries the key path, the value and what is allowed
    for p in probs:
        text = str(p)
        assert text.startswith("winfleet:") and ": got " in text and "; " in text


def test_rule_ids_are_unique():
    assert len({r[0] for r in RULES}) == len(RULES)


def test_bad_value_is_shown(example_raw):
    svc(example_raw, 0)["readinessPath"] = "readyz"
    (p,) = problems_of(example_raw)
    assert str(p) == ("winfleet:services[0].readinessPath: got \"readyz\"; must be a URL path starting "
                      "with '/', like '/readyz': not '//', printable ASCII, no spaces or '#', at most 255 characters")


def test_preshutdown_message_names_both_keys(example_raw):
    svc(example_raw, 1)["preshutdownTimeoutSeconds"] = 20
    (p,) = problems_of(example_raw)
    assert p.path == "winfleet:services[1].preshutdownTimeoutSeconds" and p.value == 20
    assert "winfleet:loadBalancer.probeIntervalSeconds" in p.allowed and "drainSeconds" in p.allowed


def test_preshutdown_exactly_at_the_minimum_is_accepted(example_raw):
    svc(example_raw, 0)["preshutdownTimeoutSeconds"] = 5 * 2 + 15
    parse_config(example_raw)


def test_secrets_never_appear_in_problems(example_raw):
    svc(example_raw, 0)["account"] = "NT SERVICE\\orders-api"
    svc(example_raw, 0)["accountPassword"] = "S3cr3t-acct-pw"
    raw2 = {"mode": "existingHosts", "existingHosts": [
        {"name": "h1", "host": "h1.lab", "username": "u", "password": "S3cr3t-host-pw"}]}   # no trust anchor
    for raw in (example_raw, raw2):
        with pytest.raises(ConfigError) as ei:
            parse_config(raw)
        assert "S3cr3t" not in str(ei.value) and "S3cr3t" not in repr(ei.value.problems)


def test_never_disable_list_is_matched_by_service_name_case_insensitively():
    assert wf.never_disable_match("winrm") == "WinRM"
    assert wf.never_disable_match("Windows Remote Management (WS-Management)") is None
    for name in ["WinRM", "RpcSs", "RpcEptMapper", "DcomLaunch", "EventLog", "Winmgmt", "LSM", "SamSs",
                 "Schedule", "W32Time", "CryptSvc", "BFE", "MpsSvc", "Dhcp", "Dnscache", "nsi",
                 "WindowsAzureGuestAgent"]:
        assert name in wf.NEVER_DISABLE_CORE


def test_existing_hosts_trust_and_data_disk_forms(test_ca):
    raw = {"mode": "existingHosts", "existingHosts": [
        {"name": "a", "host": "10.0.0.1", "username": "u", "password": "p", "caPem": test_ca[0]},
        {"name": "b", "host": "b.lab", "username": "LAB\\u", "password": "p",
         "certSha256": ":".join(["AB"] * 32), "auth": "kerberos", "dataDisk": {"lun": 1}},
        {"name": "c", "host": "c.lab", "username": "u", "password": "p", "caPemFile": str(test_ca[1]),
         "dataDisk": {"diskNumber": 2, "sizeGb": 100}}]}
    cfg = parse_config(raw)
    a, b, c = cfg.existing_hosts
    assert a.ca_pem == test_ca[0] and a.port == 5986 and a.auth == "ntlm"
    assert b.cert_sha256 == "ab" * 32 and b.auth == "kerberos"
    assert c.ca_pem == test_ca[0]


def test_config_models_round_trip_to_camel_case(example_raw):
    cfg = parse_config(example_raw)
    dumped = json.loads(cfg.model_dump_json(by_alias=True))
    assert "loadBalancer" in dumped and "readinessPath" in dumped["services"][0]
    assert "preshutdownTimeoutSeconds" in dumped["services"][0]


@pytest.mark.parametrize("port", [49152, 50000, 65535])
def test_dynamic_range_port_is_refused_unless_allowed(example_raw, port):
    """Issue 14 item 2: Windows hands ports in 49152-65535 to outgoing connections by default."""
    svc(example_raw, 1)["port"] = port
    probs = [p for p in problems_of(copy.deepcopy(example_raw)) if p.path.endswith("].port")]
    assert [p.path for p in probs] == ["winfleet:services[1].port"]
    assert "49152-65535" in probs[0].allowed and "allowDynamicPort" in probs[0].allowed
    svc(example_raw, 1)["allowDynamicPort"] = True
    assert parse_config(example_raw).services[1].port == port


def test_port_below_the_dynamic_range_is_fine(example_raw):
    svc(example_raw, 1)["port"] = 49151
    assert parse_config(example_raw).services[1].port == 49151
