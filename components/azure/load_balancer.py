"""Standard load balancer (public or internal): frontend, one backend pool with every host, and per Go
service one HTTP readiness probe (port = service port, path = readinessPath) and one TCP rule."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_azure_native.network as network

from ..azure.network import Network, lb_private_ip
from ..config import ServiceConfig, WinfleetConfig

FRONTEND = "frontend"
POOL = "hosts"


@dataclass
class ServiceEndpoint:
    """What the fleet needs about one service behind the LB."""
    name: str
    port: int
    rule_name: str
    probe_name: str
    probe: dict                  # {"protocol": "Http", "port", "requestPath", "intervalInSeconds", "probeThreshold",
                                 #  "numberOfProbes", "noHealthyBackendsBehavior"}
    rule_id: pulumi.Output[str]
    probe_id: pulumi.Output[str]
    url: pulumi.Output[str]      # http://<frontend address>:<port>/


def probe_spec(cfg: WinfleetConfig, svc: ServiceConfig) -> dict:
    lb = cfg.load_balancer
    return {"protocol": "Http", "port": svc.port, "requestPath": svc.readiness_path,
            "intervalInSeconds": lb.probe_interval_seconds, "probeThreshold": lb.unhealthy_threshold,
            "numberOfProbes": lb.unhealthy_threshold, "noHealthyBackendsBehavior": lb.no_healthy_backends_behavior}


class ServiceLoadBalancer(pulumi.ComponentResource):
    def __init__(self, name: str, cfg: WinfleetConfig, net: Network, subscription_id: pulumi.Input[str],
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("winfleet:azure:LoadBalancer", name, None, opts)
        az = cfg.azure
        child = pulumi.ResourceOptions(parent=self)
        rg = net.resource_group_name
        self.lb_name = f"{az.name_prefix}-lb"
        # No explicit zones on the frontend: in zonal regions Azure makes it zone-redundant by default.

        if cfg.load_balancer.public:
            self.public_ip = network.PublicIPAddress(
                f"{name}-ip", resource_group_name=rg, location=az.location, tags=net.tags,
                sku=network.PublicIPAddressSkuArgs(name="Standard", tier="Regional"),
                public_ip_allocation_method="Static", public_ip_address_version="IPv4", opts=child)
            frontend = network.FrontendIPConfigurationArgs(
                name=FRONTEND, public_ip_address=network.PublicIPAddressArgs(id=self.public_ip.id))
            self.frontend_address: pulumi.Output[str] = self.public_ip.ip_address
        else:
            self.public_ip = None
            addr = lb_private_ip(az.subnet_prefix)
            frontend = network.FrontendIPConfigurationArgs(
                name=FRONTEND, subnet=network.SubnetArgs(id=net.subnet.id),
                private_ip_allocation_method="Static", private_ip_address=addr,
                private_ip_address_version="IPv4")
            self.frontend_address = pulumi.Output.from_input(addr)

        base = pulumi.Output.all(subscription_id, rg).apply(
            lambda a: f"/subscriptions/{a[0]}/resourceGroups/{a[1]}/providers/Microsoft.Network/"
                      f"loadBalancers/{self.lb_name}")
        self.id_base = base

        def sub_id(kind: str, item: str) -> pulumi.Output[str]:
            return base.apply(lambda b: f"{b}/{kind}/{item}")

        pool_id = sub_id("backendAddressPools", POOL)
        probes, rules = [], []
        self.service_endpoints: dict[str, ServiceEndpoint] = {}
        for svc in cfg.services:
            spec = probe_spec(cfg, svc)
            probe_name, rule_name = f"ready-{svc.name}", f"svc-{svc.name}"
            probes.append(network.ProbeArgs(
                name=probe_name, protocol=spec["protocol"], port=spec["port"], request_path=spec["requestPath"],
                interval_in_seconds=spec["intervalInSeconds"], probe_threshold=spec["probeThreshold"],
                number_of_probes=spec["numberOfProbes"],
                no_healthy_backends_behavior=spec["noHealthyBackendsBehavior"]))
            rules.append(network.LoadBalancingRuleArgs(
                name=rule_name, protocol="Tcp", frontend_port=svc.port, backend_port=svc.port,
                frontend_ip_configuration=network.SubResourceArgs(id=sub_id("frontendIPConfigurations", FRONTEND)),
                backend_address_pool=network.SubResourceArgs(id=pool_id),
                probe=network.SubResourceArgs(id=sub_id("probes", probe_name)),
                enable_tcp_reset=True, disable_outbound_snat=True, enable_floating_ip=False,
                idle_timeout_in_minutes=cfg.load_balancer.idle_timeout_minutes, load_distribution="Default"))
            self.service_endpoints[svc.name] = ServiceEndpoint(
                name=svc.name, port=svc.port, rule_name=rule_name, probe_name=probe_name, probe=spec,
                rule_id=None, probe_id=None,   # set from the LB's id below
                url=self.frontend_address.apply(lambda a, p=svc.port: f"http://{a}:{p}/"))

        self.load_balancer = network.LoadBalancer(
            f"{name}", load_balancer_name=self.lb_name, resource_group_name=rg, location=az.location,
            tags=net.tags, sku=network.LoadBalancerSkuArgs(name="Standard", tier="Regional"),
            frontend_ip_configurations=[frontend],
            backend_address_pools=[network.BackendAddressPoolArgs(name=POOL)],
            probes=probes, load_balancing_rules=rules, opts=child)
        # References for other resources derive from the created LB's id, so they wait for it.
        lb_id = self.load_balancer.id
        self.backend_pool_id = lb_id.apply(lambda i: f"{i}/backendAddressPools/{POOL}")
        for ep in self.service_endpoints.values():
            ep.rule_id = lb_id.apply(lambda i, r=ep.rule_name: f"{i}/loadBalancingRules/{r}")
            ep.probe_id = lb_id.apply(lambda i, p=ep.probe_name: f"{i}/probes/{p}")
        self.register_outputs({"frontendAddress": self.frontend_address,
                               "serviceUrls": {n: e.url for n, e in self.service_endpoints.items()}})
