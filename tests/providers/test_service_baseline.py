"""ServiceBaseline through the real dynamic-provider host (gRPC) against the emulator."""
from __future__ import annotations

import pytest

from components.host.baselines import baseline_services, resolve_baseline
from components.host.service_baseline import ServiceBaselineProvider
from tests.emulator.ops.svc_support import clear_step_faults, inject_step_fault
from tests.providers.conftest import connection, host_snapshot, journal
from tests.providers.harness import ProviderError

SVC = r"HKLM\SYSTEM\CurrentControlSet\Services"


@pytest.fixture
def host(lab):
    yield lab.hosts[0]
    clear_step_faults(lab.hosts[0].model)


@pytest.fixture
def res(provider_host):
    return provider_host.resource(ServiceBaselineProvider())


def inputs(h, services, managed=(), name="go-host-minimal") -> dict:
    return {"connection": connection(h), "baselineName": name, "services": list(services),
            "managedServices": list(managed)}


def start_of(m, name):
    return m.registry.get_value(SVC + "\\" + name, "Start")[1]


def test_go_host_minimal_disables_stops_records_and_restores_exactly(host, res):
    m = host.model
    m.scm.start("SSDPSRV")
    m.scm.start("upnphost")                        # running manual service depending on SSDPSRV
    m.scm.change_config("MapsBroker", start=2)     # already auto (delayed) in the seed
    before = host_snapshot(m)
    services = resolve_baseline("go-host-minimal", [], ["api"])
    rid, outs = res.create(res.checked(inputs(host, services, ["api"])))
    changes = outs["changes"]
    disabled = [c["name"] for c in changes if c["do"] == "setStart"]
    stopped = [c["name"] for c in changes if c["do"] == "stop"]
    # installed ones are disabled; the seed has no icssvc/wlidsvc/...: skipped, not an error
    assert {"Spooler", "XblGameSave", "MapsBroker", "SSDPSRV", "upnphost"} <= set(disabled)
    assert "icssvc" not in disabled and not m.scm.exists("icssvc")
    assert stopped.index("upnphost") < stopped.index("SSDPSRV")          # dependents first
    for name in disabled:
        assert start_of(m, name) == 4 and m.scm.status(name) == "stopped"
    # prior values: in state and in the host journal
    assert outs["prior"]["svc:spooler"] == {"name": "Spooler", "start": 2, "delayed": False, "status": "Running",
                                            "role": "target"}
    assert outs["prior"]["svc:mapsbroker"]["delayed"] is True
    entry = journal(m)["ServiceBaseline/services"]
    assert entry["prior"]["svc:spooler"]["start"] == 2 and any(h.endswith("|go-host-minimal") for h in entry["holders"]["svc:spooler"])
    # the trimmed state output lists the baseline's services only
    assert {r["name"] for r in outs["state"]["services"]} <= {s for s in services} | {"upnphost"}

    # a second identical run changes nothing (and the journal keeps the *original* priors)
    again = res.update(rid, outs, res.checked(inputs(host, services, ["api"])))
    assert again["changed"] is False and again["prior"]["svc:spooler"]["start"] == 2

    # drift: someone re-enables the spooler; refresh shows it, the next up disables it again
    m.scm.change_config("Spooler", start=2)
    m.scm.start("Spooler")
    _, live = res.read(rid, outs)
    assert live["drift"] == ["services"]
    d = res.diff(rid, live, res.checked(inputs(host, services, ["api"])))
    assert d["changes"] == "some" and d["replaces"] == []
    outs = res.update(rid, live, res.checked(inputs(host, services, ["api"])))
    assert [(c["do"], c["name"]) for c in outs["changes"]] == [("setStart", "Spooler"), ("stop", "Spooler")]
    assert outs["prior"]["svc:spooler"]["status"] == "Running"

    # delete: exact prior start types (incl. delayed auto), what ran runs again
    res.delete(rid, outs)
    assert host_snapshot(m) == before
    assert journal(m) == {}


def test_ms_server_2016_set_and_an_explicit_list(host, res):
    m = host.model
    before = host_snapshot(m)
    services = resolve_baseline("ms-server-2016-ok", ["PcaSvc"], [])
    assert "Spooler" not in services and "CDPUserSvc" not in services
    rid, outs = res.create(res.checked(inputs(host, services, name="ms-server-2016-ok")))
    assert start_of(m, "ShellHWDetection") == 4 and m.scm.status("ShellHWDetection") == "stopped"
    assert start_of(m, "Spooler") == 2                  # conditional: not in this set
    res.delete(rid, outs)
    assert host_snapshot(m) == before


