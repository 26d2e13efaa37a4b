"""Faults against the real provider host (issue 12 items 10, 11): reboots during up, killed provider hosts.

Each case records into the adversarial ledger (categories start with ``fault``): ``survived`` (the run
converged, host consistent, destroy exact) or ``failed_fast`` (a clear error at once, host consistent).
"""
from __future__ import annotations

import threading
import time

import pytest

from components.host.event_log_settings import EventLogSettingsProvider
from tests.adversarial.report import record
from tests.emulator import Lab
from tests.providers.conftest import connection, host_snapshot
from tests.providers.harness import ProviderError, ProviderHost

OWNER = {"organization": "acme", "project": "shop", "stack": "prod"}


def _logs(h, **reach):
    return {"connection": dict(connection(h), **reach), "owner": OWNER,
            "logs": [{"name": "Application", "maxSizeKb": 65536, "retention": "circular"}]}


def _reboot_after_first_op(h, seconds: float) -> threading.Thread:
    """Take the host down for ``seconds`` right after the create's first op (its read) answered."""
    def watch():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if sum(h.counters.snapshot()["ops"].values()) >= 1:
                h.down(seconds)
                return
            time.sleep(0.005)
    t = threading.Thread(target=watch, daemon=True)
    t.start()
    return t


@pytest.fixture(scope="module")
def provider_host():
    with ProviderHost() as ph:
        yield ph


def test_a_reboot_during_up_is_survived_within_the_time_budget(provider_host):
    """A 20 s outage between the read and the apply: the budget (40 s, backoff from 0.5 s) waits it out."""
    with Lab(hosts=1) as lab:
        h = lab.hosts[0]
        h.faults.set_op_delay(2.0, "eventlog.apply")     # the host goes down before the apply answers
        res = provider_host.resource(EventLogSettingsProvider())
        pristine = host_snapshot(h.model)
        watcher = _reboot_after_first_op(h, 20.0)
        t0 = time.monotonic()
        rid, outs = res.create(res.checked(_logs(h, reachBudgetSeconds=40, reachBackoffSeconds=0.5)))
        took = time.monotonic() - t0
        watcher.join(1)
        h.faults.set_op_delay(0, "eventlog.apply")
        converged = outs["changed"] is True and h.model.eventlogs.get("Application")["maxSizeBytes"] == 65536 * 1024
        res.delete(rid, outs)
        exact = host_snapshot(h.model) == pristine
        print(f"reboot of 20 s during create: converged after {took:.1f} s")
        assert took >= 20.0                                # it really waited for the host (time-based)
        assert record("fault-reboot", "20 s outage during create, budget 40 s",
                      "survived" if converged and exact else "data_lost") == "survived"


def test_a_budget_shorter_than_the_outage_fails_fast_with_a_clear_error(provider_host):
    with Lab(hosts=1) as lab:
        h = lab.hosts[0]
        res = provider_host.resource(EventLogSettingsProvider())
        pristine = host_snapshot(h.model)
        inputs = res.checked(_logs(h, reachBudgetSeconds=4, reachBackoffSeconds=0.5))
        h.down(25.0)
        t0 = time.monotonic()
        with pytest.raises(ProviderError) as info:
            res.create(inputs)
        took = time.monotonic() - t0
        msg = info.value.details
        clear = "reachability budget of 4 s" in msg and "winfleet:winrm.reachBudgetMinutes" in msg
        print(f"budget 4 s, outage 25 s: failed after {took:.1f} s")
        assert 4.0 <= took < 25.0, took                    # gave up at the budget, long before the host returned
        while not h.running:
            time.sleep(0.2)
        assert record("fault-reboot", "25 s outage, budget 4 s", "failed_fast"
                      if clear and host_snapshot(h.model) == pristine else "data_lost") == "failed_fast"


# --- item 10: a provider host ended by SIGTERM leaves no shell behind --------------------------
RUNS = 10


