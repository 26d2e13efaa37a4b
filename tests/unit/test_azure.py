"""The Azure side under Pulumi mocks: resource graph and the inputs the engine receives.

Each scenario runs the component once (module-scoped fixtures) and the tests read the registered
inputs from the mock monitor after the program finished.
"""
from __future__ import annotations

import base64
import copy
import hashlib
import ipaddress
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from components.azure.hosts import AzureHosts
from components.config import parse_config
from tests.unit.conftest import stack_raw
from tests.unit.mocks import OBJECT_ID, TENANT_ID, is_secret_value, resolve, run_program, unwrap

VM = "azure-native:compute:VirtualMachine"
NSG = "azure-native:network:NetworkSecurityGroup"
LB = "azure-native:network:LoadBalancer"
NIC = "azure-native:network:NetworkInterface"
PIP = "azure-native:network:PublicIPAddress"
SECRET = "azure-native:keyvault:Secret"
VAULT = "azure-native:keyvault:Vault"
CERT = "tls:index/selfSignedCert:SelfSignedCert"
KEY = "tls:index/privateKey:PrivateKey"
PW = "random:index/randomPassword:RandomPassword"


def _run(raw: dict):
    cfg = parse_config(raw)
    return cfg, run_program(lambda: AzureHosts("winfleet", cfg))


@pytest.fixture(scope="module")
def example():
    """Pulumi.example.yaml: 2 hosts, 2 services, internal LB, WinRM via public DNS names."""
    return _run(copy.deepcopy(stack_raw("example")))


@pytest.fixture(scope="module")
def variant():
    """Public LB, WinRM over private addresses, no zones, 3 hosts."""
    raw = copy.deepcopy(stack_raw("example"))
    raw["loadBalancer"]["public"] = True
    raw["winrm"] = {"allowedSources": ["10.8.0.0/16"], "connectVia": "private"}
    raw["azure"].update({"zones": [], "hostCount": 3, "clientSources": ["Internet"]})
    raw["rollout"] = {"batchSize": 1}
    return _run(raw)


# ------------------------------------------------------------------------------------------------
# graph
# ------------------------------------------------------------------------------------------------
def test_resource_graph(example):
    cfg, run = example
    count = lambda t: len(run.by_type(t))
    assert count("winfleet:azure:AzureHosts") == 1
    assert count("azure-native:resources:ResourceGroup") == 1
    assert count("azure-native:network:VirtualNetwork") == 1
    assert count("azure-native:network:Subnet") == 1
    assert count("azure-native:network:NatGateway") == 1
    assert count(NSG) == 1 and count(LB) == 1 and count(VAULT) == 1
    assert count(VM) == count(NIC) == count(SECRET) == count(CERT) == count(KEY) == 2
    assert count(PIP) == 1 + 2        # NAT gateway + one per host (connectVia public); LB is internal


def test_every_resource_is_parented_to_the_component(example):
    _, run = example
    (top,) = [u for u in run.urns() if u.endswith("winfleet:azure:AzureHosts::winfleet")]
    others = [u for u in run.urns() if u != top]
    assert len(others) > 20
    for urn in others:
        assert top in run.ancestors(urn), urn
    # cloud resources sit under a typed sub-component (Network, LoadBalancer, WindowsVm, WinrmCertificate)
    for urn in others:
        if "azure-native:network:NetworkInterface" in urn or "azure-native:compute:VirtualMachine" in urn:
            assert run.ancestors(urn)[0].split("::")[-2].endswith("winfleet:azure:WindowsVm"), urn


def test_subnet_has_nsg_and_nat_gateway(example):
    _, run = example
    subnet = run.one("azure-native:network:Subnet").plain
    nsg, nat = run.one(NSG), run.one("azure-native:network:NatGateway")
    assert subnet["networkSecurityGroup"]["id"] == nsg.id
    assert subnet["natGateway"]["id"] == nat.id
    assert subnet["addressPrefix"] == "10.40.1.0/24"
    nat_ip = run.one(PIP, "winfleet-net-nat-ip")
    assert [p["id"] for p in nat.plain["publicIpAddresses"]] == [nat_ip.id]
    assert nat_ip.plain["sku"]["name"] == "Standard" and nat_ip.plain["publicIPAllocationMethod"] == "Static"
    assert subnet["defaultOutboundAccess"] is False        # outbound only through the NAT gateway


