"""docs/policies.md lists every policy with the pack's own level and severity."""
from pathlib import Path

from tests.policies import harness as h

DOC = (Path(__file__).resolve().parents[2] / "docs" / "policies.md").read_text()


def test_every_policy_documented_with_level_and_severity():
    rows = {line.split("|")[1].strip().strip("`"): [c.strip() for c in line.split("|")[1:-1]]
            for line in DOC.splitlines() if line.startswith("| `")}
    for name, policy in h.POLICIES.items():
        assert name in rows, name
        cells = rows[name]
        assert cells[2] == policy.enforcement_level.value, name
        assert cells[3] == policy.severity.value, name
        for key in (policy.config_schema.properties if policy.config_schema else {}):
            assert f"`{key}`" in cells[5], (name, key)
