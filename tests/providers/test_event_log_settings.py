"""EventLogSettings through the real dynamic-provider host (gRPC) against the emulator over WinRM."""
from __future__ import annotations

import concurrent.futures

import pytest

from components.host.event_log_settings import EventLogSettingsProvider
from tests.emulator.ops.svc_support import inject_step_fault
from tests.providers.conftest import connection, host_dies_after_fault, host_snapshot, journal
from tests.providers.harness import ProviderError, secret

KEY = "EventLogSettings/EventLog"


@pytest.fixture
def res(provider_host):
    return provider_host.resource(EventLogSettingsProvider())


def props(host, logs):
    return {"connection": connection(host), "logs": logs}


def ops(host) -> int:
    return sum(host.counters.snapshot()["ops"].values())


def local(model, name):
    return model.eventlogs.local(name)


def test_lifecycle_create_noop_update_drift_delete(res, lab):
    h = lab.hosts[0]
    m = h.model
    before = host_snapshot(m)
    default_app = local(m, "Application")
    inputs = res.checked(props(h, [{"name": "Application", "maxSizeKb": 32768},
                                   {"name": "security", "maxSizeKb": 196608, "retention": "autoBackup"}]))

    rid, outs = res.create(inputs)
    assert outs["changed"] is True
    assert local(m, "Application")["maxSizeBytes"] == 32768 * 1024
    assert m.eventlogs.get("Security")["retention"] == "autoBackup"
    assert outs["prior"]["application"] == {"name": "Application", **{k: default_app[k] for k in ("maxSizeBytes", "retention")}}
    # the host journal holds the same prior values
    assert journal(m)[KEY]["prior"] == outs["prior"]

    # second identical run: check + diff are local (no WinRM), diff says no change
    n = ops(h)
    again = res.checked(props(h, [{"name": "Application", "maxSizeKb": 32768},
                                  {"name": "security", "maxSizeKb": 196608, "retention": "autoBackup"}]))
    assert res.diff(rid, outs, again)["changes"] == "none"
    assert ops(h) == n
    # and converging again changes nothing on the host
    snap = host_snapshot(m)
    assert res.update(rid, outs, again)["changed"] is False
    assert host_snapshot(m) == snap

    # update: a new size is an in-place update, not a replace
    new = res.checked(props(h, [{"name": "Application", "maxSizeKb": 65536},
                                {"name": "security", "maxSizeKb": 196608, "retention": "autoBackup"}]))
    d = res.diff(rid, outs, new)
    assert d["changes"] == "some" and d["replaces"] == []
    outs = res.update(rid, outs, new)
    assert outs["changed"] is True and outs["changes"] == [{"log": "Application", "maxSizeBytes": 65536 * 1024}]
    assert local(m, "Application")["maxSizeBytes"] == 65536 * 1024
    assert outs["prior"]["application"]["maxSizeBytes"] == default_app["maxSizeBytes"], "prior is the original"

    # drift: someone shrinks the log; read shows it and the next diff wants an update
    m.eventlogs.set_max_size("Application", 4096 * 1024)
    rid2, read_outs = res.read(rid, outs)
    assert rid2 == rid
    assert read_outs["drift"] == ["logs"]
    assert read_outs["state"]["logs"][0]["maxSizeBytes"] == 4096 * 1024
    assert res.diff(rid, read_outs, new)["changes"] == "some"
    outs = res.update(rid, read_outs, new)
    assert outs["changed"] and local(m, "Application")["maxSizeBytes"] == 65536 * 1024

    # delete restores exactly what was there
    res.delete(rid, outs)
    assert host_snapshot(m) == before
    assert journal(m) == {}


def test_update_dropping_a_log_restores_it(res, lab):
    h = lab.hosts[0]
    m = h.model
    before = host_snapshot(m)
    a = res.checked(props(h, [{"name": "Application", "maxSizeKb": 32768}, {"name": "System", "maxSizeKb": 32768}]))
    rid, outs = res.create(a)
    b = res.checked(props(h, [{"name": "Application", "maxSizeKb": 32768}]))
    outs = res.update(rid, outs, b)
    assert local(m, "System") == {**local(m, "System"), "maxSizeBytes": 20480 * 1024}
    assert set(outs["prior"]) == {"application"}
    assert set(journal(m)[KEY]["prior"]) == {"application"}, "the released log is gone from the journal"
    res.delete(rid, outs)
    assert host_snapshot(m) == before


