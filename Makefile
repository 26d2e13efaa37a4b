# winfleet — the commands a new user runs. `make setup` once, then `make up` (the real Pulumi CLI
# converges the local lab), `make destroy`, `make test`; `make preview` is the offline gate.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
STACK_CONFIG ?= Pulumi.example.yaml
GO ?= go
GOSVC_OUT := build/goservice
# stamped into the reference service (-X); the same commit gives the same bytes (-trimpath, no VCS stamp)
GOSVC_VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
GOSVC_LDFLAGS := -s -w -X winfleet/goservice/internal/refsvc.Version=$(GOSVC_VERSION)
GOSVC_BUILD := CGO_ENABLED=0 GOARCH=amd64 GOFLAGS=-mod=readonly $(GO) build -trimpath -buildvcs=false -ldflags '$(GOSVC_LDFLAGS)'

# The Pulumi CLI: one on PATH at or above this version is used, else the one tools/pulumi/go.mod pins
# is built into .winfleet/bin (with winfleet's Python language host, see tools/pulumi/README.md).
PULUMI_MIN_VERSION := 3.272.0
WF_BIN := .winfleet/bin
STACK ?= lab
ARTIFACTS ?= build/goservice
LAB := $(PY) -m tools.lab
PULUMI_SOURCES := tools/pulumi/go.mod tools/pulumi/go.sum tools/pulumi/build.sh \
	tools/pulumi/pulumi-resource-pulumi-python $(wildcard tools/pulumi/langhost/*.go)

.PHONY: setup test preview lab lab-start lab-stop up refresh destroy pulumi bench clean goservice goservice-test

# A stamp inside the virtualenv, not $(PY): that is a symlink, and touching it would touch the
# interpreter it points at (shared by every virtualenv), so a changed requirements file went unnoticed.
$(STAMP): requirements.txt requirements-dev.txt policies/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

$(WF_BIN)/.built: $(PULUMI_SOURCES)
	PULUMI_MIN_VERSION=$(PULUMI_MIN_VERSION) tools/pulumi/build.sh
	@touch $@

# The policy pack's PulumiPolicy.yaml names the virtualenv `venv` beside it: the project's.
policies/venv:
	ln -sfn ../.venv policies/venv

setup: $(STAMP) $(WF_BIN)/.built policies/venv goservice ## virtualenv + pinned dependencies + the Pulumi CLI + the reference Go service

goservice: ## the reference service: build/goservice/winfleet-refsvc (linux/amd64) and .exe (windows/amd64)
	@mkdir -p $(GOSVC_OUT)
	cd goservice && GOOS=linux $(GOSVC_BUILD) -o ../$(GOSVC_OUT)/winfleet-refsvc .
	cd goservice && GOOS=windows $(GOSVC_BUILD) -o ../$(GOSVC_OUT)/winfleet-refsvc.exe .

goservice-test: goservice ## go vet for windows and linux, go test
	cd goservice && GOOS=windows GOARCH=amd64 $(GO) vet ./... && GOOS=linux GOARCH=amd64 $(GO) vet ./...
	cd goservice && $(GO) test -count=1 ./...

test: setup goservice-test ## the whole test suite (Go service, unit, providers over gRPC, transport, emulator, policies, e2e, the real engine)
	$(PY) -m pytest

preview: $(STAMP) ## offline policy gate: plan + policy verdicts, no cloud account and no Pulumi CLI
	$(PY) -m tools.offline_gate --stack-config $(STACK_CONFIG)

lab: $(STAMP) ## the lab in the foreground (Ctrl-C to stop); `make lab-start` runs it in the background
	$(PY) -m tests.emulator --names lab-0,lab-1,lab-2 --base-port 15986 --ca-out .winfleet/lab/ca.pem \
		--lab-json .winfleet/lab/lab.json --artifacts-dir $(ARTIFACTS)

lab-start: $(STAMP) ## the lab of Pulumi.lab.yaml in the background: .winfleet/lab/lab.json (a running one is kept)
	$(LAB) start --artifacts-dir $(ARTIFACTS)

lab-stop: $(STAMP) ## stop the background lab
	$(LAB) stop

up: setup ## the main job: real `pulumi up` of the lab stack (STACK=lab) with the policy pack
	$(LAB) pulumi --stack $(STACK) --artifacts-dir $(ARTIFACTS) -- up --yes --policy-pack policies

refresh: setup ## real `pulumi refresh` of the lab stack: drift made behind Pulumi's back
	$(LAB) pulumi --stack $(STACK) --artifacts-dir $(ARTIFACTS) -- refresh --yes

destroy: setup ## real `pulumi destroy` of the lab stack: every host back to how it was
	$(LAB) pulumi --stack $(STACK) --artifacts-dir $(ARTIFACTS) -- destroy --yes

pulumi: setup ## the project's CLI with its environment, for a lab stack: make pulumi ARGS='stack output'
	$(LAB) pulumi --stack $(STACK) --artifacts-dir $(ARTIFACTS) -- $(ARGS)

bench: $(STAMP) ## benchmarks that print figures
	$(PY) -m bench

clean:
	rm -rf $(VENV) .pytest_cache .winfleet
