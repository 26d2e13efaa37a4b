"""ServiceBaseline's dependency analysis and the built-in sets (pure Python)."""
from __future__ import annotations

import pytest

from components.host.base import Refused
from components.host.baselines import (BUILTIN, GO_HOST_MINIMAL, MS_SERVER_2016_EXCLUDED, MS_SERVER_2016_OK,
                                       MS_SERVER_2016_SHOULD, baseline_services, resolve_baseline)
from components.host.service_baseline import ServiceBaselineProvider, analyse, start_order, stop_order
from components.windows_facts import NEVER_DISABLE, never_disable_match


def row(name, start=3, status="Stopped", deps=(), delayed=False):
    return {"name": name, "type": 32, "start": start, "delayedAutostart": delayed, "status": status,
            "dependencies": list(deps)}


ROWS = [row("RpcSs", 2, "Running"), row("SSDPSRV", 3, "Running", ["RpcSs"]),
        row("upnphost", 3, "Running", ["SSDPSRV"]), row("Spooler", 2, "Running", ["RpcSs"]),
        row("PrintAgent", 2, "Running", ["Spooler"]), row("Fax", 3, "Stopped", ["Spooler"]),
        row("XblAuthManager"), row("XblGameSave", 3, "Stopped", ["XblAuthManager"]),
        row("Already", 4, "Stopped"), row("Deep", 3, "Running", ["upnphost"])]


def test_running_manual_dependents_are_stopped_first_and_recorded():
    p = analyse(["SSDPSRV"], [], ROWS)
    assert p.disable == ["SSDPSRV"]
    assert set(p.dependents) == {"upnphost", "Deep"}
    assert p.stop.index("Deep") < p.stop.index("upnphost") < p.stop.index("SSDPSRV")


def test_running_auto_dependent_refuses_unless_in_the_set():
    with pytest.raises(Refused) as err:
        analyse(["Spooler"], [], ROWS)
    assert err.value.field == "services[0]" and "PrintAgent" in err.value.message
    p = analyse(["Spooler", "PrintAgent"], [], ROWS)
    assert p.stop == ["PrintAgent", "Spooler"] and p.dependents == []


def test_managed_dependent_refuses_even_when_stopped():
    with pytest.raises(Refused) as err:
        analyse(["XblAuthManager"], ["XblGameSave"], ROWS)
    assert "managed service XblGameSave" in err.value.message


def test_missing_and_compliant_are_skipped_and_case_insensitive():
    p = analyse(["already", "NotInstalled", "xblgamesave"], [], ROWS)
    assert p.skipped_missing == ["NotInstalled"] and p.compliant == ["Already"]
    assert p.disable == ["XblGameSave"] and p.stop == []


def test_never_disable_refused_in_analysis_too():
    with pytest.raises(Refused):
        analyse(["winrm"], [], ROWS + [row("WinRM", 2, "Running")])


def test_orders():
    by = {r["name"].lower(): r for r in ROWS}
    assert stop_order(["SSDPSRV", "upnphost", "Deep"], by) == ["Deep", "upnphost", "SSDPSRV"]
    assert start_order(["SSDPSRV", "upnphost", "Deep"], by) == ["SSDPSRV", "upnphost", "Deep"]


def test_restore_plan_restores_start_types_and_restarts_dependencies_first():
    prov = ServiceBaselineProvider()
    now = [row("SSDPSRV", 4, "Stopped", ["RpcSs"]), row("upnphost", 3, "Stopped", ["SSDPSRV"]),
           row("MapsBroker", 4, "Stopped")]
    prior = {"svc:ssdpsrv": {"name": "SSDPSRV", "start": 3, "delayed": False, "status": "Running", "role": "target"},
             "svc:upnphost": {"name": "upnphost", "start": 3, "delayed": False, "status": "Running", "role": "dependent"},
             "svc:mapsbroker": {"name": "MapsBroker", "start": 2, "delayed": True, "status": "Stopped", "role": "target"}}
    steps = prov.restore_plan(None, prior, {"services": now})
    assert steps == [{"do": "setStart", "name": "MapsBroker", "start": 2, "delayed": True},
                     {"do": "setStart", "name": "SSDPSRV", "start": 3, "delayed": False},
                     {"do": "start", "name": "SSDPSRV"}, {"do": "start", "name": "upnphost"}]


def test_builtin_sets_never_contain_never_disable_services_and_follow_ms_guidance():
    never = {n.lower() for n in NEVER_DISABLE}
    for name, services in BUILTIN.items():
        assert not [s for s in services if s.lower() in never], name
    ms = set(MS_SERVER_2016_SHOULD + MS_SERVER_2016_OK)
    assert not ms & set(MS_SERVER_2016_EXCLUDED)              # judgement calls stay out
    assert set(GO_HOST_MINIMAL) - ms <= {"Spooler", "PrintNotify"}   # the two conditional entries, explained
    assert {"XblAuthManager", "XblGameSave"} <= set(GO_HOST_MINIMAL)


def test_resolve_baseline():
    got = resolve_baseline("go-host-minimal", ["Fax", "spooler"], ["SSDPSRV"])
    assert "SSDPSRV" not in got and got.count("Spooler") == 1 and "spooler" not in got and got[-1] == "Fax"
    with pytest.raises(ValueError):
        resolve_baseline("go-host-minimal", ["WinRM"], [])
    with pytest.raises(KeyError):
        baseline_services("cis-everything")
    assert resolve_baseline("none", [], []) == []
    assert never_disable_match("dnscache") == "Dnscache"
