"""DataVolume through the real dynamic-provider host (gRPC) against the emulator over WinRM."""
from __future__ import annotations

import pytest

from components.host.data_volume import DataVolumeProvider
from tests.emulator.ops.svc_support import inject_step_fault
from tests.emulator.windows.storage import GB
from tests.providers.conftest import connection, host_dies_after_fault, host_snapshot, journal
from tests.providers.harness import ProviderError

KEY = "DataVolume/lun0"


@pytest.fixture
def res(provider_host):
    return provider_host.resource(DataVolumeProvider())


@pytest.fixture
def host(lab):
    return lab.hosts[0]


def props(h, **kw):
    p = {"connection": connection(h), "lun": 0, "driveLetter": "D", "label": "Data"}
    p.update(kw)
    return p


def ops(h) -> int:
    return sum(h.counters.snapshot()["ops"].values())


def test_lifecycle_create_noop_update_drift_delete(res, host):
    m = host.model
    before = host_snapshot(m)
    assert m.storage.disks[0]["lun"] == 0, "the OS disk is at LUN 0 too: it must never be picked"
    inputs = res.checked(props(host, driveLetter="d:"))
    assert inputs["driveLetter"] == "D"
    rid, outs = res.create(inputs)
    assert [c["do"] for c in outs["changes"]] == ["online", "initialize", "partition", "format"]
    assert all(c["disk"] == 1 for c in outs["changes"])
    vol = outs["state"]["volume"]
    assert vol["driveLetter"] == "D" and vol["fileSystem"] == "NTFS" and vol["label"] == "Data"
    assert vol["sizeBytes"] > 60 * GB and 0 < vol["freeBytes"] < vol["sizeBytes"]
    assert outs["prior"] == {"disk": {"number": 1, "online": False, "readOnly": False, "partitionStyle": "RAW", "partitions": []}}
    assert journal(m)[KEY]["prior"] == outs["prior"]

    n = ops(host)
    assert res.diff(rid, outs, res.checked(props(host)))["changes"] == "none"
    assert ops(host) == n
    assert res.update(rid, outs, inputs)["changed"] is False

    # read reports size and free space as they change
    m.storage.volume("D")["usedBytes"] += 3 * GB
    _, read_outs = res.read(rid, outs)
    assert read_outs["state"]["volume"]["freeBytes"] == vol["freeBytes"] - 3 * GB
    assert read_outs["drift"] == []

    # label change: in-place update (the label is free text, stored literally)
    label = "Dätä $(x) `n'\";|"
    new = res.checked(props(host, label=label))
    assert res.diff(rid, outs, new) == {"changes": "some", "replaces": [], "deleteBeforeReplace": False}
    outs = res.update(rid, outs, new)
    assert outs["changes"] == [{"do": "label", "driveLetter": "D", "label": label, "disk": 1}]
    assert m.storage.volume("D")["label"] == label

    # drift: someone moves the volume to E: -> refresh shows it, the next up moves it back in place
    part = m.storage.partition_by_letter("D")[1]
    m.storage.set_letter(1, part["number"], "E")
    _, read_outs = res.read(rid, outs)
    assert read_outs["drift"] == ["driveLetter"] and read_outs["state"]["volume"]["driveLetter"] == "E"
    assert res.diff(rid, read_outs, new) == {"changes": "some", "replaces": [], "deleteBeforeReplace": False}
    outs = res.update(rid, read_outs, new)
    assert [c["do"] for c in outs["changes"]] == ["letter"]
    assert m.storage.partition_by_letter("D")[1]["volume"]["label"] == label

    res.delete(rid, outs)
    assert host_snapshot(m) == before
    assert journal(m) == {}


def test_changing_the_letter_is_a_delete_before_replace(res, host):
    rid, outs = res.create(res.checked(props(host)))
    d = res.diff(rid, outs, res.checked(props(host, driveLetter="F")))
    assert d == {"changes": "some", "replaces": ["driveLetter"], "deleteBeforeReplace": True}
    assert res.diff(rid, outs, res.checked(props(host, lun=None, diskNumber=1)))["replaces"] == ["diskNumber", "lun"]
    res.delete(rid, outs)


def test_disk_number_on_an_existing_host(res, host):
    m = host.model
    m.storage.add_disk(number=2, lun=None, size=32 * GB, online=True, style="RAW")
    before = host_snapshot(m)
    rid, outs = res.create(res.checked(props(host, lun=None, diskNumber=2, driveLetter="S", label="svc")))
    assert [c["do"] for c in outs["changes"]] == ["initialize", "partition", "format"]
    assert journal(m)["DataVolume/disk2"]["prior"]["disk"]["online"] is True
    res.delete(rid, outs)
    assert host_snapshot(m) == before


def test_never_touches_a_disk_holding_someone_elses_volume(res, host):
    m = host.model
    st = m.storage
    st.set_online(1, True)
    st.initialize(1, "GPT")
    st.new_partition(1, "G", size=GB)
    st.format("G", "NTFS", "payroll")
    before = host_snapshot(m)
    with pytest.raises(ProviderError) as e:
        res.create(res.checked(props(host)))
    assert "lun" in e.value.details and "G: NTFS 'payroll'" in e.value.details and "not created by winfleet" in e.value.details
    assert host_snapshot(m) == before
    assert journal(m) == {}


def test_an_initialized_empty_disk_is_used_and_given_back_initialized(res, host):
    m = host.model
    m.storage.set_online(1, True)
    m.storage.initialize(1, "GPT")
    before = host_snapshot(m)
    rid, outs = res.create(res.checked(props(host)))
    assert [c["do"] for c in outs["changes"]] == ["partition", "format"]
    res.delete(rid, outs)
    assert host_snapshot(m) == before


