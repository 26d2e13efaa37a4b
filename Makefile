# winfleet — the commands a new user runs. `make setup` once, then `make preview` (the demo) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STACK_CONFIG ?= Pulumi.example.yaml

.PHONY: setup test preview lab bench clean

$(PY): requirements.txt requirements-dev.txt policies/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $(PY)

setup: $(PY) ## virtualenv + pinned dependencies

test: $(PY) ## the whole test suite (unit, providers over gRPC, transport, emulator, policies, e2e)
	$(PY) -m pytest

preview: $(PY) ## offline policy gate: plan + policy verdicts, no cloud account and no Pulumi CLI
	$(PY) -m tools.offline_gate --stack-config $(STACK_CONFIG)

lab: $(PY) ## a local lab of emulated Windows hosts matching Pulumi.lab.yaml (Ctrl-C to stop)
	$(PY) -m tests.emulator --names lab-0,lab-1,lab-2 --base-port 15986 --ca-out .winfleet/lab/ca.pem

bench: $(PY) ## benchmarks that print figures
	$(PY) -m bench

clean:
	rm -rf $(VENV) .pytest_cache .winfleet
