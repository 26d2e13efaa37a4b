# winfleet — the commands a new user runs. `make setup` once, then `make preview` (the demo) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STACK_CONFIG ?= Pulumi.example.yaml
GO ?= go
GOSVC_OUT := build/goservice
# stamped into the reference service (-X); the same commit gives the same bytes (-trimpath, no VCS stamp)
GOSVC_VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
GOSVC_LDFLAGS := -s -w -X winfleet/goservice/internal/refsvc.Version=$(GOSVC_VERSION)
GOSVC_BUILD := CGO_ENABLED=0 GOARCH=amd64 GOFLAGS=-mod=readonly $(GO) build -trimpath -buildvcs=false -ldflags '$(GOSVC_LDFLAGS)'

.PHONY: setup test preview lab bench clean goservice goservice-test

$(PY): requirements.txt requirements-dev.txt policies/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $(PY)

setup: $(PY) goservice ## virtualenv + pinned dependencies + the reference Go service's builds

goservice: ## the reference service: build/goservice/winfleet-refsvc (linux/amd64) and .exe (windows/amd64)
	@mkdir -p $(GOSVC_OUT)
	cd goservice && GOOS=linux $(GOSVC_BUILD) -o ../$(GOSVC_OUT)/winfleet-refsvc .
	cd goservice && GOOS=windows $(GOSVC_BUILD) -o ../$(GOSVC_OUT)/winfleet-refsvc.exe .

goservice-test: goservice ## go vet for windows and linux, go test
	cd goservice && GOOS=windows GOARCH=amd64 $(GO) vet ./... && GOOS=linux GOARCH=amd64 $(GO) vet ./...
	cd goservice && $(GO) test -count=1 ./...

test: $(PY) goservice-test ## the whole test suite (Go service, unit, providers over gRPC, transport, emulator, policies, e2e)
	$(PY) -m pytest

preview: $(PY) ## offline policy gate: plan + policy verdicts, no cloud account and no Pulumi CLI
	$(PY) -m tools.offline_gate --stack-config $(STACK_CONFIG)

lab: $(PY) ## a local lab of emulated Windows hosts matching Pulumi.lab.yaml (Ctrl-C to stop)
	$(PY) -m tests.emulator --names lab-0,lab-1,lab-2 --base-port 15986 --ca-out .winfleet/lab/ca.pem

bench: $(PY) ## benchmarks that print figures
	$(PY) -m bench

clean:
	rm -rf $(VENV) .pytest_cache .winfleet