def test_refusals_found_on_the_host_change_nothing(res, host):
    m = host.model
    m.storage.add_disk(number=2, lun=1, size=8 * GB, online=True, style="GPT")
    m.storage.new_partition(2, "E")
    m.storage.format("E", "NTFS", "other")
    before = host_snapshot(m)
    with pytest.raises(ProviderError) as e:
        res.create(res.checked(props(host, driveLetter="E")))
    assert "driveLetter" in e.value.details and "E: is already used by disk 2" in e.value.details
    with pytest.raises(ProviderError) as e:
        res.create(res.checked(props(host, lun=5)))
    assert "lun: there is no data disk at LUN 5 on the host; disks: disk 0 (LUN 0, 127 GiB)" in e.value.details
    with pytest.raises(ProviderError) as e:
        res.create(res.checked(props(host, lun=None, diskNumber=0)))
    assert "boot/system" in e.value.details
    assert host_snapshot(m) == before


@pytest.mark.parametrize("change,field,words", [
    ({"diskNumber": 1}, "(inputs)", "not both"),
    ({"driveLetter": "C"}, "driveLetter", "C is the OS volume"),
    ({"driveLetter": "DE"}, "driveLetter", "one letter"),
    ({"label": "x" * 33}, "label", "at most 32"),
    ({"label": "line\nbreak"}, "label", "control characters"),
    ({"fileSystem": "FAT32"}, "fileSystem", "NTFS"),
    ({"lun": -1}, "lun", "greater than or equal to 0"),
    ({"size": 10}, "size", "unknown input"),
])
def test_check_rejects_bad_inputs_naming_the_field(res, host, change, field, words):
    before, n = host_snapshot(host.model), ops(host)
    _inputs, failures = res.check(props(host, **change))
    assert field in dict(failures), failures
    assert words in dict(failures)[field]
    assert host_snapshot(host.model) == before and ops(host) == n


HOSTILE_LABELS = ["\"; Format-Volume C; \"", "$(Remove-Item C:\\ -Recurse)", "`$x`", "a'b\"c", "Ünïcødé 漢字 data",
                  "x; Stop-Computer", "@{a=1}", "-Force"]


@pytest.mark.parametrize("label", HOSTILE_LABELS)
def test_hostile_labels_are_stored_literally(res, host, label):
    m = host.model
    before = host_snapshot(m)
    rid, outs = res.create(res.checked(props(host, label=label)))
    assert m.storage.volume("D")["label"] == label
    assert outs["state"]["volume"]["label"] == label
    res.delete(rid, outs)
    assert host_snapshot(m) == before


@pytest.mark.parametrize("after", ["online", "initialize", "partition"])
def test_fault_between_steps_rolls_back_a_create(res, host, after):
    m = host.model
    before = host_snapshot(m)
    inject_step_fault(m, "volume.apply", after=after)
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
    revive = host_dies_after_fault(monkeypatch, "volume.apply")
    inject_step_fault(m, "volume.apply", after="partition")
    with pytest.raises(ProviderError):
        res.create(res.checked(props(host)))
    revive()
    disk = m.storage.disks[1]
    assert disk["online"] and disk["partitionStyle"] == "GPT", "half-applied"
    assert journal(m)[KEY]["prior"]["disk"]["partitionStyle"] == "RAW"
    rid, outs = res.create(res.checked(props(host)))     # the next run finishes the job on *our* disk
    assert [c["do"] for c in outs["changes"]] == ["format"]
    assert outs["prior"]["disk"] == {"number": 1, "online": False, "readOnly": False, "partitionStyle": "RAW", "partitions": []}
    res.delete(rid, outs)
    assert host_snapshot(m) == before


def test_pulumi_state_lost_then_up_again_adopts_our_volume_and_destroy_restores(res, host):
    """Without the journal a disk holding a volume is refused; with it, the volume is known to be ours."""
    m = host.model
    before = host_snapshot(m)
    res.create(res.checked(props(host)))       # its outputs are lost with the stack state
    rid, outs = res.create(res.checked(props(host)))
    assert outs["changed"] is False and outs["state"]["volume"]["driveLetter"] == "D"
    assert outs["prior"]["disk"]["partitionStyle"] == "RAW"
    res.delete(rid, outs)
    assert host_snapshot(m) == before


def test_existing_volume_mode_checks_and_reports_but_never_touches(res, host):
    """An existing host whose D: is already there (HostTarget.data_disk == {}): no lun, no diskNumber."""
    m = host.model
    inputs = res.checked(props(host, lun=None))
    before = host_snapshot(m)
    with pytest.raises(ProviderError) as e:
        res.create(inputs)
    assert "driveLetter: there is no volume D:" in e.value.details
    assert host_snapshot(m) == before
    st = m.storage
    st.set_online(1, True)
    st.initialize(1, "GPT")
    st.new_partition(1, "D")
    st.format("D", "NTFS", "ops-made")
    before = host_snapshot(m)
    rid, outs = res.create(inputs)
    assert outs["changed"] is False and outs["prior"] == {}
    assert outs["state"]["volume"]["label"] == "ops-made" and outs["state"]["volume"]["freeBytes"] > 0
    _, read_outs = res.read(rid, outs)
    assert read_outs["drift"] == []
    res.delete(rid, outs)
    assert host_snapshot(m) == before, "an existing volume is never removed"