@pytest.mark.parametrize("logs,field,words", [
    ([{"name": "Application", "maxSizeKb": 1000}], "logs[0].maxSizeKb", "minimum of 1024"),
    ([{"name": "Application", "maxSizeKb": 32769}], "logs[0].maxSizeKb", "use 32768 or 32832"),
    ([{"name": "Application", "maxSizeKb": 32768, "retention": "forever"}], "logs[0].retention", "circular"),
    ([{"name": "Application", "maxSizeKb": 32768}, {"name": "APPLICATION", "maxSizeKb": 65536}], "logs[1].name", "once"),
    ([], "logs", "at least 1"),
    ([{"name": "Application", "maxSizeKB": 32768}], "logs[0].maxSizeKB", "unknown input"),
])
def test_check_rejects_bad_inputs_naming_the_field(res, lab, logs, field, words):
    h = lab.hosts[0]
    before, n = host_snapshot(h.model), ops(h)
    _inputs, failures = res.check(props(h, logs))
    assert field in [p for p, _ in failures], failures
    reason = dict(failures)[field]
    assert reason.startswith(field) and words in reason
    assert host_snapshot(h.model) == before and ops(h) == n


HOSTILE = ["Appl\"; Remove-Item C:\\ -Recurse; \"", "$(Stop-Computer)", "a`nb", "x'y", "Line\nBreak",
           "Sys;tem", "Événements", "App*", "..\\..\\Evil"]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_log_names_are_refused_and_never_reach_the_host(res, lab, name):
    h = lab.hosts[0]
    before, n = host_snapshot(h.model), ops(h)
    _inputs, failures = res.check(props(h, [{"name": name, "maxSizeKb": 32768}]))
    assert [p for p, _ in failures] == ["logs[0].name"]
    assert host_snapshot(h.model) == before and ops(h) == n


def test_odd_but_legal_names_travel_as_data(res, lab):
    """A custom log with spaces, dots and dashes is configured by its exact name (JSON, not code)."""
    h = lab.hosts[0]
    name = "Winfleet Test.Log-1_x"
    h.model.eventlogs.create_classic_log(name)
    before = host_snapshot(h.model)
    rid, outs = res.create(res.checked(props(h, [{"name": name, "maxSizeKb": 2048, "retention": "retain"}])))
    assert h.model.eventlogs.get(name) | {"policy": None} == {"name": name, "classic": True, "maxSizeBytes": 2048 * 1024,
                                                            "retention": "retain", "policy": None}
    res.delete(rid, outs)
    assert host_snapshot(h.model) == before


PS_OP = "Microsoft-Windows-PowerShell/Operational"


def test_a_channel_with_a_slash_is_read_and_restored_through_its_own_key(res, lab):
    """Issue 11 item 7: the channel's key is ``...\\Channels\\Microsoft-Windows-PowerShell/Operational``. Read
    through the registry provider it would look like a missing key (the provider splits on '/'), so the
    prior would be the effective value and a Group Policy on the channel would go unseen."""
    h = lab.hosts[0]
    m = h.model
    before = host_snapshot(m)
    rid, outs = res.create(res.checked(props(h, [{"name": PS_OP, "maxSizeKb": 65536, "retention": "circular"}])))
    assert outs["prior"] == {PS_OP.lower(): {"name": PS_OP, "maxSizeBytes": 15360 * 1024, "retention": "circular"}}
    assert local(m, PS_OP)["maxSizeBytes"] == 65536 * 1024
    res.delete(rid, outs)
    assert host_snapshot(m) == before
    # a policy on the channel (its key name holds the '/' too) is seen, and the request refused
    m.eventlogs.set_policy(PS_OP, max_size_kb=20480)
    before = host_snapshot(m)
    with pytest.raises(ProviderError) as e:
        res.create(res.checked(props(h, [{"name": PS_OP, "maxSizeKb": 65536}])))
    assert "logs[0].maxSizeKb" in e.value.details and "Group Policy" in e.value.details
    assert host_snapshot(m) == before