# ------------------------------------------------------------------------------------------------
# NSG
# ------------------------------------------------------------------------------------------------
def _rules(run):
    return run.one(NSG).plain["securityRules"]


def _sources(rule):
    return rule.get("sourceAddressPrefixes") or [rule["sourceAddressPrefix"]]


def _ports(rule):
    return rule.get("destinationPortRanges") or [rule["destinationPortRange"]]


def test_nsg_winrm_only_from_configured_sources(example):
    cfg, run = example
    allows = [r for r in _rules(run) if r["access"] == "Allow" and "5986" in _ports(r)]
    assert len(allows) == 1
    (r,) = allows
    assert r["protocol"] == "Tcp" and r["direction"] == "Inbound"
    assert sorted(_sources(r)) == sorted(cfg.winrm.allowed_sources) == ["198.51.100.7/32", "203.0.113.0/28"]


def test_nsg_service_ports_only_from_lb_and_clients(example):
    cfg, run = example
    for s in cfg.services:
        allows = [r for r in _rules(run) if r["access"] == "Allow" and str(s.port) in _ports(r)]
        srcs = sorted(x for r in allows for x in _sources(r))
        assert srcs == sorted(["AzureLoadBalancer", *cfg.azure.client_sources]), s.name
        assert all(r["protocol"] == "Tcp" for r in allows)


def test_nsg_never_allows_management_ports_and_denies_the_rest(example):
    _, run = example
    rules = _rules(run)
    for r in rules:
        if r["access"] == "Allow":
            assert not {"22", "3389", "5985", "*"} & set(_ports(r)), r["name"]
            assert not {"*", "Internet", "0.0.0.0/0", "::/0"} & set(_sources(r)), r["name"]
    deny_mgmt = next(r for r in rules if r["name"] == "deny-mgmt-from-internet")
    assert deny_mgmt["access"] == "Deny" and set(_ports(deny_mgmt)) == {"22", "3389", "5985"}
    last = max(rules, key=lambda r: r["priority"])
    assert last["priority"] == 4096 and last["access"] == "Deny" and last["direction"] == "Inbound"
    assert last["sourceAddressPrefix"] == "*" and last["destinationPortRange"] == "*" and last["protocol"] == "*"
    assert all(r["priority"] < 4096 for r in rules if r["access"] == "Allow")
    assert len({r["priority"] for r in rules}) == len(rules)


# ------------------------------------------------------------------------------------------------
# load balancer
# ------------------------------------------------------------------------------------------------
def test_lb_probes_are_http_on_readiness_paths(example):
    cfg, run = example
    lb = run.one(LB).plain
    assert lb["sku"]["name"] == "Standard"
    probes = {p["name"]: p for p in lb["probes"]}
    assert len(probes) == len(cfg.services)
    for s in cfg.services:
        p = probes[f"ready-{s.name}"]
        assert p["protocol"] == "Http"
        assert p["port"] == s.port
        assert p["requestPath"] == s.readiness_path
        assert p["intervalInSeconds"] == cfg.load_balancer.probe_interval_seconds
        assert p["probeThreshold"] == cfg.load_balancer.unhealthy_threshold
        # issue 14 item 6: the safe default keeps traffic flowing when every backend is probed down
        assert p["noHealthyBackendsBehavior"] == "AllProbedUp"
    assert probes["ready-billing-worker"]["requestPath"] == "/ready"


def test_lb_no_healthy_backends_behavior_follows_config():
    raw = copy.deepcopy(stack_raw("example"))
    raw["loadBalancer"]["noHealthyBackendsBehavior"] = "AllProbedDown"
    _cfg, run = _run(raw)
    lb = run.one(LB).plain
    assert {p["noHealthyBackendsBehavior"] for p in lb["probes"]} == {"AllProbedDown"}


def test_lb_no_healthy_backends_behavior_rejects_other_values():
    from components.config import ConfigError, parse_config
    raw = copy.deepcopy(stack_raw("example"))
    raw["loadBalancer"]["noHealthyBackendsBehavior"] = "AllProbedSideways"
    with pytest.raises(ConfigError) as e:
        parse_config(raw)
    assert any(p.path == "winfleet:loadBalancer.noHealthyBackendsBehavior" for p in e.value.problems)


