"""Resource group, VNet, subnet, NAT gateway (outbound for binary downloads) and the NSG.

`nsg_rules(cfg)` is a pure function (plain dicts in engine camelCase) so tests and the policy pack can
reason about the exact rule set; `Network` turns it into `SecurityRuleArgs`.
"""
from __future__ import annotations

import ipaddress
from typing import Optional

import pulumi
import pulumi_azure_native.network as network
import pulumi_azure_native.resources as resources

from .. import windows_facts as wf
from ..config import WinfleetConfig

# Private address layout inside the subnet (host offsets are also checked in components/config.py).
LB_FRONTEND_OFFSET = 5
HOST_OFFSET = 10

PRIORITY_WINRM = 100
PRIORITY_LB_PROBE = 200      # + service index
PRIORITY_CLIENTS = 300       # + service index
PRIORITY_DENY_MGMT = 4000
PRIORITY_DENY_ALL = 4096     # the lowest user priority Azure allows


def host_private_ip(subnet_prefix: str, index: int) -> str:
    net = ipaddress.ip_network(subnet_prefix)
    return str(net.network_address + HOST_OFFSET + index)


def lb_private_ip(subnet_prefix: str) -> str:
    net = ipaddress.ip_network(subnet_prefix)
    return str(net.network_address + LB_FRONTEND_OFFSET)


def _sources(values: list[str]) -> dict:
    return {"sourceAddressPrefix": values[0]} if len(values) == 1 else {"sourceAddressPrefixes": list(values)}


def nsg_rules(cfg: WinfleetConfig) -> list[dict]:
    """Inbound rules: 5986 from winrm.allowedSources; each service port from AzureLoadBalancer and
    azure.clientSources; explicit deny of 22/3389/5985 from the Internet; deny everything else."""
    az = cfg.azure
    rules: list[dict] = [{
        "name": "allow-winrm-https", "priority": PRIORITY_WINRM, "direction": "Inbound", "access": "Allow",
        "protocol": "Tcp", **_sources(cfg.winrm.allowed_sources), "sourcePortRange": "*",
        "destinationAddressPrefix": "VirtualNetwork", "destinationPortRange": str(wf.WINRM_HTTPS_PORT),
        "description": "WinRM over HTTPS from winfleet:winrm.allowedSources only",
    }]
    for i, svc in enumerate(cfg.services):
        rules.append({
            "name": f"allow-lb-probe-{svc.name}", "priority": PRIORITY_LB_PROBE + i, "direction": "Inbound",
            "access": "Allow", "protocol": "Tcp", "sourceAddressPrefix": "AzureLoadBalancer",
            "sourcePortRange": "*", "destinationAddressPrefix": "VirtualNetwork",
            "destinationPortRange": str(svc.port),
            "description": f"Load balancer health probe to {svc.name} ({svc.readiness_path})",
        })
        if az.client_sources:
            rules.append({
                "name": f"allow-clients-{svc.name}", "priority": PRIORITY_CLIENTS + i, "direction": "Inbound",
                "access": "Allow", "protocol": "Tcp", **_sources(az.client_sources), "sourcePortRange": "*",
                "destinationAddressPrefix": "VirtualNetwork", "destinationPortRange": str(svc.port),
                "description": f"Clients of {svc.name} from winfleet:azure.clientSources",
            })
    rules.append({
        "name": "deny-mgmt-from-internet", "priority": PRIORITY_DENY_MGMT, "direction": "Inbound",
        "access": "Deny", "protocol": "Tcp", "sourceAddressPrefix": "Internet", "sourcePortRange": "*",
        "destinationAddressPrefix": "*",
        "destinationPortRanges": [str(wf.SSH_PORT), str(wf.RDP_PORT), str(wf.WINRM_HTTP_PORT)],
        "description": "Never SSH, RDP or WinRM/HTTP from the Internet",
    })
    rules.append({
        "name": "deny-all-inbound", "priority": PRIORITY_DENY_ALL, "direction": "Inbound", "access": "Deny",
        "protocol": "*", "sourceAddressPrefix": "*", "sourcePortRange": "*",
        "destinationAddressPrefix": "*", "destinationPortRange": "*",
        "description": "Everything not allowed above (overrides Azure's default AllowVnetInBound)",
    })
    return rules


_SNAKE = {
    "sourceAddressPrefix": "source_address_prefix", "sourceAddressPrefixes": "source_address_prefixes",
    "sourcePortRange": "source_port_range", "destinationAddressPrefix": "destination_address_prefix",
    "destinationPortRange": "destination_port_range", "destinationPortRanges": "destination_port_ranges",
}


def _rule_args(rule: dict) -> network.SecurityRuleArgs:
    return network.SecurityRuleArgs(**{_SNAKE.get(k, k): v for k, v in rule.items()})


class Network(pulumi.ComponentResource):
    """RG + VNet + subnet (NSG and NAT gateway attached) for the hosts and the internal LB frontend."""

    def __init__(self, name: str, cfg: WinfleetConfig, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("winfleet:azure:Network", name, None, opts)
        az = cfg.azure
        child = pulumi.ResourceOptions(parent=self)
        tags = {"managed-by": "winfleet", **az.tags}
        self.tags = tags
        rg_args = dict(location=az.location, tags=tags)
        if az.resource_group_name:
            rg_args["resource_group_name"] = az.resource_group_name
        self.resource_group = resources.ResourceGroup(f"{name}-rg", **rg_args, opts=child)
        rg = self.resource_group.name
        self.resource_group_name = rg
        self.location = az.location

        self.vnet = network.VirtualNetwork(
            f"{name}-vnet", resource_group_name=rg, location=az.location, tags=tags,
            address_space=network.AddressSpaceArgs(address_prefixes=[az.vnet_address_space]), opts=child)

        # Outbound: NAT gateway with a static Standard public IP (hosts download service binaries).
        self.nat_ip = network.PublicIPAddress(
            f"{name}-nat-ip", resource_group_name=rg, location=az.location, tags=tags,
            sku=network.PublicIPAddressSkuArgs(name="Standard", tier="Regional"),
            public_ip_allocation_method="Static", public_ip_address_version="IPv4", opts=child)
        self.nat_gateway = network.NatGateway(
            f"{name}-nat", resource_group_name=rg, location=az.location, tags=tags,
            sku=network.NatGatewaySkuArgs(name="Standard"), idle_timeout_in_minutes=10,
            public_ip_addresses=[network.SubResourceArgs(id=self.nat_ip.id)], opts=child)

        self.rules = nsg_rules(cfg)
        self.nsg = network.NetworkSecurityGroup(
            f"{name}-nsg", resource_group_name=rg, location=az.location, tags=tags,
            security_rules=[_rule_args(r) for r in self.rules], opts=child)

        self.subnet = network.Subnet(
            f"{name}-hosts", resource_group_name=rg, virtual_network_name=self.vnet.name,
            address_prefix=az.subnet_prefix,
            network_security_group=network.NetworkSecurityGroupArgs(id=self.nsg.id),
            nat_gateway=network.SubResourceArgs(id=self.nat_gateway.id),
            default_outbound_access=False, opts=child)

        self.register_outputs({"resourceGroupName": rg, "subnetId": self.subnet.id, "nsgId": self.nsg.id})
