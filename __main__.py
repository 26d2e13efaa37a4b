"""winfleet: the Pulumi program. Reads the `winfleet:` stack config and builds the fleet."""
import pulumi

from components.config import load_config
from components.fleet import Fleet

fleet = Fleet("winfleet", load_config())

# Per service: serviceUrl (the load balancer's, Azure mode), roll-out batches, and per host the
# SCM state seen by the last apply + the readiness URL. (AzureHosts exports the Azure-side outputs.)
pulumi.export("services", fleet.outputs["services"])
pulumi.export("fleetHosts", fleet.outputs["hosts"])
