"""`AzureHosts`: the whole Azure side of a stack, handing the fleet a list of `HostTarget`s.

    hosts = AzureHosts("winfleet", cfg)            # cfg.mode == "azure"
    hosts.hosts                                    # list[HostTarget] (connection Output is secret)
    hosts.load_balancer.frontend_address           # Output[str]
    hosts.service_endpoints["orders-api"]          # ServiceEndpoint: rule/probe names + ids, url
    hosts.outputs                                  # dict registered on the component (and exported):
                                                   # resourceGroupName, winrmHosts, loadBalancerAddress,
                                                   # serviceUrls, winrmCertificatePem
"""
from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_azure_native.authorization as authorization
import pulumi_azure_native.keyvault as keyvault
import pulumi_random as random

from .. import windows_facts as wf
from ..azure.load_balancer import ServiceEndpoint, ServiceLoadBalancer
from ..azure.network import Network, host_private_ip
from ..azure.vm import DATA_DISK_LUN, WindowsVm
from ..azure.winrm_cert import WinrmCertificate
from ..config import WinfleetConfig
from ..targets import HostTarget

# Deployer permissions on the vault (access-policy model): write and rotate the WinRM cert secrets.
DEPLOYER_SECRET_PERMISSIONS = ["get", "list", "set", "delete", "recover"]


class AzureHosts(pulumi.ComponentResource):
    def __init__(self, name: str, cfg: WinfleetConfig, opts: Optional[pulumi.ResourceOptions] = None,
                 *, export: bool = True):
        super().__init__("winfleet:azure:AzureHosts", name, None, opts)
        if cfg.mode != "azure" or cfg.azure is None:
            raise ValueError("AzureHosts needs winfleet:mode 'azure'")
        az = cfg.azure
        child = pulumi.ResourceOptions(parent=self)
        client = authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self))

        self.network = Network(f"{name}-net", cfg, opts=child)
        rg = self.network.resource_group_name
        tags = self.network.tags
        self.load_balancer = ServiceLoadBalancer(f"{name}-lb", cfg, self.network, client.subscription_id,
                                                 opts=child)
        self.service_endpoints: dict[str, ServiceEndpoint] = self.load_balancer.service_endpoints

        # Key Vault enabled for deployment: the compute platform reads the PFX secrets at VM creation.
        self.vault_suffix = random.RandomString(f"{name}-kv-suffix", length=6, upper=False, special=False,
                                                numeric=True, lower=True, opts=child)
        self.vault = keyvault.Vault(
            f"{name}-kv", resource_group_name=rg, location=az.location, tags=tags,
            vault_name=self.vault_suffix.result.apply(lambda s: f"{az.name_prefix}-{s}"),
            properties=keyvault.VaultPropertiesArgs(
                tenant_id=client.tenant_id,
                sku=keyvault.SkuArgs(family="A", name="standard"),
                enabled_for_deployment=True, enabled_for_template_deployment=False,
                enabled_for_disk_encryption=False, enable_rbac_authorization=False,
                enable_soft_delete=True, soft_delete_retention_in_days=az.key_vault_retention_days,
                access_policies=[keyvault.AccessPolicyEntryArgs(
                    tenant_id=client.tenant_id, object_id=client.object_id,
                    permissions=keyvault.PermissionsArgs(secrets=DEPLOYER_SECRET_PERMISSIONS))]),
            opts=child)

        self.vms: list[WindowsVm] = []
        self.certs: list[WinrmCertificate] = []
        self.hosts: list[HostTarget] = []
        for i, host in enumerate(az.host_names()):
            private_ip = host_private_ip(az.subnet_prefix, i)
            vmc = WindowsVm(f"{name}-{host}", cfg, index=i, computer_name=host, resource_group_name=rg,
                            subnet_id=self.network.subnet.id, private_ip=private_ip,
                            backend_pool_id=self.load_balancer.backend_pool_id, tags=tags,
                            opts=pulumi.ResourceOptions(parent=self))
            # CN = computer name (<= 15 chars, well under X.509's 64); clients validate the SANs.
            dns_names: pulumi.Input = [host]
            ips: list = [private_ip]
            if vmc.fqdn is not None:
                dns_names = pulumi.Output.all(vmc.fqdn, host)
                ips = [private_ip, vmc.public_ip]
            # The name we connect by (host) is always in the SAN; tlsServerName says which one to check.
            connect_host = vmc.fqdn if cfg.winrm.connect_via == "public" else pulumi.Output.from_input(private_ip)
            cert = WinrmCertificate(
                f"{name}-{host}-winrm", common_name=host, dns_names=dns_names,
                ip_addresses=pulumi.Output.all(*ips), vault=self.vault, resource_group_name=rg,
                validity_days=az.cert_validity_days, opts=pulumi.ResourceOptions(parent=self))
            vm = vmc.create_vm(cfg, resource_group_name=rg, vault_id=self.vault.id,
                               cert_secret_url=cert.secret_url, tags=tags, depends_on=[cert.secret])
            connection = pulumi.Output.secret(pulumi.Output.all(
                connect_host, vmc.admin_password.result, cert.cert_pem, cert.cert_sha256,
            ).apply(lambda a, host=host: {
                "host": a[0], "port": wf.WINRM_HTTPS_PORT, "username": az.admin_username, "password": a[1],
                "auth": cfg.winrm.auth, "caPem": a[2], "certSha256": a[3], "tlsServerName": a[0],
                "hostName": host, **cfg.winrm.reach()}))
            self.vms.append(vmc)
            self.certs.append(cert)
            self.hosts.append(HostTarget(
                name=host, connection=connection, data_disk={"lun": DATA_DISK_LUN}, depends_on=[vm],
                private_ip=pulumi.Output.from_input(private_ip), public_ip=vmc.public_ip))

        endpoint = lambda h: h.connection.apply(lambda c: f"https://{c['host']}:{c['port']}/wsman")
        self.outputs = {
            "resourceGroupName": rg,
            "winrmHosts": {h.name: {"name": h.name, "winrmEndpoint": pulumi.Output.unsecret(endpoint(h)),
                               "privateIp": h.private_ip, "publicIp": h.public_ip}
                      for h in self.hosts},
            "loadBalancerAddress": self.load_balancer.frontend_address,
            "serviceUrls": {n: e.url for n, e in self.service_endpoints.items()},
            "winrmCertificatePem": {h.name: c.cert_pem for h, c in zip(self.hosts, self.certs)},
        }
        self.register_outputs(self.outputs)
        if export:
            for k, v in self.outputs.items():
                pulumi.export(k, v)