def test_provider_hosts_killed_with_sigterm_leave_no_shells():
    """Each run: a fresh ``python -m pulumi.dynamic`` creates, reads and deletes on 2 hosts, then is
    ended with SIGTERM (what an engine does on cancel: atexit does not run). Counted on the hosts, whose
    MaxShellsPerUser is 5 here: leaked shells would make a later run hit the shell quota."""
    from tests.emulator.server import Limits
    with Lab(hosts=2, limits=Limits(max_shells_per_user=5)) as lab:
        leaked = []
        for run in range(RUNS):
            ph = ProviderHost()
            try:
                for h in lab.hosts:
                    res = ph.resource(EventLogSettingsProvider())
                    rid, outs = res.create(res.checked(_logs(h)))
                    res.read(rid, outs)
                    res.delete(rid, outs)
            finally:
                ph.proc.terminate()                       # SIGTERM
                ph.proc.wait(10)
                ph.channel.close()
            leaked.append(sum(h.shells_open for h in lab.hosts))
        created = sum(h.counters["shells_created"] for h in lab.hosts)
        deleted = sum(h.counters["shells_deleted"] for h in lab.hosts)
        print(f"{RUNS} SIGTERM-ended provider hosts: shells created {created}, deleted {deleted}, open after each {leaked}")
        assert record("fault-sigterm", f"{RUNS} provider hosts ended by SIGTERM, 2 hosts",
                      "survived" if leaked == [0] * RUNS and created == deleted else "data_lost") == "survived"


def test_sigterm_in_a_main_thread_process_closes_the_pool():
    """A process that imports the pool in its main thread (our tools, the lab) closes shells on SIGTERM."""
    import subprocess
    import sys
    from tests.providers.harness import ROOT
    with Lab(hosts=1) as lab:
        h = lab.hosts[0]
        code = ("import json,sys,time; from components.winrm import run_op; "
                "run_op(json.loads(sys.argv[1]), 'host.info', {}); print('ready', flush=True); time.sleep(60)")
        import json
        p = subprocess.Popen([sys.executable, "-c", code, json.dumps(h.endpoint)], cwd=ROOT,
                             stdout=subprocess.PIPE, text=True)
        assert p.stdout.readline().strip() == "ready"
        assert h.shells_open == 1
        p.terminate()
        p.wait(10)
        assert record("fault-sigterm", "tool process ended by SIGTERM", "survived"
                      if h.shells_open == 0 and p.returncode == -15 else "data_lost") == "survived"


# --- item 9: a lost response, then the retry re-runs the op: every step checks live state first -----
def _service_inputs(h):
    from tests.providers.test_windows_service import URL1, V1, base_inputs, sha
    h.model.files.add_drive("D")
    h.model.files.downloads[URL1] = V1
    h.model.http.serve(8080, service="api", mode="ready")
    return dict(base_inputs(h), connection=dict(connection(h), reachBackoffSeconds=0.05), owner=OWNER)


def _data_volume(h) -> None:
    st = h.model.storage                   # D: as a DataVolume leaves it
    st.set_online(1, True)
    st.initialize(1, "GPT")
    st.new_partition(1, "D")
    st.format("D", "NTFS", "Data")


def _register_api(h) -> None:
    h.model.scm.create("api", "api", '"C:\\Program Files\\winfleet\\api\\api.exe"', account="NT SERVICE\\api")


