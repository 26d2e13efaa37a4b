"""The Azure side of winfleet: network + NSG, load balancer + readiness probes, WinRM cert in Key Vault, VMs.

`AzureHosts(name, cfg, opts)` is the entry point (see components/azure/hosts.py)."""
from ..azure.hosts import AzureHosts
from ..azure.load_balancer import ServiceEndpoint

__all__ = ["AzureHosts", "ServiceEndpoint"]
