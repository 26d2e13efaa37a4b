"""The e2e engine itself, against a tiny dynamic resource (tests/e2e/fixtures/kv.py).

Checks the parts of `pulumi up`/`destroy` the fleet scenarios rely on: dependency order, parallelism,
no-change runs make no provider writes, update vs. replace (create-before-delete and
delete-before-replace), stop at the first failure with the old state kept, deletes of removed
resources, destroy in reverse order, Check failures.
"""
import json
from pathlib import Path

import pulumi
import pytest

from tests.e2e.engine import Engine, EngineError, run_program
from tests.e2e.fixtures.kv import Kv


def make_program(store: Path, spec: dict):
    def program():
        group = pulumi.ComponentResource("e2etest:index:Group", "group")
        made = {}
        for name, s in spec.items():
            deps = [made[d] for d in s.get("deps", [])]
            props = {"store": str(store), "key": s.get("key", name), "value": s.get("value", "v1")}
            for opt in ("failOn", "sleep", "deleteBeforeReplace"):
                if opt in s:
                    props[opt] = s[opt]
            made[name] = Kv(name, props, pulumi.ResourceOptions(parent=group, depends_on=deps))
        pulumi.export("keys", sorted(made))
    return program


def log(store: Path) -> list[dict]:
    p = Path(str(store) + ".log")
    return [json.loads(line) for line in p.read_text().splitlines()] if p.exists() else []


def data(store: Path) -> dict:
    return json.loads(store.read_text()) if store.exists() else {}


CHAIN = {"a": {}, "b": {"deps": ["a"]}, "c": {"deps": ["b"]}, "x": {}}


def up(tmp_path, spec, engine=None):
    store = tmp_path / "store.json"
    run = run_program(make_program(store, spec), {})
    engine = engine or Engine(tmp_path / "state.json", parallel=4)
    return engine.up(run), run, engine


@pytest.mark.slow
def test_first_run_creates_in_dependency_order_then_nothing_changes(tmp_path):
    store = tmp_path / "store.json"
    result, run, engine = up(tmp_path, CHAIN)
    assert result.summary() == {"create": 4}
    assert data(store) == {"a": "v1", "b": "v1", "c": "v1", "x": "v1"}
    assert run.outputs["keys"] == ["a", "b", "c", "x"]
    steps = {s.name: s for s in result.steps}
    for name, s in CHAIN.items():
        for dep in s.get("deps", []):
            assert steps[dep].end <= steps[name].start, (dep, name)
    # the captured graph is the SDK's: b depends on a, parent is the component
    reg = {r.name: r for r in run.registrations}
    assert reg["b"].dependencies == [reg["a"].urn]
    assert reg["b"].parent == reg["group"].urn and reg["b"].dynamic and not reg["group"].custom
    state = json.loads((tmp_path / "state.json").read_text())["resources"]
    assert set(state) == {reg[n].urn for n in CHAIN}
    assert all("__provider" in e["inputs"] and e["id"] for e in state.values())

    before = len(log(store))
    again, _, _ = up(tmp_path, CHAIN, engine)
    assert again.summary() == {"same": 4} and not again.changes
    assert len(log(store)) == before  # no provider writes at all


@pytest.mark.slow
def test_update_replace_and_delete_of_removed(tmp_path):
    store = tmp_path / "store.json"
    up(tmp_path, CHAIN)
    spec = {"a": {"value": "v2"}, "b": {"deps": ["a"], "key": "b2"}, "c": {"deps": ["b"]}}  # x removed
    result, _, _ = up(tmp_path, spec)
    assert result.summary() == {"update": 1, "replace": 1, "same": 1, "delete-replaced": 1, "delete": 1}
    assert data(store) == {"a": "v2", "b2": "v1", "c": "v1"}
    entries = [(e["op"], e["key"]) for e in log(store)][4:]
    # create-before-delete: the replacement exists before the old instance is deleted
    assert entries.index(("create", "b2")) < entries.index(("delete", "b"))
    state = json.loads((tmp_path / "state.json").read_text())["resources"]
    assert not any("#replaced#" in k for k in state) and len(state) == 3


@pytest.mark.slow
def test_delete_before_replace(tmp_path):
    store = tmp_path / "store.json"
    up(tmp_path, {"a": {}})
    up(tmp_path, {"a": {"key": "a2", "deleteBeforeReplace": True}})
    entries = [(e["op"], e["key"]) for e in log(store)]
    assert entries == [("create", "a"), ("delete", "a"), ("create", "a2")]


@pytest.mark.slow
def test_first_failure_stops_the_run_and_keeps_old_state(tmp_path):
    store = tmp_path / "store.json"
    up(tmp_path, CHAIN)
    old_state = json.loads((tmp_path / "state.json").read_text())["resources"]
    spec = {"a": {"value": "v2"}, "b": {"deps": ["a"], "value": "v2", "failOn": "update"},
            "c": {"deps": ["b"], "value": "v2"}, "x": {}}
    with pytest.raises(EngineError) as ei:
        up(tmp_path, spec)
    err = ei.value
    assert err.step.name == "b" and err.step.op == "update"
    assert "injected update failure" in str(err)
    assert data(store) == {"a": "v2", "b": "v1", "c": "v1", "x": "v1"}  # c never started
    assert not any(s.name == "c" for s in err.result.steps)
    state = json.loads((tmp_path / "state.json").read_text())["resources"]
    b_urn = next(u for u, e in state.items() if e["name"] == "b")
    assert state[b_urn]["outputs"] == old_state[b_urn]["outputs"]  # failed update keeps old state
    a_urn = next(u for u, e in state.items() if e["name"] == "a")
    assert state[a_urn]["outputs"]["value"] == "v2"

    # fixing the input finishes the roll-out
    fixed = {k: {kk: vv for kk, vv in v.items() if kk != "failOn"} for k, v in spec.items()}
    result, _, _ = up(tmp_path, fixed)
    assert result.summary() == {"same": 2, "update": 2}
    assert data(store) == {"a": "v2", "b": "v2", "c": "v2", "x": "v1"}


@pytest.mark.slow
def test_check_failure_creates_nothing(tmp_path):
    store = tmp_path / "store.json"
    with pytest.raises(EngineError, match="must be a non-empty string"):
        up(tmp_path, {"a": {"key": ""}})
    assert data(store) == {} and log(store) == []


@pytest.mark.slow
def test_independent_steps_run_in_parallel_dependent_ones_do_not(tmp_path):
    store = tmp_path / "store.json"
    spec = {f"p{i}": {"sleep": 0.8} for i in range(4)}
    spec["after"] = {"deps": list(spec), "sleep": 0.0}
    up(tmp_path, spec)
    entries = {e["key"]: e for e in log(store)}
    par = [entries[f"p{i}"] for i in range(4)]
    assert max(e["t0"] for e in par) < min(e["t1"] for e in par)  # all four overlapped
    assert entries["after"]["t0"] >= max(e["t1"] for e in par)


@pytest.mark.slow
def test_destroy_deletes_dependents_first(tmp_path):
    store = tmp_path / "store.json"
    _, _, engine = up(tmp_path, CHAIN)
    result = engine.destroy()
    assert result.summary() == {"delete": 4}
    assert data(store) == {}
    order = [e["key"] for e in log(store) if e["op"] == "delete"]
    assert order.index("c") < order.index("b") < order.index("a")
    assert json.loads((tmp_path / "state.json").read_text())["resources"] == {}