def test_refusals_found_on_the_host_change_nothing(res, lab):
    h = lab.hosts[0]
    m = h.model
    m.eventlogs.set_policy("Security", max_size_kb=196608)
    before = host_snapshot(m)
    with pytest.raises(ProviderError) as e:
        res.create(res.checked(props(h, [{"name": "Application", "maxSizeKb": 32768},
                                         {"name": "Security", "maxSizeKb": 65536}])))
    assert "logs[1].maxSizeKb" in e.value.details and "Group Policy" in e.value.details
    assert host_snapshot(m) == before
    with pytest.raises(ProviderError) as e:
        res.create(res.checked(props(h, [{"name": "NoSuchLog", "maxSizeKb": 32768}])))
    assert "logs[0].name" in e.value.details and "no event log named 'NoSuchLog'" in e.value.details
    assert host_snapshot(m) == before
    # matching the policy is fine (nothing to change for that setting)
    rid, outs = res.create(res.checked(props(h, [{"name": "Security", "maxSizeKb": 196608}])))
    assert outs["changed"] is False
    res.delete(rid, outs)
    assert host_snapshot(m) == before


def test_fault_between_steps_rolls_back_a_create(res, lab):
    h = lab.hosts[0]
    m = h.model
    before = host_snapshot(m)
    inputs = res.checked(props(h, [{"name": "Application", "maxSizeKb": 32768}, {"name": "System", "maxSizeKb": 65536}]))
    inject_step_fault(m, "eventlog.apply", after="Application")
    with pytest.raises(ProviderError) as e:
        res.create(inputs)
    assert "INJECTED_FAULT" in e.value.details
    assert host_snapshot(m) == before, "the half-done create was rolled back"
    rid, outs = res.create(inputs)
    assert local(m, "System")["maxSizeBytes"] == 65536 * 1024
    res.delete(rid, outs)
    assert host_snapshot(m) == before


def test_fault_that_also_kills_the_rollback_loses_nothing(res, lab, monkeypatch):
    """The apply dies after one log and the host goes away, so the rollback fails too: the journal
    keeps the prior values, the next run completes, and delete restores the original settings
    (not the half-applied ones)."""
    h = lab.hosts[0]
    m = h.model
    before = host_snapshot(m)
    inputs = res.checked(props(h, [{"name": "Application", "maxSizeKb": 32768}, {"name": "System", "maxSizeKb": 65536}]))
    revive = host_dies_after_fault(monkeypatch, "eventlog.apply")
    inject_step_fault(m, "eventlog.apply", after="Application")
    with pytest.raises(ProviderError):
        res.create(inputs)
    revive()
    assert local(m, "Application")["maxSizeBytes"] == 32768 * 1024, "half-applied"
    assert local(m, "System")["maxSizeBytes"] == 20480 * 1024
    assert journal(m)[KEY]["prior"]["application"]["maxSizeBytes"] == 20480 * 1024, "prior kept on the host"
    rid, outs = res.create(inputs)            # next `pulumi up`
    assert outs["prior"]["application"]["maxSizeBytes"] == 20480 * 1024, "journal prior, not the half-applied value"
    res.delete(rid, outs)
    assert host_snapshot(m) == before


def test_state_lost_delete_uses_the_host_journal(res, lab):
    h = lab.hosts[0]
    m = h.model
    before = host_snapshot(m)
    rid, outs = res.create(res.checked(props(h, [{"name": "Application", "maxSizeKb": 32768}])))
    outs.pop("prior")                          # e.g. state from an older version / hand-edited
    res.delete(rid, outs)
    assert host_snapshot(m) == before


