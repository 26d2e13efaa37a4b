"""Resource fixtures for the policy tests: one consistent, compliant stack, and helpers to break it.

Each resource is ``(type, name, props)`` with engine (camelCase) property names, as the engine hands inputs to a
policy pack. Secrets are in their wire form (``secret(v)``), unknowns are the engine's sentinels.
"""
from __future__ import annotations

import copy

SIG = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
UNKNOWN_NUMBER = "3eeb2bf0-c639-47a8-9e75-3b44932eb421"

LB = "azure-native:network:LoadBalancer"
NSG = "azure-native:network:NetworkSecurityGroup"
RULE = "azure-native:network:SecurityRule"
VM = "azure-native:compute:VirtualMachine"
H = "pulumi-python:dynamic/winfleet:"
SVC, EVT, QUOTA, BASE, DUMPS, VOL = (H + "WindowsService", H + "EventLogSettings", H + "NtfsQuota",
                                     H + "ServiceBaseline", H + "CrashDumps", H + "DataVolume")
PORT = H + "ServicePort"
MIB = 1024 * 1024
LB_ID = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Network/loadBalancers/lb"


def secret(value):
    return {SIG: SECRET_SIG, "value": value}


def connection(host="web-0"):
    return secret({"host": f"10.0.0.4", "port": 5986, "username": "winfleet", "password": "P@ssw0rd-not-real",
                   "auth": "ntlm", "caPem": None,
                   "certSha256": "ab" * 32, "tlsServerName": host, "hostName": host})


def lb(probe_protocol="Http", path="/readyz", interval=5, threshold=2, probe_port=8080, backend_port=8080,
       all_down="AllProbedUp"):
    return (LB, "lb", {
        "loadBalancerName": "lb", "resourceGroupName": "rg", "sku": {"name": "Standard"},
        "probes": [{"name": "api", "protocol": probe_protocol, "port": probe_port, "requestPath": path,
                    "intervalInSeconds": interval, "probeThreshold": threshold, "numberOfProbes": threshold,
                    "noHealthyBackendsBehavior": all_down}],
        "loadBalancingRules": [{"name": "api", "protocol": "Tcp", "frontendPort": 443, "backendPort": backend_port,
                                "probe": {"id": f"{LB_ID}/probes/api"},
                                "frontendIPConfiguration": {"id": f"{LB_ID}/frontendIPConfigurations/fe"}}],
    })


def nsg(extra_rules=()):
    rules = [
        {"name": "allow-lb-probe", "priority": 100, "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
         "sourceAddressPrefix": "AzureLoadBalancer", "sourcePortRange": "*", "destinationAddressPrefix": "*",
         "destinationPortRange": "8080"},
        {"name": "allow-https", "priority": 110, "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
         "sourceAddressPrefix": "Internet", "sourcePortRange": "*", "destinationAddressPrefix": "*",
         "destinationPortRange": "8080"},
        {"name": "allow-winrm-ci", "priority": 120, "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
         "sourceAddressPrefixes": ["203.0.113.0/24"], "sourcePortRange": "*", "destinationAddressPrefix": "*",
         "destinationPortRange": "5986"},
        {"name": "deny-all", "priority": 4096, "direction": "Inbound", "access": "Deny", "protocol": "*",
         "sourceAddressPrefix": "*", "sourcePortRange": "*", "destinationAddressPrefix": "*",
         "destinationPortRange": "*"},
    ]
    return (NSG, "nsg", {"networkSecurityGroupName": "nsg", "resourceGroupName": "rg",
                         "securityRules": rules + list(extra_rules)})


def vm(name="web-0"):
    return (VM, name, {
        "vmName": name, "resourceGroupName": "rg", "hardwareProfile": {"vmSize": "Standard_D2s_v5"},
        "osProfile": {"computerName": name, "adminUsername": "winfleet", "adminPassword": secret("P@ss-not-real"),
                      "windowsConfiguration": {"provisionVMAgent": True, "enableAutomaticUpdates": True,
                                               "winRM": {"listeners": [{"protocol": "Https",
                                                                        "certificateUrl": "https://kv.vault.azure.net/secrets/winrm/1"}]}},
                      "secrets": [{"sourceVault": {"id": "/subscriptions/x/kv"},
                                   "vaultCertificates": [{"certificateUrl": "https://kv.vault.azure.net/secrets/winrm/1",
                                                          "certificateStore": "My"}]}]},
        "storageProfile": {"imageReference": {"publisher": "MicrosoftWindowsServer", "offer": "WindowsServer",
                                              "sku": "2022-datacenter-azure-edition", "version": "latest"},
                           "osDisk": {"createOption": "FromImage", "managedDisk": {"storageAccountType": "Premium_LRS"}},
                           "dataDisks": [{"lun": 0, "createOption": "Empty", "diskSizeGB": 64,
                                          "managedDisk": {"storageAccountType": "Premium_LRS"}}]},
        "diagnosticsProfile": {"bootDiagnostics": {"enabled": True}},
    })


