"""NtfsQuota through the real dynamic-provider host (gRPC) against the emulator over WinRM."""
from __future__ import annotations

import concurrent.futures

import pytest

from components.host.ntfs_quota import NtfsQuotaProvider
from tests.emulator.ops.svc_support import inject_step_fault
from tests.emulator.windows.storage import DiskQuotaExceeded
from tests.providers.conftest import connection, host_dies_after_fault, host_snapshot, journal
from tests.providers.harness import ProviderError

KEY = "NtfsQuota/D:"
MB = 1024 * 1024


@pytest.fixture
def res(provider_host):
    return provider_host.resource(NtfsQuotaProvider())


@pytest.fixture
def host(lab):
    """A lab host whose data disk already carries D: (NTFS), as a DataVolume would leave it."""
    h = lab.hosts[0]
    st = h.model.storage
    st.set_online(1, True)
    st.initialize(1, "GPT")
    st.new_partition(1, "D")
    st.format("D", "NTFS", "Data")
    for name in ("api", "web", "jobs", "svc0", "svc1", "svc2", "svc3"):
        register(h.model, name)
    return h


def register(m, name: str) -> None:
    """Register the service NT SERVICE\\<name> belongs to: the virtual account exists only from then on."""
    m.scm.create(name, name, f'"C:\\Program Files\\winfleet\\{name}\\{name}.exe"', account=f"NT SERVICE\\{name}")


def props(h, account="NT SERVICE\\api", **kw):
    p = {"connection": connection(h), "volume": "D:", "account": account, "warningBytes": 400 * MB,
         "limitBytes": 500 * MB, "budgetBytes": 450 * MB, "enforce": True}
    p.update(kw)
    return p


def ops(h) -> int:
    return sum(h.counters.snapshot()["ops"].values())


def test_lifecycle_create_noop_update_drift_delete(res, host):
    m = host.model
    before = host_snapshot(m)
    inputs = res.checked(props(host))
    rid, outs = res.create(inputs)
    assert outs["changed"] and [c["do"] for c in outs["changes"]] == ["setEntry", "setState", "setLogging"]
    assert m.storage.quota("D")["state"] == "enforced"
    assert m.storage.entry("D", "NT SERVICE\\api")["limitBytes"] == 500 * MB
    assert outs["prior"] == {"volume": {"state": "disabled", "logThreshold": False, "logLimit": False},
                             "entry:nt service\\api": {"account": "NT SERVICE\\api", "exists": False}}
    assert journal(m)[KEY]["prior"] == outs["prior"]

    # the quota bites for the service account
    m.storage.charge("D", "NT SERVICE\\api", 499 * MB)
    with pytest.raises(DiskQuotaExceeded):
        m.storage.charge("D", "NT SERVICE\\api", 2 * MB)
    m.storage.charge("D", "NT SERVICE\\api", -499 * MB)

    # second run: local diff, no WinRM
    n = ops(host)
    assert res.diff(rid, outs, res.checked(props(host)))["changes"] == "none"
    assert ops(host) == n
    assert res.update(rid, outs, inputs)["changed"] is False

    # update limits in place; account/volume changes are replaces
    new = res.checked(props(host, limitBytes=600 * MB))
    assert res.diff(rid, outs, new) == {"changes": "some", "replaces": [], "deleteBeforeReplace": False}
    assert res.diff(rid, outs, res.checked(props(host, account="NT SERVICE\\web")))["replaces"] == ["account"]
    outs = res.update(rid, outs, new)
    assert outs["changes"] == [{"do": "setEntry", "account": "NT SERVICE\\api", "warningBytes": 400 * MB, "limitBytes": 600 * MB}]

    # drift: an operator turns quotas off and edits the entry
    m.storage.set_quota_state("D", "disabled")
    m.storage.set_entry("D", "NT SERVICE\\api", -1, -1)
    _, read_outs = res.read(rid, outs)
    assert read_outs["drift"] == ["enforce", "limitBytes", "warningBytes"]
    assert read_outs["state"]["volume"]["state"] == "disabled"
    assert res.diff(rid, read_outs, new)["changes"] == "some"
    outs = res.update(rid, read_outs, new)
    assert m.storage.quota("D")["state"] == "enforced" and m.storage.entry("D", "NT SERVICE\\api")["limitBytes"] == 600 * MB
    assert outs["prior"]["volume"] == {"state": "disabled", "logThreshold": False, "logLimit": False}, "the prior value is still the original"

    res.delete(rid, outs)
    assert host_snapshot(m) == before
    assert journal(m) == {}