def test_lb_one_rule_per_service_wired_to_its_probe(example):
    cfg, run = example
    lb = run.one(LB).plain
    rules = {r["name"]: r for r in lb["loadBalancingRules"]}
    assert len(rules) == len(cfg.services)
    pool_suffix = "/backendAddressPools/hosts"
    for s in cfg.services:
        r = rules[f"svc-{s.name}"]
        assert r["protocol"] == "Tcp" and r["frontendPort"] == r["backendPort"] == s.port
        assert r["probe"]["id"].endswith(f"/loadBalancers/{lb['loadBalancerName']}/probes/ready-{s.name}")
        assert r["backendAddressPool"]["id"].endswith(pool_suffix)
        assert r["frontendIPConfiguration"]["id"].endswith("/frontendIPConfigurations/frontend")
        assert r["disableOutboundSnat"] is True
    assert [p["name"] for p in lb["backendAddressPools"]] == ["hosts"]
    # internal by config: static private frontend in the hosts subnet
    (fe,) = lb["frontendIPConfigurations"]
    assert fe["privateIPAddress"] == "10.40.1.5" and "subnet" in fe and "publicIPAddress" not in fe


def test_every_host_nic_is_in_the_backend_pool(example):
    _, run = example
    lb = run.one(LB).plain
    nics = run.by_type(NIC)
    assert len(nics) == 2
    for nic in nics:
        (ipc,) = nic.plain["ipConfigurations"]
        (pool,) = ipc["loadBalancerBackendAddressPools"]
        assert pool["id"].endswith(f"/loadBalancers/{lb['loadBalancerName']}/backendAddressPools/hosts")
        assert pool["id"] == run.one(LB).id + "/backendAddressPools/hosts"   # derived from the LB: NIC waits for it
        assert ipc["privateIPAllocationMethod"] == "Static"


def test_public_lb_variant(variant):
    cfg, run = variant
    lb = run.one(LB).plain
    (fe,) = lb["frontendIPConfigurations"]
    lb_ip = [p for p in run.by_type(PIP) if p.name == "winfleet-lb-ip"]
    assert len(lb_ip) == 1 and fe["publicIPAddress"]["id"] == lb_ip[0].id
    # WinRM via private addresses: no per-host public IPs, NICs have none
    assert len(run.by_type(PIP)) == 2          # NAT + LB
    assert all("publicIPAddress" not in n.plain["ipConfigurations"][0] for n in run.by_type(NIC))
    assert all("zones" not in v.plain for v in run.by_type(VM))


# ------------------------------------------------------------------------------------------------
# VMs
# ------------------------------------------------------------------------------------------------
def _secret_url_of(run, host):
    sec = next(s for s in run.by_type(SECRET) if s.name == f"winfleet-{host}-winrm-secret")
    return unwrap(sec.state)["properties"]["secretUriWithVersion"], sec


def test_vm_inputs(example):
    cfg, run = example
    vault = run.one(VAULT)
    for i, host in enumerate(["go-0", "go-1"]):
        vm_reg = run.one(VM, f"winfleet-{host}-vm")
        vm = vm_reg.plain
        assert vm["vmName"] == host and vm["location"] == "westeurope"
        assert vm["zones"] == [cfg.azure.zones[i % 2]]
        assert vm["hardwareProfile"]["vmSize"] == "Standard_D2s_v5"
        assert vm["identity"]["type"] == "SystemAssigned"
        assert vm["diagnosticsProfile"]["bootDiagnostics"]["enabled"] is True
        sp = vm["storageProfile"]
        assert sp["imageReference"] == {"publisher": "MicrosoftWindowsServer", "offer": "WindowsServer",
                                        "sku": "2022-datacenter-azure-edition", "version": "latest"}
        assert sp["osDisk"]["createOption"] == "FromImage"
        assert sp["osDisk"]["managedDisk"]["storageAccountType"] == "Premium_LRS"
        (dd,) = sp["dataDisks"]
        assert dd["lun"] == 0 and dd["createOption"] == "Empty" and dd["diskSizeGB"] == 64
        assert dd["managedDisk"]["storageAccountType"] == "Premium_LRS" and dd["caching"] == "None"
        assert dd["deleteOption"] == "Delete" and sp["osDisk"]["osType"] == "Windows"
        osp = vm["osProfile"]
        assert osp["computerName"] == host and osp["adminUsername"] == "winfleetadmin"
        wc = osp["windowsConfiguration"]
        assert wc["provisionVMAgent"] is True and wc["enableAutomaticUpdates"] is True
        assert wc["patchSettings"]["patchMode"] == "AutomaticByPlatform"
        # the WinRM listener and osProfile.secrets carry the same versioned Key Vault URL
        url, _ = _secret_url_of(run, host)
        (listener,) = wc["winRM"]["listeners"]
        assert listener["protocol"] == "Https" and listener["certificateUrl"] == url
        (group,) = osp["secrets"]
        assert group["sourceVault"]["id"] == vault.id
        (vc,) = group["vaultCertificates"]
        assert vc == {"certificateStore": "My", "certificateUrl": url}
        assert url.startswith(f"https://{vault.state['name']}.vault.azure.net/secrets/")
        assert len(url.rsplit("/", 1)[1]) == 32        # versioned
        assert vm["securityProfile"]["securityType"] == "TrustedLaunch"


