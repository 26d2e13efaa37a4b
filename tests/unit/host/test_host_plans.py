"""Pure planning of the three resources: given inputs and a live state, which primitive changes."""
import pytest

from components.host.base import PlanContext, Refused
from components.host.data_volume import DataVolumeProvider
from components.host.event_log_settings import EventLogSettingsProvider, nearest_sizes_kb
from components.host.ntfs_quota import NtfsQuotaProvider
from tests.unit.host.fakehost import connection

GB = 2 ** 30


def model(provider, **kw):
    return provider.model.model_validate({"connection": connection(), **kw})


# --- EventLogSettings ---------------------------------------------------------------------------
def log(name, size_kb, mode="circular", policy=None, local=None):
    return {"request": name, "exists": True, "name": name, "classic": True, "maxSizeBytes": size_kb * 1024,
            "retention": mode, "local": local or {"maxSizeBytes": size_kb * 1024, "retention": mode}, "policy": policy,
            "filePath": f"C:\\Windows\\System32\\winevt\\Logs\\{name}.evtx", "fileSizeBytes": 69632}


VOLS = [{"letter": "C", "sizeBytes": 127 * GB, "freeBytes": 100 * GB}]


def test_eventlog_plan_changes_only_what_differs():
    p = EventLogSettingsProvider()
    ins = model(p, logs=[{"name": "Application", "maxSizeKb": 32768}, {"name": "System", "maxSizeKb": 20480, "retention": "retain"}])
    cur = {"logs": [log("Application", 20480), log("System", 20480)], "volumes": VOLS}
    assert p.plan(ins, cur) == [{"log": "Application", "maxSizeBytes": 32768 * 1024},
                                {"log": "System", "retention": "retain"}]
    assert p.plan(ins, {"logs": [log("Application", 32768), log("System", 20480, "retain")]}) == []


def test_eventlog_plan_uses_the_hosts_spelling_and_refuses_missing_logs():
    p = EventLogSettingsProvider()
    ins = model(p, logs=[{"name": "application", "maxSizeKb": 32768}])
    cur = {"logs": [dict(log("Application", 20480), request="application")], "volumes": VOLS}
    assert p.plan(ins, cur) == [{"log": "Application", "maxSizeBytes": 32768 * 1024}]
    with pytest.raises(Refused) as e:
        p.plan(ins, {"logs": [{"request": "application", "exists": False}]})
    assert e.value.field == "logs[0].name"


def test_eventlog_policy_managed_setting_is_refused_unless_it_already_matches():
    p = EventLogSettingsProvider()
    cur = {"logs": [log("Security", 196608, policy={"maxSizeKb": 196608}, local={"maxSizeBytes": 20480 * 1024, "retention": "circular"})]}
    assert p.plan(model(p, logs=[{"name": "Security", "maxSizeKb": 196608}]), cur) == []
    with pytest.raises(Refused) as e:
        p.plan(model(p, logs=[{"name": "Security", "maxSizeKb": 262144}]), cur)
    assert e.value.field == "logs[0].maxSizeKb" and "Group Policy" in e.value.message


def test_eventlog_restore_plan_puts_back_local_values():
    p = EventLogSettingsProvider()
    ins = model(p, logs=[{"name": "Application", "maxSizeKb": 32768}])
    prior = {"application": {"name": "Application", "maxSizeBytes": 20480 * 1024, "retention": "circular"}}
    assert p.restore_plan(ins, prior, {"logs": [log("Application", 32768, "retain")]}) == [
        {"log": "Application", "maxSizeBytes": 20480 * 1024, "retention": "circular"}]
    assert p.restore_plan(ins, prior, {"logs": [log("Application", 20480)]}) == []
    # a log not read this time (dropped from the inputs) is restored unconditionally
    assert p.restore_plan(ins, prior, {"logs": []}) == [{"log": "Application", "maxSizeBytes": 20480 * 1024, "retention": "circular"}]


@pytest.mark.parametrize("size_gb,mode,archives,free_gb,ok", [
    (80, "circular", 4, 100, True),        # 80 GiB growth; 100 - 12.7 (10 % of 127) = 87.3 free: fits
    (90, "circular", 4, 100, False),       # 90 > 87.3
    (15, "autoBackup", 4, 100, True),      # 15 x (1 + 4) = 75
    (20, "autoBackup", 4, 100, False),     # 20 x 5 = 100
    (20, "autoBackup", 0, 100, True),      # no archives budgeted
    (1, "circular", 4, 5, False),          # 5 GiB free minus the 12.7 GiB reserve: nothing fits
])
def test_eventlog_capacity_rule(size_gb, mode, archives, free_gb, ok):
    p = EventLogSettingsProvider()
    ins = model(p, logs=[{"name": "Security", "maxSizeKb": size_gb * 1024 * 1024, "retention": mode}],
                capacity={"archivesPerLog": archives})
    cur = {"logs": [log("Security", 20480)], "volumes": [{"letter": "C", "sizeBytes": 127 * GB, "freeBytes": free_gb * GB}]}
    if ok:
        assert p.plan(ins, cur)
    else:
        with pytest.raises(Refused) as e:
            p.plan(ins, cur)
        assert e.value.field == "logs" and "C:" in e.value.message


