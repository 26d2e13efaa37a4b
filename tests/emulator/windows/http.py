"""Placeholder: the ReadinessEndpoints subsystem (see docs/CONTRACTS.md for its owner)."""
from __future__ import annotations


class ReadinessEndpoints:
    def __init__(self, host):
        self.host = host

    def state(self) -> dict:
        return {}
