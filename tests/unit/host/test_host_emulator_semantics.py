"""The emulator's event-log and storage subsystems give the Windows semantics the resources rely on."""
import pytest

from tests.emulator.host_model import HostModel
from tests.emulator.windows.eventlog import EventLogError
from tests.emulator.windows.storage import GB, DiskQuotaExceeded, StorageError


@pytest.fixture
def m():
    return HostModel("web-0")


def test_seeded_defaults(m):
    logs = m.eventlogs.state()
    assert {n: (l["maxSizeBytes"] // 1024, l["retention"]) for n, l in logs.items()} == {
        "Application": (20480, "circular"), "Security": (20480, "circular"), "Setup": (20480, "circular"),
        "System": (20480, "circular"), "Microsoft-Windows-PowerShell/Operational": (15360, "circular")}
    assert logs["Setup"]["classic"] is False
    disks = m.storage.disks
    assert disks[0]["isBoot"] and m.storage.volume("C")["fileSystem"] == "NTFS"
    assert (disks[1]["lun"], disks[1]["online"], disks[1]["partitionStyle"]) == (0, False, "RAW")


def test_a_slash_is_part_of_a_registry_key_name_but_the_provider_splits_on_it(m):
    """Win32 / Microsoft.Win32.Registry see WINEVT\\Channels\\Microsoft-Windows-PowerShell/Operational as one
    key; the PowerShell registry provider opens ...\\Microsoft-Windows-PowerShell\\Operational (registry.py)."""
    from tests.emulator.windows.eventlog import CHANNELS
    from tests.emulator.windows.registry import provider_path
    key = CHANNELS + "\\Microsoft-Windows-PowerShell/Operational"
    assert m.registry.key_exists(key)
    assert "Microsoft-Windows-PowerShell/Operational" in m.registry.subkeys(CHANNELS)
    assert not m.registry.key_exists(provider_path(key))
    assert m.registry.get_value(provider_path(key), "MaxSize") is None


def test_eventlog_size_rules(m):
    with pytest.raises(EventLogError) as e:
        m.eventlogs.set_max_size("Application", 1024 * 1024 - 1)
    assert e.value.code == "INVALID_PARAMETER"
    assert m.eventlogs.set_max_size("Application", 1024 * 1024 + 1) == 1024 * 1024 + 64 * 1024
    with pytest.raises(EventLogError):
        m.eventlogs.set_max_size("NoSuchLog", 2 ** 20)


def test_eventlog_modes_live_in_the_registry(m):
    key = r"HKLM\SYSTEM\CurrentControlSet\Services\EventLog\System"
    m.eventlogs.set_retention("system", "autoBackup")
    assert m.registry.get_value(key, "Retention") == ("REG_DWORD", 0xFFFFFFFF)
    assert m.registry.get_value(key, "AutoBackupLogFiles") == ("REG_DWORD", 1)
    m.eventlogs.set_retention("System", "retain")
    assert m.eventlogs.get("System")["retention"] == "retain"
    m.eventlogs.set_retention("System", "circular")
    assert m.registry.get_value(key, "Retention") == ("REG_DWORD", 0)


def test_group_policy_overrides_local_settings(m):
    m.eventlogs.set_policy("Security", max_size_kb=196608, retention="0")
    m.eventlogs.set_max_size("Security", 64 * 2 ** 20)
    got = m.eventlogs.get("Security")
    assert got["maxSizeBytes"] == 196608 * 1024 and got["policy"] == {"maxSizeKb": 196608, "retention": "0"}
    assert m.eventlogs.local("Security")["maxSizeBytes"] == 64 * 2 ** 20


def test_disk_bring_up_order_is_enforced(m):
    st = m.storage
    with pytest.raises(StorageError) as e:
        st.initialize(1, "GPT")
    assert e.value.code == "DISK_OFFLINE"
    st.set_online(1, True)
    with pytest.raises(StorageError) as e:
        st.new_partition(1, "D")
    assert e.value.code == "DISK_NOT_INITIALIZED"
    st.initialize(1, "GPT")
    assert [p["type"] for p in st.disks[1]["partitions"]] == ["Reserved"]
    with pytest.raises(StorageError) as e:
        st.initialize(1, "GPT")
    assert e.value.code == "DISK_ALREADY_INITIALIZED"
    with pytest.raises(StorageError) as e:
        st.new_partition(1, "C")
    assert e.value.code == "ACCESS_PATH_IN_USE"
    st.new_partition(1, "D")
    st.format("D", "NTFS", "x" * 32)
    with pytest.raises(StorageError):
        st.set_label("D", "x" * 33)
    with pytest.raises(StorageError):
        st.set_online(0, False)
    with pytest.raises(StorageError):
        st.clear(0)
    st.clear(1)
    assert st.disks[1]["partitionStyle"] == "RAW" and st.disks[1]["partitions"] == []


def _d(m):
    st = m.storage
    st.set_online(1, True)
    st.initialize(1, "GPT")
    st.new_partition(1, "D")
    st.format("D", "NTFS", "Data")
    for svc in ("api", "web"):  # their virtual accounts exist only once the services do
        m.scm.create(svc, svc, f'"C:\\svc\\{svc}.exe"', account=f"NT SERVICE\\{svc}")
    return st


def test_virtual_accounts_exist_only_while_their_service_does(m):
    """LookupAccountName resolves NT SERVICE\\<svc> only for a registered service (accounts.py cites it)."""
    assert not m.accounts.exists("NT SERVICE\\later")
    m.scm.create("later", "later", '"C:\\svc\\later.exe"', account="NT SERVICE\\later")
    assert m.accounts.exists("NT SERVICE\\Later")
    m.scm.delete("later")
    assert not m.accounts.exists("NT SERVICE\\later")


def test_quota_is_charged_to_the_owner_and_admins_are_exempt(m):
    st = _d(m)
    st.set_quota_state("D", "enforced")
    st.set_entry("D", "NT SERVICE\\api", 50, 100)
    st.charge("D", "NT SERVICE\\api", 100)
    with pytest.raises(DiskQuotaExceeded):
        st.charge("D", "NT SERVICE\\api", 1)
    # LocalSystem writes as Administrators: never limited, even with an entry on the account
    st.set_entry("D", "NT AUTHORITY\\SYSTEM", 1, 1)
    st.charge("D", "NT AUTHORITY\\SYSTEM", 10 * 2 ** 20)
    assert st.entry("D", "BUILTIN\\Administrators")["usedBytes"] == 10 * 2 ** 20


def test_quota_tracking_never_blocks_and_entries_with_files_stay(m):
    st = _d(m)
    st.set_quota_state("D", "tracked")
    st.set_entry("D", "NT SERVICE\\api", 1, 1)
    st.charge("D", "NT SERVICE\\api", 1000)
    with pytest.raises(StorageError) as e:
        st.remove_entry("D", "NT SERVICE\\api")
    assert e.value.code == "QUOTA_ENTRY_IN_USE"
    st.charge("D", "NT SERVICE\\web", 10)
    implicit = st.entry("D", "NT SERVICE\\web")
    assert implicit["explicit"] is False and implicit["limitBytes"] == -1


def test_quota_needs_ntfs_and_a_known_account(m):
    st = _d(m)
    with pytest.raises(StorageError) as e:
        st.set_entry("D", "nobody\\ghost", 1, 1)
    assert e.value.code == "ACCOUNT_NOT_FOUND"
    st.add_disk(number=2, lun=1, size=GB, online=True, style="GPT")
    st.new_partition(2, "R")
    st.format("R", "ReFS", "r")
    with pytest.raises(StorageError) as e:
        st.quota("R")
    assert e.value.code == "NOT_NTFS"


def test_registry_delete_key_if_empty_only_deletes_empty_keys(m):
    reg = m.registry
    reg.set_value(r"HKLM\SOFTWARE\Vendor\App", "x", "REG_SZ", "1")
    assert reg.delete_key_if_empty(r"HKLM\SOFTWARE\Vendor\App") is False          # has a value
    assert reg.delete_key_if_empty(r"hklm\software\VENDOR") is False              # has a subkey
    assert reg.delete_key_if_empty(r"HKLM\SOFTWARE\NoSuchKey") is False
    reg.delete_value(r"HKLM\SOFTWARE\Vendor\App", "x")
    assert reg.delete_key_if_empty(r"HKLM\SOFTWARE\Vendor\App") is True
    assert not reg.key_exists(r"HKLM\SOFTWARE\Vendor\App") and reg.key_exists(r"HKLM\SOFTWARE\Vendor")


def test_winfleet_keys_go_with_their_last_value(m):
    from tests.emulator.host_model import JOURNAL_KEY, WINFLEET_KEY
    before = m.registry.state()
    m.journal_write("A/x", "{}")
    m.journal_write("B/y", "{}")
    m.journal_clear("A/x")
    assert m.registry.key_exists(JOURNAL_KEY)
    m.journal_clear("B/y")
    assert not m.registry.key_exists(JOURNAL_KEY) and not m.registry.key_exists(WINFLEET_KEY)
    assert m.registry.state() == before
    m.journal_clear("B/y")                      # clearing again (nothing there) is harmless
    assert m.registry.state() == before