def test_refuses_what_a_running_auto_service_or_a_managed_service_depends_on(host, res):
    m = host.model
    before = host_snapshot(m)
    # UserManager: XblGameSave depends on it (fine), but so does... make an auto-start running dependent
    m.scm.create("audit", "Audit agent", r"C:\a\audit.exe", 2, ["lfsvc"], "LocalSystem")
    m.files.mkdir(r"C:\a")
    m.files.write(r"C:\a\audit.exe", b"x")
    m.scm.start("audit")
    before = host_snapshot(m)
    with pytest.raises(ProviderError) as err:
        res.create(res.checked(inputs(host, ["lfsvc", "XblGameSave"])))
    assert "services[0]" in err.value.details and "audit" in err.value.details and "lfsvc" in err.value.details
    assert host_snapshot(m) == before and journal(m) == {}
    # ... unless the dependent is in the set too
    rid, outs = res.create(res.checked(inputs(host, ["lfsvc", "audit"])))
    assert m.scm.status("audit") == "stopped" and start_of(m, "audit") == 4
    res.delete(rid, outs)
    assert host_snapshot(m) == before

    # a managed service depends on it: refused even when stopped
    m.scm.create("api", "API", r"C:\a\audit.exe", 3, ["bthserv"], "LocalSystem")
    before = host_snapshot(m)
    with pytest.raises(ProviderError) as err:
        res.create(res.checked(inputs(host, ["bthserv"], managed=["api"])))
    assert "managed service api" in err.value.details
    assert host_snapshot(m) == before


@pytest.mark.parametrize("services, managed, field", [
    (["WinRM"], [], "services[0]"),
    (["Spooler", "rpcss"], [], "services[1]"),
    (["Spooler", "spooler"], [], "services"),
    (["Print Spooler"], [], "services"),          # a display name is not a service name
    (['x"; Stop-Computer; "'], [], "services"),
    (["api"], ["api"], "services[0]"),
])
def test_check_refuses_never_disable_and_bad_names(host, res, services, managed, field):
    before = host_snapshot(host.model)
    _, failures = res.check(inputs(host, services, managed))
    assert field in [p for p, _ in failures], failures
    assert host_snapshot(host.model) == before


def test_protected_service_access_denied_rolls_back(host, res):
    m = host.model
    before = host_snapshot(m)
    # WaaSMedicSvc is not on the never-disable list but its configuration is protected
    with pytest.raises(ProviderError) as err:
        res.create(res.checked(inputs(host, ["Spooler", "WaaSMedicSvc"])))
    assert "ACCESS_DENIED" in err.value.details
    assert host_snapshot(m) == before and journal(m) == {}


def test_fault_between_steps_then_destroy_restores_from_the_journal(host, res):
    """Apply dies after disabling the first service, the rollback dies too, and Pulumi state is lost:
    a new resource's delete (with no prior values in its own state) restores from the host journal."""
    m = host.model
    before = host_snapshot(m)
    inject_step_fault(m, "baseline.apply", after="stop:spooler")       # create: after disable + stop
    inject_step_fault(m, "baseline.apply", after="setStart:spooler")   # its rollback: before the restart
    with pytest.raises(ProviderError) as err:
        res.create(res.checked(inputs(host, ["Spooler", "XblGameSave"])))
    assert "INJECTED_FAULT" in err.value.details
    # half-restored host: Spooler is automatic again but stopped, XblGameSave still disabled
    assert start_of(m, "Spooler") == 2 and m.scm.status("Spooler") == "stopped"
    assert start_of(m, "XblGameSave") == 4
    entry = journal(m)["ServiceBaseline/services"]
    assert entry["prior"]["svc:spooler"] == {"name": "Spooler", "start": 2, "delayed": False, "status": "Running",
                                             "role": "target"}
    # state lost: destroy with only the inputs (no prior in state) still restores from the journal
    res.delete("win-0/ServiceBaseline/go-host-minimal", res.checked(inputs(host, ["Spooler", "XblGameSave"])))
    assert host_snapshot(m) == before and journal(m) == {}


def test_two_baselines_share_a_service_and_the_last_one_restores(host, res):
    m = host.model
    before = host_snapshot(m)
    a = res.checked(inputs(host, ["Spooler", "XblGameSave"], name="team-a"))
    b = res.checked(inputs(host, ["Spooler", "lfsvc"], name="team-b"))
    rid_a, outs_a = res.create(a)
    rid_b, outs_b = res.create(b)
    assert outs_b["prior"]["svc:spooler"]["start"] == 2       # the journal's prior, not our own change
    res.delete(rid_a, outs_a)
    assert start_of(m, "Spooler") == 4 and start_of(m, "XblGameSave") == 3
    res.delete(rid_b, outs_b)
    assert host_snapshot(m) == before


def test_builtin_sets_are_what_the_module_says(host, res):
    # the resource accepts every built-in set as-is (check passes: nothing on the never-disable list)
    for name in ("ms-server-2016-ok", "go-host-minimal"):
        _, failures = res.check(inputs(host, baseline_services(name), name=name))
        assert failures == []


def test_hostile_baseline_name_is_just_a_name(host, res):
    m = host.model
    before = host_snapshot(m)
    name = "team \"a\"; $(Stop-Computer) `x` ünï"
    rid, outs = res.create(res.checked(inputs(host, ["XblGameSave"], name=name)))
    assert any(h.endswith("|" + name.lower()) for h in journal(m)["ServiceBaseline/services"]["holders"]["svc:xblgamesave"])
    assert start_of(m, "XblGameSave") == 4
    res.delete(rid, outs)
    assert host_snapshot(m) == before