def test_admin_password_is_a_random_secret(example):
    _, run = example
    pws = {p.name: p.state["result"] for p in run.by_type(PW)}
    for host in ["go-0", "go-1"]:
        raw = run.one(VM, f"winfleet-{host}-vm").inputs["osProfile"]
        # the SDK lifts a nested secret to the top-level property: the engine sees osProfile as a secret
        assert is_secret_value(raw), "admin password reached the engine in clear"
        assert unwrap(raw)["adminPassword"] == pws[f"winfleet-{host}-admin-pw"]
    a, b = (pws["winfleet-go-0-admin-pw"], pws["winfleet-go-1-admin-pw"])
    assert a != b and len(a) == 24


def test_key_vault_enabled_for_deployment(example):
    _, run = example
    props = run.one(VAULT).plain["properties"]
    assert props["enabledForDeployment"] is True
    assert props["tenantId"] == TENANT_ID
    (ap,) = props["accessPolicies"]
    assert ap["objectId"] == OBJECT_ID and "set" in ap["permissions"]["secrets"]
    assert props["enableSoftDelete"] is True


def test_key_vault_secret_is_the_pfx_json_azure_expects(example):
    _, run = example
    for host in ["go-0", "go-1"]:
        url, sec = _secret_url_of(run, host)
        value = sec.inputs["properties"]
        assert is_secret_value(value), "PFX secret value reached the engine in clear"
        props = unwrap(value)
        assert props["contentType"] == "application/x-pkcs12"
        doc = json.loads(base64.b64decode(props["value"]).decode("utf-8"))
        assert set(doc) == {"data", "dataType", "password"} and doc["dataType"] == "pfx"
        pfx_pw = next(p.state["result"] for p in run.by_type(PW) if p.name == f"winfleet-{host}-winrm-pfx-pw")
        assert doc["password"] == pfx_pw
        key, cert, extra = pkcs12.load_key_and_certificates(base64.b64decode(doc["data"]), pfx_pw.encode())
        tls_cert = next(c for c in run.by_type(CERT) if c.name == f"winfleet-{host}-winrm-cert")
        assert cert == x509.load_pem_x509_certificate(tls_cert.state["certPem"].encode())
        assert key.public_key().public_numbers() == cert.public_key().public_numbers()
        with pytest.raises(ValueError):
            pkcs12.load_key_and_certificates(base64.b64decode(doc["data"]), b"wrong password")


def test_certificate_names_match_how_we_connect(example, variant):
    for (cfg, run), expect_public in ((example, True), (variant, False)):
        for t in run.value.hosts:
            conn, secret = resolve(t.connection)
            assert secret
            cert = x509.load_pem_x509_certificate(conn["caPem"].encode())
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            dns = san.get_values_for_type(x509.DNSName)
            ips = [str(i) for i in san.get_values_for_type(x509.IPAddress)]
            assert conn["tlsServerName"] == conn["host"]
            if expect_public:
                assert conn["host"] == f"wfexample-acme-{t.name}.westeurope.cloudapp.azure.com"
                assert conn["host"] in dns and resolve(t.public_ip)[0] in ips
            else:
                ipaddress.ip_address(conn["host"])
                assert conn["host"] in ips and t.public_ip is None
            cert_reg = next(c for c in run.by_type(CERT) if c.name == f"winfleet-{t.name}-winrm-cert")
            assert "server_auth" in cert_reg.plain["allowedUses"]
            key_reg = next(k for k in run.by_type(KEY) if k.name == f"winfleet-{t.name}-winrm-key")
            assert key_reg.plain["algorithm"] == "RSA" and key_reg.plain["rsaBits"] >= 2048
            assert cert_reg.plain.get("isCaCertificate") in (False, None)


