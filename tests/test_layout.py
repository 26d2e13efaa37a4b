"""The project's top level is what the design card fixes."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_top_level_layout():
    for name in ["Pulumi.yaml", "__main__.py", "components", "scripts", "policies", "tests", "Makefile", ".ci/run"]:
        assert (ROOT / name).exists(), name