def test_several_quotas_share_the_volume_state(res, host):
    """Volume state is recorded once (first NtfsQuota) and restored by the last one deleted;
    enforcement lasts while any remaining NtfsQuota asks for it."""
    m = host.model
    before = host_snapshot(m)
    ra, a = res.create(res.checked(props(host, "NT SERVICE\\api", enforce=True)))
    rb, b = res.create(res.checked(props(host, "NT SERVICE\\web", enforce=False)))
    rc, c = res.create(res.checked(props(host, "NT SERVICE\\jobs", enforce=False)))
    assert b["prior"]["volume"] == {"state": "disabled", "logThreshold": False, "logLimit": False}, "B and C see the original state recorded by A"
    assert m.storage.quota("D")["state"] == "enforced"
    holders = journal(m)[KEY]["holders"]["volume"]
    assert len(holders) == 3
    res.delete(ra, a)       # the only enforcer goes: the others only want tracking
    assert m.storage.quota("D")["state"] == "tracked"
    assert m.storage.entry("D", "NT SERVICE\\api") is None
    res.delete(rb, b)
    assert m.storage.quota("D")["state"] == "tracked", "C still holds the volume"
    res.delete(rc, c)
    assert host_snapshot(m) == before


def test_concurrent_creates_and_deletes_keep_the_refcount(res, host):
    m = host.model
    before = host_snapshot(m)
    accounts = [f"NT SERVICE\\svc{i}" for i in range(4)]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        made = list(pool.map(lambda a: res.create(res.checked(props(host, a))), accounts))
    assert len(journal(m)[KEY]["holders"]["volume"]) == 4
    assert {a.lower() for a in m.storage.disks[1]["partitions"][1]["volume"]["quota"]["entries"]} == \
        {a.lower() for a in accounts}
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda r: res.delete(*r), made))
    assert host_snapshot(m) == before


def test_prior_entry_is_restored(res, host):
    m = host.model
    m.storage.set_quota_state("D", "tracked")
    m.storage.set_entry("D", "NT SERVICE\\api", 10 * MB, 20 * MB)
    before = host_snapshot(m)
    rid, outs = res.create(res.checked(props(host)))
    assert outs["prior"]["entry:nt service\\api"] == {"account": "NT SERVICE\\api", "exists": True,
                                                      "warningBytes": 10 * MB, "limitBytes": 20 * MB}
    res.delete(rid, outs)
    assert host_snapshot(m) == before


@pytest.mark.parametrize("account", ["LocalSystem", "NT AUTHORITY\\SYSTEM", "BUILTIN\\Administrators", "Administrators"])
def test_exempt_accounts_are_refused_in_check(res, host, account):
    before, n = host_snapshot(host.model), ops(host)
    _inputs, failures = res.check(props(host, account))
    assert [p for p, _ in failures] == ["account"]
    assert "exempt" in failures[0][1]
    assert host_snapshot(host.model) == before and ops(host) == n


def test_an_admin_account_on_the_host_is_refused_not_pretended(res, host):
    m = host.model
    m.accounts.add(f"{host.name}\\opsadmin", admin=True)
    before = host_snapshot(m)
    with pytest.raises(ProviderError) as e:
        res.create(res.checked(props(host, f"{host.name}\\opsadmin")))
    assert "account" in e.value.details and "administrator" in e.value.details
    assert host_snapshot(m) == before
    # and the emulator shows why: an admin's files are never limited, even with an entry
    m.storage.set_quota_state("D", "enforced")
    m.storage.set_entry("D", f"{host.name}\\opsadmin", 1, 1)
    m.storage.charge("D", f"{host.name}\\opsadmin", 100 * MB)


def test_quota_for_a_virtual_account_waits_for_its_service(res, host):
    """Issue 11 item 2: NT SERVICE\\<svc> resolves only once <svc> is registered. Before, the plan
    refuses and nothing changes; once the SCM has the service the same inputs converge; once the
    service is gone again the account is gone too (so the quota must be deleted before the service:
    GoService makes the quota depend on the WindowsService)."""
    m = host.model
    before = host_snapshot(m)
    inputs = res.checked(props(host, "NT SERVICE\\orders"))
    with pytest.raises(ProviderError) as e:
        res.create(inputs)
    assert "account" in e.value.details and "does not exist" in e.value.details
    assert host_snapshot(m) == before
    register(m, "orders")
    rid, outs = res.create(inputs)
    assert m.storage.entry("D", "NT SERVICE\\orders")["limitBytes"] == 500 * MB
    res.delete(rid, outs)
    assert m.storage.entry("D", "NT SERVICE\\orders") is None
    m.scm.delete("orders")
    assert not m.accounts.exists("NT SERVICE\\orders")


