"""winfleet CrossGuard policy pack. Only assembles the pack: the rules live in winfleet_policies/.

Run with `pulumi preview --policy-pack policies` or offline with `make preview` (tools/offline_gate.py).
"""
from pulumi_policy import EnforcementLevel, PolicyPack

from winfleet_policies import PACK_DESCRIPTION, PACK_NAME, all_policies

PolicyPack(
    name=PACK_NAME,
    description=PACK_DESCRIPTION,
    display_name="winfleet",
    enforcement_level=EnforcementLevel.ADVISORY,
    policies=all_policies(),
    provider="azure-native",
    tags=["windows", "winrm", "azure", "go"],
)
