"""Every `winfleet:` config key that a policy's remediation (or the docs) tells a user to change exists.

Read from the real pack process (GetAnalyzerInfo), so what is checked is what the CLI shows."""
from __future__ import annotations

import re
from pathlib import Path

from components.config import config_key_templates

ROOT = Path(__file__).resolve().parents[2]
KEY = re.compile(r"(?<![#\w])winfleet:([A-Za-z][A-Za-z0-9]*(?:(?:\[\d*\])|(?:\.<?[A-Za-z][A-Za-z0-9_-]*>?))*)")


def _segments(path: str) -> list[str]:
    return [s for s in re.split(r"\.|(\[\d*\])", path) if s]


def key_exists(path: str, templates: set[str]) -> bool:
    want = ["[]" if re.fullmatch(r"\[\d*\]", s) else s for s in _segments(path)]
    if len(want) > 1 and want[-1] == "[]" and key_exists_exact(want[:-1], templates):
        return True          # an element of a list of scalars: winrm.allowedSources[0]
    return key_exists_exact(want, templates)


def key_exists_exact(want: list[str], templates: set[str]) -> bool:
    for tpl in templates:
        have = _segments(tpl)
        if len(have) == len(want) and all(h == w or (h == "<key>" and w != "[]") for h, w in zip(have, want)):
            return True
    return False


def test_key_matcher_has_teeth():
    t = config_key_templates()
    assert key_exists("services[].recovery.actions", t) and key_exists("eventLogs.Security.maxSizeKb", t)
    assert not key_exists("baseline.disable", t) and not key_exists("loadBalancer.probeThreshold", t)


def test_every_key_a_remediation_names_exists(pack):
    templates = config_key_templates()
    info = pack.info()
    named, missing = 0, []
    for p in info["policies"]:
        for key in KEY.findall(p["remediationSteps"]):
            named += 1
            if not key_exists(key, templates):
                missing.append(f"{p['name']}: winfleet:{key}")
    assert not missing, missing
    assert named >= 20   # the remediations do name keys


def test_remediations_of_winfleet_settings_name_a_key(pack):
    # Policies about what winfleet configures (not about Azure resources a user brings) say which key to change.
    azure_shapes = {"winrm-https-only", "vm-boot-diagnostics", "vm-managed-disks", "crash-dumps-gotraceback"}
    for p in pack.info()["policies"]:
        if p["name"] not in azure_shapes:
            assert KEY.search(p["remediationSteps"]), p["name"]


def test_every_key_the_docs_name_exists():
    templates = config_key_templates()
    missing = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for key in KEY.findall(doc.read_text(encoding="utf-8")):
            if not key_exists(key, templates):
                missing.append(f"{doc.name}: winfleet:{key}")
    assert not missing, missing