def test_two_resources_sharing_a_log_restore_on_the_last_delete(res, lab):
    h = lab.hosts[0]
    m = h.model
    before = host_snapshot(m)
    ra, a = res.create(res.checked(props(h, [{"name": "Application", "maxSizeKb": 32768}])))
    rb, b = res.create(res.checked(props(h, [{"name": "Application", "maxSizeKb": 32768}, {"name": "System", "maxSizeKb": 32768}])))
    assert b["prior"]["application"]["maxSizeBytes"] == 20480 * 1024, "B sees the original, recorded by A"
    res.delete(ra, a)
    assert local(m, "Application")["maxSizeBytes"] == 32768 * 1024, "B still manages it"
    res.delete(rb, b)
    assert host_snapshot(m) == before


def test_concurrent_creates_through_the_4_thread_host_keep_every_prior(res, lab):
    h = lab.hosts[0]
    m = h.model
    before = host_snapshot(m)
    names = ["Application", "System", "Security", "Setup"]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda n: res.create(res.checked(props(h, [{"name": n, "maxSizeKb": 65536}]))), names))
    assert set(journal(m)[KEY]["prior"]) == {n.lower() for n in names}
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda r: res.delete(*r), results))
    assert host_snapshot(m) == before


def test_secret_connection_input_is_accepted(res, lab):
    h = lab.hosts[0]
    conn = connection(h)
    conn["password"] = secret(conn["password"])
    inputs, failures = res.check({"connection": conn, "logs": [{"name": "Application", "maxSizeKb": 32768}]})
    assert failures == []
    rid, outs = res.create(inputs)
    res.delete(rid, outs)


def test_pulumi_state_lost_then_up_again_adopts_the_journal_and_destroy_restores(res, lab):
    """The stack's state is gone (new backend, deleted stack): the next `up` creates the resource again;
    it finds the journal entry and records the original values, not the ones winfleet had set."""
    h = lab.hosts[0]
    m = h.model
    before = host_snapshot(m)
    inputs = res.checked(props(h, [{"name": "System", "maxSizeKb": 65536, "retention": "retain"}]))
    res.create(inputs)                         # ...and its outputs are lost
    rid, outs = res.create(inputs)
    assert outs["changed"] is False
    assert outs["prior"]["system"] == {"name": "System", "maxSizeBytes": 20480 * 1024, "retention": "circular"}
    res.delete(rid, outs)
    assert host_snapshot(m) == before


def test_fault_during_an_update_is_completed_by_the_next_run(res, lab):
    """An update that dies half-way is not rolled back (Pulumi keeps the old state and the journal
    keeps the prior values); the next `up` completes it and destroy still restores the originals."""
    h = lab.hosts[0]
    m = h.model
    before = host_snapshot(m)
    rid, outs = res.create(res.checked(props(h, [{"name": "Application", "maxSizeKb": 32768}])))
    new = res.checked(props(h, [{"name": "Application", "maxSizeKb": 65536}, {"name": "System", "maxSizeKb": 65536}]))
    inject_step_fault(m, "eventlog.apply", after="Application")
    with pytest.raises(ProviderError):
        res.update(rid, outs, new)
    assert local(m, "Application")["maxSizeBytes"] == 65536 * 1024 and local(m, "System")["maxSizeBytes"] == 20480 * 1024
    assert set(journal(m)[KEY]["prior"]) == {"application", "system"}, "System's prior was recorded before the apply"
    outs2 = res.update(rid, outs, new)          # the engine retries with the old outputs
    assert outs2["changes"] == [{"log": "System", "maxSizeBytes": 65536 * 1024}]
    assert outs2["prior"]["application"]["maxSizeBytes"] == 20480 * 1024
    res.delete(rid, outs2)
    assert host_snapshot(m) == before


