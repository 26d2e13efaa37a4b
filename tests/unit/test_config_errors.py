"""Config errors a person can act on, that never echo a secret: the nearest key for a typo, a misspelled
namespace refused, cross-key problems in the same round, numbers where `pulumi config set --path`
stores numbers, values printed only for known non-secret scalar fields, stack files read strictly."""
from __future__ import annotations

import copy
import time

import pytest

from components.config import (ConfigError, MAX_STACK_NODES, StackFileError, config_key_templates,
                               load_config_file, load_stack_yaml, parse_config, plaintext_secret_paths)
from tests.unit.fleet_fixtures import existing_raw

SECRET = "Hunter2-Very-Secret-Value"


def fresh(n: int = 1) -> dict:
    return copy.deepcopy(existing_raw(n))     # existing_raw shares its service dicts between calls


def problems(raw: dict) -> list:
    with pytest.raises(ConfigError) as ei:
        parse_config(raw)
    return ei.value.problems


def message(raw: dict) -> str:
    with pytest.raises(ConfigError) as ei:
        parse_config(raw)
    return str(ei.value)


# --- the nearest key ------------------------------------------------------------------------------
@pytest.mark.parametrize("mutate,path,near", [
    (lambda r: r["services"][0].update(readinesPath="/ready"), "winfleet:services[0].readinesPath", "readinessPath"),
    (lambda r: r["services"][0].update(PreshutdownTimeoutSeconds=30),
     "winfleet:services[0].PreshutdownTimeoutSeconds", "preshutdownTimeoutSeconds"),
    (lambda r: r.update(loadBalancr={"drainSeconds": 5}), "winfleet:loadBalancr", "loadBalancer"),
    (lambda r: r["existingHosts"][0].update(caPemFil="ca.pem"), "winfleet:existingHosts[0].caPemFil", "caPemFile"),
])
def test_an_unknown_key_names_the_nearest_one(mutate, path, near):
    raw = fresh()
    mutate(raw)
    [p] = [p for p in problems(raw) if p.path == path]
    assert f"did you mean '{near}'?" in p.allowed


def test_no_suggestion_when_nothing_is_close():
    raw = fresh()
    raw["services"][0]["zzzqqq"] = 1
    [p] = [p for p in problems(raw) if p.path.endswith("zzzqqq")]
    assert "did you mean" not in p.allowed


# --- misspelled namespace ---------------------------------------------------------------------------
@pytest.mark.parametrize("ns", ["winfleeet", "Winfleet", "winflet"])
def test_a_misspelled_namespace_is_refused_not_ignored(tmp_path, ns):
    f = tmp_path / "Pulumi.t.yaml"
    f.write_text("config:\n  winfleet:mode: existingHosts\n"
                 f"  {ns}:rollout:\n    batchSize: 2\n  aws:region: eu-west-1\n")
    with pytest.raises(ConfigError) as ei:
        load_config_file(f)
    [p] = [p for p in ei.value.problems if p.path.startswith(ns + ":")]
    assert p.path == f"{ns}:rollout" and "did you mean 'winfleet:rollout'?" in p.allowed


# --- cross-key problems in the same round -------------------------------------------------------------
def test_cross_key_problems_are_reported_with_the_field_problems():
    raw = fresh()
    raw["services"][0]["port"] = "not-a-port"                 # a field problem (pydantic)
    raw["services"][1]["dependencies"] = ["billing-worker"]   # a cross-key problem: depends on itself
    paths = {p.path for p in problems(raw)}
    assert "winfleet:services[0].port" in paths
    assert "winfleet:services[1].dependencies" in paths


# --- numbers where `pulumi config set --path` stores numbers --------------------------------------------
def test_availability_zones_may_be_numbers():
    raw = {"mode": "azure", "winrm": {"allowedSources": ["203.0.113.0/28"]},
           "azure": {"location": "westeurope", "dnsPrefix": "wftest", "clientSources": ["10.0.0.0/8"],
                     "zones": [1, 2]}}
    assert parse_config(raw).azure.zones == ["1", "2"]


# --- secrets never printed ----------------------------------------------------------------------------
@pytest.mark.parametrize("mutate", [
    lambda r: r["existingHosts"][0].update(pasword=SECRET),                       # misspelled secret key
    lambda r: r.update(existingHosts={"lab-0": {"password": SECRET}}),             # wrong shape
    lambda r: r["services"][0].update(environment={"bad key": "x", "DB_PASSWORD": SECRET}),  # bad env key
    lambda r: r["services"][0].update(environment={"GOTRACEBACK": SECRET}),        # a refused env value
    lambda r: r["services"][0].update(accountPassword=SECRET),                     # password without account
    lambda r: r.update(winfleeet=SECRET),                                          # unknown top-level key
    lambda r: r["existingHosts"][0].update(password=[SECRET]),                     # wrong type
])
def test_config_errors_never_print_a_secret(mutate):
    raw = fresh()
    mutate(raw)
    text = message(raw)
    assert SECRET not in text and SECRET[:8] not in text
    assert "problem" in text


def test_plain_scalar_fields_still_show_their_value():
    raw = fresh()
    raw["services"][0]["readinessPath"] = "no-slash"
    [p] = [p for p in problems(raw) if p.path == "winfleet:services[0].readinessPath"]
    assert '"no-slash"' in str(p)


# --- stack files read strictly ----------------------------------------------------------------------
def test_duplicate_keys_are_refused():
    with pytest.raises(StackFileError, match="duplicate key 'winfleet:mode'"):
        load_stack_yaml("config:\n  winfleet:mode: azure\n  winfleet:mode: existingHosts\n")


def test_integers_follow_yaml_1_2():
    doc = load_stack_yaml("a: 017700\nb: 0o17700\nc: yes\nd: on\ne: 0x1f\nf: false\n")
    assert doc == {"a": 17700, "b": 8128, "c": "yes", "d": "on", "e": 31, "f": False}


def test_an_alias_bomb_is_refused_quickly():
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for prev, name in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    text = "\n".join(lines) + "\n"
    assert len(text) < 1500
    t0 = time.perf_counter()
    with pytest.raises(StackFileError, match=f"{MAX_STACK_NODES:,}"):
        load_stack_yaml(text)
    elapsed = time.perf_counter() - t0
    print(f"alias bomb of {len(text)} bytes refused in {elapsed * 1000:.1f} ms")


def test_load_config_file_names_the_file_for_a_bad_stack_file(tmp_path):
    f = tmp_path / "Pulumi.dup.yaml"
    f.write_text("config:\n  winfleet:mode: azure\n  winfleet:mode: azure\n")
    with pytest.raises(ConfigError) as ei:
        load_config_file(f)
    assert str(f) in str(ei.value) and "duplicate key" in str(ei.value)


def test_plaintext_secret_fields_are_found():
    section = {"winfleet:existingHosts": [{"name": "a", "password": "plain"}, {"name": "b", "password": {"secure": "x"}}],
               "winfleet:services": [{"name": "s", "accountPassword": "plain2", "secrets": {"DB": "p3"}}],
               "other:password": "not ours"}
    assert plaintext_secret_paths(copy.deepcopy(section)) == [
        "winfleet:existingHosts[0].password", "winfleet:services[0].accountPassword",
        'winfleet:services[0].secrets.DB']


def test_the_key_tree_knows_nested_and_map_keys():
    keys = config_key_templates()
    assert {"services[].recovery.actions[].delaySeconds", "eventLogs.<key>.maxSizeKb",
            "existingHosts[].password", "loadBalancer.unhealthyThreshold"} <= keys
    assert "baseline.disable" not in keys