def _cases():
    from components.host.crash_dumps import CrashDumpsProvider
    from components.host.data_volume import DataVolumeProvider
    from components.host.ntfs_quota import NtfsQuotaProvider
    from components.host.service_baseline import ServiceBaselineProvider
    from components.host.windows_service import WindowsServiceProvider
    fast = lambda h: dict(connection(h), reachBackoffSeconds=0.05)
    return {
        "DataVolume": (DataVolumeProvider, lambda h: {"connection": fast(h), "owner": OWNER, "lun": 0,
                                                      "driveLetter": "D", "label": "Data"}),
        "EventLogSettings": (EventLogSettingsProvider, lambda h: dict(_logs(h), connection=fast(h))),
        "ServiceBaseline": (ServiceBaselineProvider, lambda h: {"connection": fast(h), "owner": OWNER,
                                                                "baselineName": "b", "services": ["Spooler"]}),
        "WindowsService": (WindowsServiceProvider, _service_inputs),
        # NT SERVICE\api exists only once the service api is registered (issue 11 item 2)
        "NtfsQuota": (NtfsQuotaProvider, lambda h: _data_volume(h) or _register_api(h) or {
            "connection": fast(h), "owner": OWNER, "volume": "D:", "account": "NT SERVICE\\api",
            "warningBytes": 400 * 2**20, "limitBytes": 500 * 2**20, "enforce": True}),
        "CrashDumps": (CrashDumpsProvider, lambda h: h.model.files.add_drive("D") or {
            "connection": fast(h), "owner": OWNER, "exeName": "api.exe", "dumpFolder": r"D:\dumps\api",
            "dumpCount": 5, "dumpType": "mini", "account": "NT SERVICE\\api"}),
    }


@pytest.mark.parametrize("kind", ["DataVolume", "EventLogSettings", "ServiceBaseline", "WindowsService", "CrashDumps",
                                  "NtfsQuota"])
def test_every_op_losing_its_response_once_still_converges_and_destroys_exact(provider_host, kind):
    provider, make = _cases()[kind]
    with Lab(hosts=1) as lab:
        h = lab.hosts[0]
        props = make(h)
        pristine = host_snapshot(h.model)
        res = provider_host.resource(provider())
        inputs = res.checked(props)
        h.faults.drop_response(once_per_op=True)          # every distinct op loses its response once
        error = None
        try:
            rid, outs = res.create(inputs)
            again = res.update(rid, outs, inputs)             # converged: nothing left to do
            assert again["changed"] is False
            h.faults.drop_response(once_per_op=True)      # and the destroy's ops lose theirs once too
            res.delete(rid, again)
        except ProviderError as exc:
            error = exc.details.strip().splitlines()[-1]
        dropped = h.counters.snapshot()["faults_injected"].get("drop_response", 0)
        exact = host_snapshot(h.model) == pristine
        outcome = "survived" if error is None and exact and dropped >= 2 else "data_lost"
        assert record("fault-drop-response", f"{kind}: every op's response dropped once", outcome) == "survived", \
            (error, dropped, exact)


def test_an_upgrade_whose_responses_are_lost_converges_and_destroys_exact(provider_host):
    """WindowsService v1 -> v2 (binary swap with the readiness-gated rollback armed), every op's response
    dropped once during the update and again during the destroy."""
    from components.host.windows_service import WindowsServiceProvider
    from tests.providers.test_windows_service import URL2, V2, sha
    with Lab(hosts=1) as lab:
        h = lab.hosts[0]
        pristine_props = _service_inputs(h)
        h.model.files.downloads[URL2] = V2
        pristine = host_snapshot(h.model)
        res = provider_host.resource(WindowsServiceProvider())
        rid, outs = res.create(res.checked(pristine_props))
        h.faults.drop_response(once_per_op=True)
        error = None
        try:
            outs = res.update(rid, outs, res.checked(dict(pristine_props, binaryUrl=URL2, binarySha256=sha(V2))))
            upgraded = h.model.files.sha256(r"C:\Program Files\winfleet\api\api.exe") == sha(V2) and \
                h.model.scm.status("api") == "running"
            h.faults.drop_response(once_per_op=True)
            res.delete(rid, outs)
        except ProviderError as exc:
            error, upgraded = exc.details.strip().splitlines()[-1], False
        exact = host_snapshot(h.model) == pristine
        assert record("fault-drop-response", "WindowsService upgrade: every op's response dropped once",
                      "survived" if error is None and upgraded and exact else "data_lost") == "survived", error
