"""ServiceBaseline: disable a set of Windows services, dependency-aware, and put them back on delete.

Inputs: ``baselineName`` (informational, e.g. ``go-host-minimal``; see components/host/baselines.py for
the built-in sets and their sources), ``services`` (the resolved list to disable, by *service name*),
``managedServices`` (our own services: never disabled, and nothing they depend on is disabled),
``startTimeoutSeconds`` (bound for restarting services on delete).

Rules (pure Python, ``analyse``):
* a name on the never-disable list (components/windows_facts.py) is refused by ``check``;
* services not installed are skipped; services already disabled and stopped are left alone (their
  prior value is still recorded, so a later run never mistakes our own change for the prior state);
* dependency-aware: for every service to disable, all its (transitive) dependents are examined.
  A dependent that is one of ``managedServices``, or an auto-start service that is running, makes the
  plan refuse (naming both), unless that dependent is in the set too. Any other *running* dependent
  must be stopped first (Windows will not stop a service whose dependents run): it is stopped,
  recorded as a "dependent" prior, and restarted on delete; its start type is never touched;
* stops run dependents-first; disabling happens before stopping so a trigger cannot restart it.

Journal: key ``ServiceBaseline/services`` (one per host, shared by every baseline on it), one item per
service (``svc:<name>``) with the prior ``{start, delayed, status}``; several baselines may hold the same
service and the prior value is restored when the last one lets go. Delete restores exactly the prior
start types (incl. delayed auto-start) and restarts what was running, dependencies first.
"""
from __future__ import annotations

from typing import Optional

from pydantic import Field, field_validator

from ..windows_facts import never_disable_match, service_name_list_problem

from .base import HostInputs, HostResource, HostResourceProvider, Refused
from .journal import item_name

AUTO, DEMAND, DISABLED = 2, 3, 4
RUNNING = ("Running", "StartPending", "ContinuePending", "Paused", "PausePending")


class ServiceBaselineInputs(HostInputs):
    baseline_name: str = Field(default="explicit", max_length=64)
    services: list[str] = Field(default_factory=list, max_length=512)
    managed_services: list[str] = Field(default_factory=list, max_length=512)
    start_timeout_seconds: float = Field(default=60.0, gt=0, le=600)

    @field_validator("baseline_name")
    @classmethod
    def _bn(cls, v):
        if any(ord(c) < 32 for c in v) or not v.strip():
            raise ValueError("must be a non-empty name without control characters")
        return v

    @field_validator("services", "managed_services")
    @classmethod
    def _names(cls, v, info):
        problem = service_name_list_problem(v)
        if problem:
            raise ValueError(problem)
        return v


class BaselinePlan:
    """Result of ``analyse``: what to disable, what to stop (in order), what to restart on restore."""

    def __init__(self):
        self.disable: list[str] = []           # targets whose start type must become Disabled
        self.stop: list[str] = []              # running services to stop, dependents first
        self.dependents: list[str] = []        # running non-target dependents stopped as a consequence
        self.skipped_missing: list[str] = []   # targets not installed
        self.compliant: list[str] = []         # targets already disabled and stopped
        self.targets: list[str] = []           # installed targets (canonical names)


def _graph(rows: list[dict]) -> tuple[dict, dict]:
    by = {r["name"].lower(): r for r in rows}
    dependents: dict[str, list[str]] = {k: [] for k in by}
    for r in rows:
        for d in r.get("dependencies") or []:
            if d.startswith("+"):
                continue  # load-order group dependency, not a service
            dependents.setdefault(d.lower(), []).append(r["name"].lower())
    return by, dependents


def transitive_dependents(name: str, dependents: dict) -> list[str]:
    out, todo = [], list(dependents.get(name.lower(), []))
    while todo:
        d = todo.pop(0)
        if d not in out:
            out.append(d)
            todo.extend(dependents.get(d, []))
    return out