def service(host="web-0", name="api", **over):
    props = {
        "connection": connection(host), "serviceName": name, "displayName": "API", "description": "Go API",
        "binaryUrl": f"https://artifacts.example.com/{name}/1.2.3/{name}.exe", "binarySha256": "cd" * 32,
        "installDir": f"D:\\services\\{name}", "arguments": [], "account": f"NT SERVICE\\{name}",
        "startMode": "auto", "dependencies": ["Tcpip", "Afd"], "sidType": "unrestricted",
        "environment": {"GOTRACEBACK": "wer", "WINFLEET_LOG_DIR": f"D:\\logs\\{name}"},
        "recovery": {"actions": [{"action": "restart", "delaySeconds": 5}, {"action": "restart", "delaySeconds": 10},
                                 {"action": "restart", "delaySeconds": 60}],
                     "resetPeriodSeconds": 86400, "failureActionsOnNonCrash": True},
        "preshutdownTimeoutSeconds": 30,
        "eventSource": {"logName": "Application", "source": name},
        "logs": {"directory": f"D:\\logs\\{name}", "maxSizeBytes": 50 * MIB, "maxFiles": 5},
        "port": 8080, "healthPath": "/healthz", "readinessPath": "/readyz", "readinessTimeoutSeconds": 60,
    }
    props.update(over)
    return (SVC, f"{host}-{name}", props)


def eventlogs(host="web-0", **sizes):
    logs = [{"name": "Application", "maxSizeKb": 262144, "retention": "circular"},
            {"name": "System", "maxSizeKb": 262144, "retention": "circular"},
            {"name": "Setup", "maxSizeKb": 32768, "retention": "circular"},
            {"name": "Security", "maxSizeKb": 1048576, "retention": "autoBackup"}]
    for entry in logs:
        if entry["name"] in sizes:
            entry["maxSizeKb"] = sizes[entry["name"]]
    return (EVT, f"{host}-eventlogs", {"connection": connection(host), "logs": logs})


LOG_BUDGET = 50 * MIB * 5
DUMP_BUDGET = 10 * 64 * MIB  # 10 mini dumps at the pack's default 64 MiB estimate


def quota(host="web-0", account="NT SERVICE\\api", limit=None, budget=LOG_BUDGET + DUMP_BUDGET, volume="D:"):
    limit = int(budget * 1.25) if limit is None else limit
    return (QUOTA, f"{host}-quota-api", {"connection": connection(host), "volume": volume, "account": account,
                                         "warningBytes": budget, "limitBytes": limit, "budgetBytes": budget,
                                         "enforce": True})


def baseline(host="web-0", services=("Spooler", "Fax", "XblGameSave"), managed=("api",)):
    return (BASE, f"{host}-baseline", {"connection": connection(host), "baselineName": "ms-ws2016-guidance",
                                       "services": list(services), "managedServices": list(managed)})


def dumps(host="web-0", exe="api.exe", account="NT SERVICE\\api", count=10):
    return (DUMPS, f"{host}-dumps-api", {"connection": connection(host), "exeName": exe,
                                         "dumpFolder": "D:\\dumps\\api", "dumpCount": count, "dumpType": "mini",
                                         "account": account})


def volume(host="web-0"):
    return (VOL, f"{host}-data", {"connection": connection(host), "lun": 0, "driveLetter": "D", "label": "data",
                                  "fileSystem": "NTFS"})


def service_port(host="web-0", name="api", port=8080, remote=("168.63.129.16", "203.0.113.0/24")):
    props = {"connection": connection(host), "serviceName": name, "port": port, "protocol": "TCP",
             "allowDynamicPort": False, "ruleName": f"winfleet-{name}"}
    if remote is not None:
        props["remoteAddresses"] = list(remote)
    return (PORT, f"{host}-{name}-port", props)


def good_stack() -> list:
    return [lb(), nsg(), vm(), volume(), eventlogs(), service(), service_port(), quota(), baseline(), dumps()]


def replace(stack, typ, new):
    """The stack with the (first) resource of ``typ`` replaced by ``new``."""
    out = copy.deepcopy(stack)
    for i, (t, _, _) in enumerate(out):
        if t == typ:
            out[i] = new
            return out
    raise KeyError(typ)


def find(stack, typ):
    for t, n, p in stack:
        if t == typ:
            return (t, n, p)
    raise KeyError(typ)