def test_eventlog_capacity_not_checked_when_nothing_changes():
    """A converged host whose disk filled up for other reasons is not refused for a no-op."""
    p = EventLogSettingsProvider()
    ins = model(p, logs=[{"name": "Security", "maxSizeKb": 20480}])
    assert p.plan(ins, {"logs": [log("Security", 20480)], "volumes": [{"letter": "C", "sizeBytes": 127 * GB, "freeBytes": 0}]}) == []


@pytest.mark.parametrize("kb,expect", [(1000, (1024, 1024)), (32769, (32768, 32832)), (65536, (65536, 65536))])
def test_nearest_valid_sizes(kb, expect):
    assert nearest_sizes_kb(kb) == expect


# --- NtfsQuota ----------------------------------------------------------------------------------
def qstate(state="disabled", entry=None, admin=False, exists=True, fs="NTFS", logging=True):
    return {"volume": {"letter": "D", "exists": True, "fileSystem": fs, "state": state, "defaultLimit": -1, "defaultWarning": -1,
                       "logThreshold": logging, "logLimit": logging},
            "accounts": [{"name": "NT SERVICE\\api", "exists": exists, "admin": admin, "entry": entry}]}


def qin(**kw):
    p = NtfsQuotaProvider()
    base = {"volume": "d", "account": "NT SERVICE\\api", "warningBytes": 80, "limitBytes": 100, "budgetBytes": 90, "enforce": True}
    return p, model(p, **{**base, **kw})


def test_quota_entry_first_then_enforcement():
    p, ins = qin()
    assert ins.volume == "D:"
    ch = p.plan_in_context(ins, qstate(), PlanContext(prior={"volume": {"state": "disabled"}}))
    assert ch == [{"do": "setEntry", "account": "NT SERVICE\\api", "warningBytes": 80, "limitBytes": 100},
                  {"do": "setState", "state": "enforced"}]


def test_quota_events_are_switched_on_and_restored():
    p, ins = qin()
    ch = p.plan_in_context(ins, qstate(logging=False), PlanContext(prior={"volume": {"state": "disabled"}}))
    assert ch[-1] == {"do": "setLogging", "logThreshold": True, "logLimit": True}
    prior = {"volume": {"state": "disabled", "logThreshold": False, "logLimit": False}}
    assert p.restore_plan(ins, prior, qstate("enforced")) == [
        {"do": "setLogging", "logThreshold": False, "logLimit": False}, {"do": "setState", "state": "disabled"}]
    # a journal entry written before winfleet recorded the flags: they are left alone
    assert p.restore_plan(ins, {"volume": {"state": "disabled"}}, qstate("enforced")) == [
        {"do": "setState", "state": "disabled"}]


def test_quota_tracking_only_never_downgrades_another_enforcer():
    p, ins = qin(enforce=False)
    entry = {"warningBytes": 80, "limitBytes": 100, "usedBytes": 0, "explicit": True}
    ctx = PlanContext(others={"volume": {"D:nt service\\web": {"enforce": True}}}, prior={"volume": {"state": "disabled"}})
    assert p.plan_in_context(ins, qstate("enforced", entry), ctx) == []
    alone = PlanContext(prior={"volume": {"state": "disabled"}})
    assert p.plan_in_context(ins, qstate("enforced", entry), alone) == [{"do": "setState", "state": "tracked"}]
    was_enforced = PlanContext(prior={"volume": {"state": "enforced"}})
    assert p.plan_in_context(ins, qstate("enforced", entry), was_enforced) == []


@pytest.mark.parametrize("cur,field", [
    (qstate(admin=True), "account"), (qstate(exists=False), "account"), (qstate(fs="ReFS"), "volume"),
    ({"volume": {"letter": "D", "exists": False}, "accounts": []}, "volume"),
])
def test_quota_refusals(cur, field):
    p, ins = qin()
    with pytest.raises(Refused) as e:
        p.plan_in_context(ins, cur, PlanContext())
    assert e.value.field == field


def test_quota_restore_entry_then_state_and_files_keep_the_entry():
    p, ins = qin()
    prior = {"volume": {"state": "disabled"}, "entry:nt service\\api": {"account": "NT SERVICE\\api", "exists": False}}
    entry = {"warningBytes": 80, "limitBytes": 100, "usedBytes": 0, "explicit": True}
    assert p.restore_plan(ins, prior, qstate("enforced", entry)) == [
        {"do": "removeEntry", "account": "NT SERVICE\\api"}, {"do": "setState", "state": "disabled"}]
    used = dict(entry, usedBytes=5)
    assert p.restore_plan(ins, prior, qstate("enforced", used))[0] == {
        "do": "setEntry", "account": "NT SERVICE\\api", "warningBytes": -1, "limitBytes": -1}