def test_missing_volume_or_account_is_refused(res, lab):
    h = lab.hosts[0]
    before = host_snapshot(h.model)
    with pytest.raises(ProviderError) as e:
        res.create(res.checked(props(h)))
    assert "volume" in e.value.details and "no volume D:" in e.value.details
    assert host_snapshot(h.model) == before


@pytest.mark.parametrize("change,field,words", [
    ({"warningBytes": 600 * MB}, "warningBytes", "must not exceed the limit"),
    ({"budgetBytes": 900 * MB}, "limitBytes", "does not cover budgetBytes"),
    ({"volume": "C:"}, "volume", "D:' to 'Z:"),
    ({"volume": "D:\\data"}, "volume", "drive letter"),
    ({"limitBytes": 0}, "limitBytes", "greater than or equal to 1"),
    ({"enforce": "maybe"}, "enforce", "boolean"),
    ({"quota": 1}, "quota", "unknown input"),
])
def test_check_rejects_bad_inputs_naming_the_field(res, host, change, field, words):
    before, n = host_snapshot(host.model), ops(host)
    _inputs, failures = res.check(props(host, **change))
    assert field in dict(failures), failures
    assert dict(failures)[field].startswith(field) and words in dict(failures)[field]
    assert host_snapshot(host.model) == before and ops(host) == n


REJECTED = ["NT SERVICE\\a\"; Remove-Item C:\\ -Recurse; \"", "a\nb", "x;y", "svc|more", "a*", "NT SERVICE\\x\\y"]
LITERAL = ["NT SERVICE\\$(Stop-Computer)", "NT SERVICE\\a`b", "O'Brien", "NT SERVICE\\Dienst-ü-漢字", "NT SERVICE\\x y"]


@pytest.mark.parametrize("account", REJECTED)
def test_hostile_accounts_with_forbidden_characters_are_refused(res, host, account):
    before, n = host_snapshot(host.model), ops(host)
    _inputs, failures = res.check(props(host, account))
    assert [p for p, _ in failures] == ["account"]
    assert host_snapshot(host.model) == before and ops(host) == n


@pytest.mark.parametrize("account", LITERAL)
def test_odd_account_names_are_stored_literally(res, host, account):
    """Legal-but-odd names travel as JSON data: the quota entry carries exactly that name."""
    m = host.model
    if not account.lower().startswith("nt service\\"):
        m.accounts.add(account)
    else:
        register(m, account.split("\\", 1)[1])
    before = host_snapshot(m)
    rid, outs = res.create(res.checked(props(host, account)))
    entry = m.storage.disks[1]["partitions"][1]["volume"]["quota"]["entries"][account.lower()]
    assert entry["account"] == account
    res.delete(rid, outs)
    assert host_snapshot(m) == before


def test_fault_between_steps_rolls_back_a_create(res, host):
    m = host.model
    before = host_snapshot(m)
    inject_step_fault(m, "quota.apply", after="setEntry")
    with pytest.raises(ProviderError) as e:
        res.create(res.checked(props(host)))
    assert "INJECTED_FAULT" in e.value.details
    assert host_snapshot(m) == before
    rid, outs = res.create(res.checked(props(host)))
    res.delete(rid, outs)
    assert host_snapshot(m) == before


def test_fault_that_kills_the_rollback_loses_nothing(res, host, monkeypatch):
    m = host.model
    before = host_snapshot(m)
    revive = host_dies_after_fault(monkeypatch, "quota.apply")
    inject_step_fault(m, "quota.apply", after="setEntry")
    with pytest.raises(ProviderError):
        res.create(res.checked(props(host)))
    revive()
    assert m.storage.entry("D", "NT SERVICE\\api") is not None, "half-applied"
    assert journal(m)[KEY]["prior"]["entry:nt service\\api"]["exists"] is False
    rid, outs = res.create(res.checked(props(host)))
    assert outs["prior"]["entry:nt service\\api"]["exists"] is False
    res.delete(rid, outs)
    assert host_snapshot(m) == before


def test_entry_of_an_account_that_owns_files_falls_back_to_defaults(res, host):
    """Windows keeps an entry while its account owns files: delete resets it to the volume defaults
    instead of failing (documented deviation from 'exact prior state')."""
    m = host.model
    rid, outs = res.create(res.checked(props(host)))
    m.storage.charge("D", "NT SERVICE\\api", 5 * MB)
    res.delete(rid, outs)
    entry = m.storage.entry("D", "NT SERVICE\\api")
    assert m.storage.quota("D")["state"] == "disabled"
    assert (entry["warningBytes"], entry["limitBytes"]) == (-1, -1)