def _vm_with(**changes):
    typ, name, props = vm()
    for path, value in changes.items():
        cur = props
        keys = path.split(".")
        for k in keys[:-1]:
            cur = cur[k]
        cur[keys[-1]] = value
    return (typ, name, props)


def _eventlogs_retain():
    typ, name, props = eventlogs()
    props["logs"][3]["retention"] = "retain"
    return (typ, name, props)


def _plain_connection_service():
    typ, name, props = service()
    props["connection"] = dict(props["connection"]["value"])
    return (typ, name, props)


def _no_cert_service():
    typ, name, props = service()
    props["connection"] = secret(dict(props["connection"]["value"], certSha256=None, caPem=None))
    return (typ, name, props)


# One deliberately bad stack per policy: the compliant stack with a single thing broken.
VIOLATIONS = {
    "lb-probe-all-down-behavior": lambda: replace(good_stack(), LB, lb(all_down="AllProbedDown")),
    "service-port-firewall": lambda: replace(good_stack(), PORT, service_port(remote=["203.0.113.0/24"])),
    "lb-probe-is-readiness": lambda: replace(good_stack(), LB, lb(probe_protocol="Tcp")),
    "service-readiness-endpoint": lambda: replace(good_stack(), SVC, service(readinessPath="/healthz")),
    "graceful-shutdown-budget": lambda: replace(good_stack(), SVC, service(preshutdownTimeoutSeconds=12)),
    "service-stop-contract": lambda: replace(good_stack(), SVC, service(environment={
        "GOTRACEBACK": "wer", "WINFLEET_LOG_DIR": "D:\\logs\\api", "WINFLEET_PORT": "9090"})),
    "eventlog-minimum-sizes": lambda: replace(good_stack(), EVT, eventlogs(Security=20480)),
    "eventlog-retention": lambda: replace(good_stack(), EVT, _eventlogs_retain()),
    "service-logging": lambda: replace(good_stack(), SVC, service(logs={"directory": "C:\\logs\\api",
                                                                       "maxSizeBytes": 50 * MIB, "maxFiles": 5})),
    "service-account-quota-bindable": lambda: replace(good_stack(), QUOTA, quota(account="LocalSystem")),
    "service-log-quota": lambda: replace(good_stack(), QUOTA, quota(limit=100 * MIB)),
    "service-crash-recovery": lambda: replace(good_stack(), SVC, service(recovery={"actions": []})),
    "crash-dumps-gotraceback": lambda: replace(good_stack(), SVC, service(environment={"GOTRACEBACK": "single"})),
    "baseline-never-disable": lambda: replace(good_stack(), BASE, baseline(services=["Spooler", "WinRM"])),
    "baseline-keeps-dependencies": lambda: replace(good_stack(), BASE, baseline(services=["Afd"])),
    "winrm-https-only": lambda: replace(good_stack(), VM, _vm_with(
        **{"osProfile.windowsConfiguration.winRM": {"listeners": [{"protocol": "Http"}]}})),
    "nsg-no-internet-management": lambda: replace(good_stack(), NSG, nsg([{
        "name": "rdp-open", "priority": 300, "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
        "sourceAddressPrefix": "0.0.0.0/0", "destinationPortRange": "3389"}])),
    "winrm-validates-certificates": lambda: replace(good_stack(), SVC, _no_cert_service()),
    "passwords-are-secrets": lambda: replace(good_stack(), VM, _vm_with(**{"osProfile.adminPassword": "plain"})),
    "vm-boot-diagnostics": lambda: replace(good_stack(), VM, _vm_with(
        **{"diagnosticsProfile": {"bootDiagnostics": {"enabled": False}}})),
    "vm-managed-disks": lambda: replace(good_stack(), VM, _vm_with(
        **{"storageProfile.osDisk": {"createOption": "FromImage", "vhd": {"uri": "https://sa/x.vhd"}}})),
}


def preview_stack(hosts=("web-0", "web-1"), **service_over) -> list:
    """Two hosts as a real preview sees them: every host resource's ``connection`` is an unknown secret (it holds
    the VM's not-yet-allocated address) and each host resource depends on its VM, as the fleet wires them."""
    unknown_conn = {SIG: SECRET_SIG, "value": UNKNOWN_STRING}
    out = [lb(), nsg()]
    for h in hosts:
        vm_r = vm(h)
        vm_r[2]["vmName"] = f"{h}-vm"
        out.append((VM, f"{h}-vm", vm_r[2]))
        for typ, name, props in (volume(h), eventlogs(h), service(h, **service_over), service_port(h), quota(h),
                                 baseline(h), dumps(h)):
            props = dict(props, connection=unknown_conn)
            out.append((typ, name, props, [f"{h}-vm"]))
    return out