def stop_order(names: list[str], by: dict) -> list[str]:
    """Order ``names`` so every service comes before the services it depends on (dependents first)."""
    pending = {n.lower() for n in names}
    out: list[str] = []
    visiting: set[str] = set()

    def visit(n: str):
        if n in visiting or by[n]["name"] in out:
            return
        visiting.add(n)
        for other in sorted(pending):
            deps = [d.lower() for d in by[other].get("dependencies") or []]
            if n in deps:
                visit(other)               # ``other`` depends on n: it must stop first
        out.append(by[n]["name"])

    for n in sorted(pending):
        visit(n)
    return out


def start_order(names: list[str], by: dict) -> list[str]:
    return list(reversed(stop_order(names, by)))


def analyse(services: list[str], managed: list[str], rows: list[dict]) -> BaselinePlan:
    """Pure dependency analysis over the host's service list (``baseline.read`` rows). Raises Refused."""
    by, dependents = _graph(rows)
    want = {s.lower() for s in services}
    own = {m.lower() for m in managed}
    plan = BaselinePlan()
    for n, s in enumerate(services):
        if never_disable_match(s):
            raise Refused(f"services[{n}]", f"{s} is on the never-disable list (components/windows_facts.py)")
        if s.lower() in own:
            raise Refused(f"services[{n}]", f"{s} is one of managedServices; a baseline never disables our own services")
        row = by.get(s.lower())
        if row is None:
            plan.skipped_missing.append(s)
            continue
        plan.targets.append(row["name"])
        if row["start"] == DISABLED and row["status"] not in RUNNING:
            plan.compliant.append(row["name"])
            continue
        if row["start"] != DISABLED:
            plan.disable.append(row["name"])
        for dep in transitive_dependents(s, dependents):
            if dep in want:
                continue
            drow = by[dep]
            if dep in own:
                raise Refused(f"services[{n}]", f"cannot disable {row['name']}: managed service {drow['name']} "
                                                f"depends on it (add it to the set or keep {row['name']})")
            if drow["start"] == AUTO and drow["status"] in RUNNING:
                raise Refused(f"services[{n}]", f"cannot disable {row['name']}: the running automatic service "
                                                f"{drow['name']} depends on it (add {drow['name']} to the set too, or "
                                                f"leave {row['name']} out)")
            if drow["status"] in RUNNING and drow["name"] not in plan.dependents:
                plan.dependents.append(drow["name"])
    running = [t for t in plan.targets if by[t.lower()]["status"] in RUNNING] + plan.dependents
    plan.stop = stop_order(running, by)
    return plan