def test_pulumi_state_lost_then_up_again_adopts_the_journal_and_destroy_restores(res, host):
    m = host.model
    before = host_snapshot(m)
    res.create(res.checked(props(host)))       # its outputs are lost with the stack state
    rid, outs = res.create(res.checked(props(host)))
    assert outs["changed"] is False
    assert outs["prior"]["volume"] == {"state": "disabled", "logThreshold": False, "logLimit": False}
    res.delete(rid, outs)
    assert host_snapshot(m) == before


def test_quota_events_are_switched_on_and_fire_then_destroy_switches_them_off(res, host):
    """Issue 14 item 1: the warning threshold must produce the System-log event (Ntfs 36) before the
    limit bites (Ntfs 37); DiskQuotaControl.LogQuotaThreshold/LogQuotaLimit are off on a fresh volume."""
    m = host.model
    before = host_snapshot(m)
    acct = "NT SERVICE\\api"
    rid, outs = res.create(res.checked(props(host)))
    q = m.storage.quota("D")
    assert q["logThreshold"] is True and q["logLimit"] is True
    assert outs["state"]["volume"]["logThreshold"] is True
    m.storage.charge("D", acct, 401 * MB)                       # over the 400 MB warning
    ev = m.eventlogs.events("System", ids=[36, 37], providers=["Ntfs"])
    assert [e["id"] for e in ev] == [36] and ev[0]["properties"][0] == acct
    with pytest.raises(DiskQuotaExceeded):
        m.storage.charge("D", acct, 100 * MB)                   # the 500 MB limit bites
    assert [e["id"] for e in m.eventlogs.events("System", ids=[36, 37])] == [37, 36]
    m.storage.charge("D", acct, -401 * MB)

    # someone switches the threshold event off: refresh reports drift, the update switches it back on
    m.storage.set_quota_logging("D", False, True)
    _, read = res.read(rid, outs)
    assert "warningBytes" in read["drift"]
    outs = res.update(rid, read, res.checked(props(host)))
    assert outs["changes"] == [{"do": "setLogging", "logThreshold": True, "logLimit": True}]

    res.delete(rid, outs)
    q = m.storage.quota("D")
    assert q["logThreshold"] is False and q["logLimit"] is False, "restored to the volume's prior flags"
    assert host_snapshot(m) == before


def test_quota_logging_already_on_is_recorded_and_kept_on_destroy(res, host):
    m = host.model
    m.storage.set_quota_logging("D", True, False)
    rid, outs = res.create(res.checked(props(host)))
    assert outs["prior"]["volume"]["logThreshold"] is True and outs["prior"]["volume"]["logLimit"] is False
    res.delete(rid, outs)
    q = m.storage.quota("D")
    assert (q["logThreshold"], q["logLimit"]) == (True, False)


def test_findUser_answers_for_any_account_so_explicit_comes_from_the_records(res, host):
    """Issue 11 item 6: FindUser returns the volume defaults for an account without a record
    (Storage.find_user cites FindUserName's remarks). The read must not take that for an entry: the
    prior is "no entry", and delete removes the entry it made instead of writing -1/-1."""
    m = host.model
    st = m.storage
    st.set_quota_state("D", "tracked")
    assert st.find_user("D", "NT SERVICE\\api") == {"account": "NT SERVICE\\api", "warningBytes": -1,
                                                    "limitBytes": -1, "usedBytes": 0}
    assert st.quota_records("D") == []
    before = host_snapshot(m)
    rid, outs = res.create(res.checked(props(host)))
    assert outs["prior"]["entry:nt service\\api"] == {"account": "NT SERVICE\\api", "exists": False}
    assert [r["account"] for r in st.quota_records("D")] == ["NT SERVICE\\api"]
    outs = res.delete(rid, outs)
    assert st.quota_records("D") == [], "the entry is removed, not rewritten as -1/-1"
    assert host_snapshot(m) == before


def test_a_record_ntfs_added_by_itself_is_not_a_prior_entry(res, host):
    """The service starts before its quota (item 2) and, with quotas already on, NTFS adds a record with the
    volume defaults as soon as it writes (automatic user addition). That record is not a prior setting to
    restore: destroy removes the entry (once the account owns nothing) instead of writing the defaults back."""
    m = host.model
    st = m.storage
    st.set_quota_state("D", "tracked")
    before = host_snapshot(m)
    st.charge("D", "NT SERVICE\\api", 3 * MB)                     # the service logs before its quota exists
    assert [r["account"].lower() for r in st.quota_records("D")] == ["nt service\\api"]
    rid, outs = res.create(res.checked(props(host)))
    assert outs["prior"]["entry:nt service\\api"] == {"account": "NT SERVICE\\api", "exists": False}
    st.charge("D", "NT SERVICE\\api", -3 * MB)                    # its logs are gone
    res.delete(rid, outs)
    assert st.quota_records("D") == []
    assert host_snapshot(m) == before