def test_quota_after_release_follows_the_remaining_claims():
    p, ins = qin()
    ctx = PlanContext(others={"volume": {"b": {"enforce": False}}}, prior={"volume": {"state": "disabled"}})
    assert p.plan_after_release(ins, qstate("enforced"), ctx) == [{"do": "setState", "state": "tracked"}]
    ctx = PlanContext(others={"volume": {"b": {"enforce": True}}}, prior={"volume": {"state": "disabled"}})
    assert p.plan_after_release(ins, qstate("enforced"), ctx) == []


# --- DataVolume ---------------------------------------------------------------------------------
def disk(number, lun, style="RAW", online=False, boot=False, parts=()):
    return {"number": number, "lun": lun, "location": "", "sizeBytes": 64 * GB, "online": online, "readOnly": False,
            "partitionStyle": style, "isBoot": boot, "isSystem": boot, "partitions": list(parts)}


def part(number, letter=None, fs=None, label="", ptype="Basic"):
    vol = None if fs is None else {"uniqueId": f"v{number}", "fileSystem": fs, "label": label, "sizeBytes": GB, "freeBytes": GB}
    return {"number": number, "type": ptype, "sizeBytes": GB, "driveLetter": letter, "volume": vol}


OS = disk(0, 0, "GPT", True, True, [part(1, None, "FAT32", ptype="System"), part(2, ptype="Reserved"), part(3, "C", "NTFS", "Windows")])


def dv(**kw):
    p = DataVolumeProvider()
    return p, model(p, **{"lun": 0, "driveLetter": "D", "label": "Data", **kw})


def test_volume_full_plan_skips_the_os_disk_at_the_same_lun():
    p, ins = dv()
    cur = {"disks": [OS, disk(1, 0)]}
    steps = p.plan_in_context(ins, cur, PlanContext())
    assert [s["do"] for s in steps] == ["online", "initialize", "partition", "format"]
    assert {s["disk"] for s in steps} == {1}


def test_volume_resumes_on_a_held_disk_and_refuses_a_foreign_one():
    p, ins = dv()
    half = {"disks": [OS, disk(1, 0, "GPT", True, parts=[part(1, ptype="Reserved"), part(2, "D")])]}
    held = PlanContext(held=frozenset({"disk"}), prior={"disk": {"number": 1, "online": False, "readOnly": False,
                                                                 "partitionStyle": "RAW", "partitions": []}})
    assert [s["do"] for s in p.plan_in_context(ins, half, held)] == ["format"]
    with pytest.raises(Refused) as e:       # the same disk, not held by us: someone else's partition at D:
        p.plan_in_context(ins, half, PlanContext())
    assert e.value.field == "lun"


def test_volume_letter_drift_and_label_change():
    p, ins = dv(label="New")
    moved = {"disks": [OS, disk(1, 0, "GPT", True, parts=[part(1, ptype="Reserved"), part(2, "E", "NTFS", "Data")])]}
    held = PlanContext(held=frozenset({"disk"}), prior={"disk": {"number": 1, "online": False, "readOnly": False,
                                                                 "partitionStyle": "RAW", "partitions": []}})
    assert [(s["do"], s.get("driveLetter")) for s in p.plan_in_context(ins, moved, held)] == [("letter", "D"), ("label", "D")]


def test_volume_restore_back_to_raw_offline():
    p, ins = dv()
    now = {"disks": [OS, disk(1, 0, "GPT", True, parts=[part(1, ptype="Reserved"), part(2, "D", "NTFS")])]}
    prior = {"disk": {"number": 1, "online": False, "readOnly": False, "partitionStyle": "RAW", "partitions": []}}
    assert [s["do"] for s in p.restore_plan(ins, prior, now)] == ["clear", "offline"]
    was_gpt = {"disk": {"number": 1, "online": True, "readOnly": False, "partitionStyle": "GPT", "partitions": [1]}}
    assert p.restore_plan(ins, was_gpt, now) == [{"do": "removePartition", "partitionNumber": 2, "disk": 1}]


def test_volume_disk_selection_errors():
    p, ins = dv(lun=3)
    with pytest.raises(Refused) as e:
        p.plan_in_context(ins, {"disks": [OS, disk(1, 0)]}, PlanContext())
    assert e.value.field == "lun" and "LUN 3" in e.value.message
    p, ins = dv()
    with pytest.raises(Refused):
        p.plan_in_context(ins, {"disks": [OS, disk(1, 0), disk(2, 0)]}, PlanContext())
    p, ins = dv(lun=None, diskNumber=0)
    with pytest.raises(Refused) as e:
        p.plan_in_context(ins, {"disks": [OS]}, PlanContext())
    assert "boot/system" in e.value.message