class ServiceBaselineProvider(HostResourceProvider):
    kind = "ServiceBaseline"
    model = ServiceBaselineInputs
    replace_keys = ()
    op_timeout = 600.0

    def check_inputs(self, i) -> list[tuple[str, str]]:
        out = []
        own = {m.lower() for m in i.managed_services}
        for n, s in enumerate(i.services):
            canon = never_disable_match(s)
            if canon:
                out.append((f"services[{n}]", f"{s} must never be disabled on a WinRM-managed host ({canon} is on "
                                              "the never-disable list in components/windows_facts.py)"))
            elif s.lower() in own:
                out.append((f"services[{n}]", f"{s} is also in managedServices; a baseline never disables our own "
                                              "services"))
        return out

    def journal_scope(self, i) -> str:
        return "services"

    def identity(self, i) -> str:
        return i.baseline_name.lower()

    def shareable(self, item, mine, theirs) -> bool:
        """Baselines of several stacks may disable one service alike; the last one deleted restores it."""
        return True

    def item_field(self, inputs, item) -> str:
        return "services"

    def read_state(self, host, i) -> dict:
        return host.state("baseline.read", {})

    def _rows(self, cur: dict) -> list[dict]:
        return cur.get("services") or []

    def prior_of(self, i, cur: dict) -> dict:
        rows = self._rows(cur)
        by, dependents = _graph(rows)
        out = {}
        want = {s.lower() for s in i.services}
        for s in i.services:
            row = by.get(s.lower())
            if row is None:
                continue
            out[item_name("svc", row["name"])] = {"name": row["name"], "start": row["start"],
                                                  "delayed": bool(row.get("delayedAutostart")),
                                                  "status": row["status"], "role": "target"}
            for dep in transitive_dependents(s, dependents):
                if dep in want:
                    continue
                drow = by[dep]
                key = item_name("svc", drow["name"])
                out.setdefault(key, {"name": drow["name"], "start": drow["start"],
                                     "delayed": bool(drow.get("delayedAutostart")),
                                     "status": drow["status"], "role": "dependent"})
        return out

    def plan(self, i, cur: dict) -> list[dict]:
        p = analyse(i.services, i.managed_services, self._rows(cur))
        steps = [{"do": "setStart", "name": n, "start": DISABLED, "delayed": False} for n in p.disable]
        steps += [{"do": "stop", "name": n} for n in p.stop]
        return steps

    def restore_plan(self, i, prior: dict, cur: dict) -> list[dict]:
        rows = self._rows(cur)
        by, _deps = _graph(rows)
        steps = []
        restart = []
        for _item, p in sorted(prior.items()):
            row = by.get(p["name"].lower())
            if row is None:
                continue  # uninstalled meanwhile: nothing to restore
            if p.get("role") == "target":
                want_delayed = bool(p.get("delayed"))
                if row["start"] != p["start"] or (p["start"] == AUTO and bool(row.get("delayedAutostart")) != want_delayed):
                    steps.append({"do": "setStart", "name": row["name"], "start": p["start"], "delayed": want_delayed})
            if p.get("status") in RUNNING and row["status"] not in RUNNING:
                restart.append(row["name"])
        steps += [{"do": "start", "name": n} for n in start_order(restart, by)]
        return steps

    def report(self, i, state: dict) -> dict:
        """The ``state`` output: the listed services and their dependents only (not the whole host)."""
        rows = self._rows(state)
        by, dependents = _graph(rows)
        keep = set()
        for s in i.services:
            if s.lower() in by:
                keep.add(s.lower())
                keep.update(transitive_dependents(s, dependents))
        out = {k: v for k, v in state.items() if k != "services"}
        out["services"] = [r for r in rows if r["name"].lower() in keep]
        return out

    def apply(self, host, i, changes: list[dict], prior: dict) -> dict:
        return host.state("baseline.apply", {"steps": changes, "startTimeoutSeconds": i.start_timeout_seconds},
                          final=True)

    def live_inputs(self, i, cur: dict) -> dict:
        """``services`` as the host has them: the listed services that are disabled and stopped (or not
        installed, which counts as compliant). A service re-enabled out of band drops out, so refresh
        shows the drift and the next up disables it again."""
        out = i.dump()
        by, _ = _graph(self._rows(cur))
        live = []
        for s in i.services:
            row = by.get(s.lower())
            if row is None or (row["start"] == DISABLED and row["status"] not in RUNNING):
                live.append(s)
        out["services"] = live
        return out


class ServiceBaseline(HostResource, module="winfleet", name="ServiceBaseline"):
    provider_class = ServiceBaselineProvider


def summary(i_services: list[str], managed: list[str], rows: list[dict]) -> dict:
    """Human-readable plan summary (used by bench and docs): disable/stop/dependents/skipped."""
    p = analyse(i_services, managed, rows)
    return {"disable": p.disable, "stop": p.stop, "dependents": p.dependents,
            "skippedMissing": p.skipped_missing, "compliant": p.compliant}


__all__ = ["ServiceBaseline", "ServiceBaselineProvider", "ServiceBaselineInputs", "analyse", "stop_order",
           "start_order", "transitive_dependents", "summary", "Optional"]
