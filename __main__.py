"""winfleet: the Pulumi program. Reads the `winfleet:` stack config and builds the fleet."""
from components.config import load_config
from components.fleet import Fleet

Fleet("winfleet", load_config())