# ------------------------------------------------------------------------------------------------
# HostTargets and outputs
# ------------------------------------------------------------------------------------------------
CONNECTION_KEYS = {"host", "port", "username", "password", "auth", "caPem", "certSha256", "tlsServerName",
                   "hostName", "reachBudgetSeconds", "reachBackoffSeconds"}


def test_host_targets_follow_the_connection_contract(example):
    cfg, run = example
    hosts = run.value.hosts
    assert [h.name for h in hosts] == ["go-0", "go-1"]
    pws = {p.name: p.state["result"] for p in run.by_type(PW)}
    for h in hosts:
        conn, secret = resolve(h.connection)
        assert secret and set(conn) == CONNECTION_KEYS
        assert conn["port"] == 5986 and conn["auth"] == "ntlm" and conn["username"] == "winfleetadmin"
        assert conn["password"] == pws[f"winfleet-{h.name}-admin-pw"]
        cert_pem = next(c for c in run.by_type(CERT) if c.name == f"winfleet-{h.name}-winrm-cert").state["certPem"]
        assert conn["caPem"] == cert_pem
        der = x509.load_pem_x509_certificate(cert_pem.encode()).public_bytes(serialization.Encoding.DER)
        assert conn["certSha256"] == hashlib.sha256(der).hexdigest()
        assert conn["hostName"] == h.name
        assert h.data_disk == {"lun": 0}
        assert [type(r).__name__ for r in h.depends_on] == ["VirtualMachine"]
        assert resolve(h.private_ip)[0] in ("10.40.1.10", "10.40.1.11")


def test_service_endpoints_for_the_fleet(example):
    cfg, run = example
    eps = run.value.service_endpoints
    assert set(eps) == {"orders-api", "billing-worker"}
    ep = eps["billing-worker"]
    assert ep.probe == {"protocol": "Http", "port": 9090, "requestPath": "/ready", "intervalInSeconds": 5,
                        "probeThreshold": 2, "numberOfProbes": 2, "noHealthyBackendsBehavior": "AllProbedUp"}
    assert resolve(ep.url)[0] == "http://10.40.1.5:9090/"
    assert resolve(ep.probe_id)[0].endswith("/probes/ready-billing-worker")
    assert resolve(run.value.load_balancer.frontend_address)[0] == "10.40.1.5"


def test_stack_outputs(example):
    cfg, run = example
    ex = run.exports
    assert set(ex) == {"resourceGroupName", "winrmHosts", "loadBalancerAddress", "serviceUrls", "winrmCertificatePem"}
    hosts, secret = resolve(ex["winrmHosts"])
    assert not secret       # endpoints and addresses are not secrets
    assert hosts["go-0"]["winrmEndpoint"] == "https://wfexample-acme-go-0.westeurope.cloudapp.azure.com:5986/wsman"
    assert hosts["go-1"]["privateIp"] == "10.40.1.11" and hosts["go-1"]["publicIp"].startswith("20.50.")
    assert resolve(ex["serviceUrls"])[0] == {"orders-api": "http://10.40.1.5:8080/",
                                             "billing-worker": "http://10.40.1.5:9090/"}
    pems = resolve(ex["winrmCertificatePem"])[0]
    assert set(pems) == {"go-0", "go-1"} and all(p.startswith("-----BEGIN CERTIFICATE-----") for p in pems.values())
    assert resolve(ex["loadBalancerAddress"])[0] == "10.40.1.5"


def test_public_lb_outputs(variant):
    _, run = variant
    addr = resolve(run.exports["loadBalancerAddress"])[0]
    assert addr.startswith("20.50.")
    assert resolve(run.exports["serviceUrls"])[0]["orders-api"] == f"http://{addr}:8080/"
    assert resolve(run.exports["winrmHosts"])[0]["go-2"]["winrmEndpoint"] == "https://10.40.1.12:5986/wsman"
