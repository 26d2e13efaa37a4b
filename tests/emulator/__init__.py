"""The Windows host emulator: HTTPS WS-Management servers backed by a HostModel (see README.md)."""
from .lab import Lab
from .server import Counters, EmulatedHost, Faults, Limits

__all__ = ["Lab", "EmulatedHost", "Limits", "Faults", "Counters"]