def test_op_counts_create_2_converged_1_update_2_delete_2(res, lab):
    """The journal read rides on the resource's read op (no journal.read of its own): create =
    eventlog.read (+journal read) + eventlog.apply (+journal write); converged = eventlog.read only;
    delete = eventlog.read (+journal read) + eventlog.apply (restore, +journal clear)."""
    h = lab.hosts[0]
    m = h.model

    def delta(n):
        return {k: v - n.get(k, 0) for k, v in h.counters.snapshot()["ops"].items() if v != n.get(k, 0)}

    before = host_snapshot(m)
    assert KEY not in journal(m)
    inputs = res.checked(props(h, [{"name": "Setup", "maxSizeKb": 40960}]))
    n = dict(h.counters.snapshot()["ops"])
    rid, outs = res.create(inputs)
    assert outs["changed"] is True and delta(n) == {"eventlog.read": 1, "eventlog.apply": 1}
    entry = journal(m)[KEY]                        # written by the apply's envelope, before it changed anything
    assert set(entry["holders"]) == {"setup"} and entry["prior"]["setup"]["maxSizeBytes"] == 20480 * 1024

    n = dict(h.counters.snapshot()["ops"])
    assert res.update(rid, outs, inputs)["changed"] is False
    assert delta(n) == {"eventlog.read": 1}

    new = res.checked(props(h, [{"name": "Setup", "maxSizeKb": 81920}]))
    n = dict(h.counters.snapshot()["ops"])
    outs = res.update(rid, outs, new)
    assert outs["changed"] is True and delta(n) == {"eventlog.read": 1, "eventlog.apply": 1}

    n = dict(h.counters.snapshot()["ops"])
    res.delete(rid, outs)
    assert delta(n) == {"eventlog.read": 1, "eventlog.apply": 1}
    assert host_snapshot(m) == before and KEY not in journal(m)


GB = 1024 ** 3


def test_sizes_the_os_volume_cannot_hold_are_refused_before_anything_changes(res, lab):
    """Issue 14 item 3: the emulated OS disk is 127 GB with ~105 GB free on C:, where the logs live."""
    m = lab.hosts[0].model
    snap = host_snapshot(m)
    free = m.storage.volume("C")["sizeBytes"] - m.storage.volume("C")["usedBytes"]
    huge_kb = (free // 1024 // 64) * 64                     # one log as large as all free space
    with pytest.raises(ProviderError) as e:
        res.create(res.checked(props(lab.hosts[0], [{"name": "Security", "maxSizeKb": huge_kb}])))
    assert "logs: the event logs on C: could grow by" in e.value.details and "must stay free" in e.value.details
    assert host_snapshot(m) == snap, "refused at plan time: nothing changed, nothing journaled"


def test_auto_backup_archives_count_against_the_volume(res, lab):
    m = lab.hosts[0].model
    size_kb = 20 * 1024 * 1024                              # 20 GiB: fits circular, not with 4 archives
    rid, outs = res.create(res.checked(props(lab.hosts[0], [{"name": "Security", "maxSizeKb": size_kb}])))
    with pytest.raises(ProviderError) as e:
        res.update(rid, outs, res.checked(props(lab.hosts[0], [{"name": "Security", "maxSizeKb": size_kb,
                                                                 "retention": "autoBackup"}])))
    assert "Security 20.0 GiB + 4 archives" in e.value.details
    # fewer archives budgeted (the operator archives them away) fits
    outs = res.update(rid, outs, res.checked({**props(lab.hosts[0], [{"name": "Security", "maxSizeKb": size_kb,
                                                                      "retention": "autoBackup"}]),
                                              "capacity": {"archivesPerLog": 1}}))
    assert m.eventlogs.get("Security")["retention"] == "autoBackup"
    res.delete(rid, outs)


def test_capacity_counts_the_volume_the_log_file_is_on(res, lab):
    """A log moved to the data volume counts against that volume, not C:."""
    m = lab.hosts[0].model
    st = m.storage
    st.set_online(1, True)
    st.initialize(1, "GPT")
    st.new_partition(1, "D")
    st.format("D", "NTFS", "Data")
    m.eventlogs.move_file("Application", r"D:\logs\Application.evtx")
    with pytest.raises(ProviderError) as e:       # 64 GB data disk: 80 GiB does not fit on D:
        res.create(res.checked(props(lab.hosts[0], [{"name": "Application", "maxSizeKb": 80 * 1024 * 1024}])))
    assert "the event logs on D:" in e.value.details
    # the file's current size is already on disk: only the growth counts
    m.eventlogs.set_file_size("Application", 40 * GB)
    st.charge("D", "winfleetadmin", 40 * GB)
    rid, outs = res.create(res.checked(props(lab.hosts[0], [{"name": "Application", "maxSizeKb": 50 * 1024 * 1024}])))
    res.delete(rid, outs)
