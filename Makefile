# Two commands on a fresh Debian 12 machine (root): `make up` (sandbox on http://127.0.0.1:8080/) and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV     := $(CURDIR)/.venv
CACHE    := $(CURDIR)/.cache
REPORTS  := $(CACHE)/reports
RELEASE  ?= bookworm
# Molecule runs of `make test` (a scenario, or scenario@release; plain ones run on RELEASE): the lanes run at the same
# time, the runs of a lane one after another (molecule/shared/lanes.sh). Longest first; the default scenario's two
# releases share its Molecule state, so they stay in one lane.
LANES    ?= apps,faults default,default@trixie,cluster
comma    := ,
RUNS     := $(subst $(comma), ,$(LANES))
SANDBOX  := websocket-sandbox
SANDBOX_PORT ?= 8080
HOST_PACKAGES := podman runc debootstrap uidmap python3-venv python3-dev build-essential libssl-dev chromium \
  openssh-client

export PATH := $(VENV)/bin:$(PATH)
export CONTAINERS_CONF := $(CACHE)/containers.conf
export ANSIBLE_FORCE_COLOR ?= 0
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# Behind a TLS-inspecting proxy pip must trust the system CA bundle, not only its own.
ifneq ($(wildcard /etc/ssl/certs/ca-certificates.crt),)
export PIP_CERT ?= /etc/ssl/certs/ca-certificates.crt
endif

.PHONY: help up test bench seed engineio host-deps venv podman-conf image sandbox converge lint unit molecule packaging-deploy clean-sandbox docs collection

help:
	@echo "make up    - build the local sandbox container and deploy the bundle to it (http://127.0.0.1:$(SANDBOX_PORT)/)"
	@echo "make test  - lint, app unit tests, molecule test"
	@echo "make bench - seed setup, bundle defaults and the bundle on python-engineio's driver, side by side (after make up): bench/results/"
	@echo "make collection - the roles and playbooks as an Ansible collection: $(CACHE)/websocket_bundle-*.tar.gz"

up: image sandbox converge
	@echo "Sandbox ready: http://127.0.0.1:$(SANDBOX_PORT)/  (podman exec $(SANDBOX) systemctl restart websocket)"

test: venv image
	rm -rf $(REPORTS) && mkdir -p $(REPORTS)
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory unit UNIT_DEPLOY=
	# The collection's deploy on plain ansible-core is a container deploy too: beside the Molecule lanes.
	$(MAKE) --no-print-directory -j2 molecule packaging-deploy || true
	python tools/summary.py $(REPORTS) $(EXPECTED_REPORTS)

# apt only when something is missing, so a second run is quick and changes nothing.
host-deps:
	@missing=""; for p in $(HOST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; apt-get update -q; DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

venv: host-deps $(VENV)/.installed

$(VENV)/.installed: requirements-dev.txt
	[ -x $(VENV)/bin/python ] || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q -r requirements-dev.txt
	touch $@

podman-conf: host-deps
	molecule/shared/podman-env.sh >/dev/null

image: podman-conf
	for release in $(sort $(RELEASE) $(foreach run,$(RUNS),$(word 2,$(subst @, ,$(run))))); do molecule/shared/build-image.sh $$release || exit 1; done

sandbox: image
	mkdir -p $(CACHE)/pip
	molecule/shared/run-container.sh $(SANDBOX) localhost/websocket-$(RELEASE) \
	  -p 127.0.0.1:$(SANDBOX_PORT):80 -v $(CACHE)/pip:/root/.cache/pip

converge: venv
	ansible-playbook site.yml -i inventory

# The seed's setup, deployed by the bundle's roles with the seed's values (bench/inventory), beside the sandbox.
seed: image venv
	mkdir -p $(CACHE)/pip
	molecule/shared/run-container.sh websocket-seed localhost/websocket-$(RELEASE) -v $(CACHE)/pip:/root/.cache/pip
	ansible-playbook site.yml -i bench/inventory

# The bundle's defaults with python-engineio's own WebSocket driver (bench/engineio), beside the sandbox.
engineio: image venv
	mkdir -p $(CACHE)/pip
	molecule/shared/run-container.sh websocket-engineio localhost/websocket-$(RELEASE) -v $(CACHE)/pip:/root/.cache/pip
	ansible-playbook site.yml -i bench/engineio

bench: seed engineio
	podman container exists $(SANDBOX) || { echo "run make up first"; exit 1; }
	python bench/run.py --target seed=websocket-seed --target bundle=$(SANDBOX) --target engineio=websocket-engineio \
	  --one-address bundle \
	  --large-inventory inventory

# The collection: templates/collection (manifest, runtime, changelog, site playbook) plus roles/, playbooks/ (with
# their task files and templates), app/; its dependencies are requirements.yml's collections.
collection: venv
	rm -rf $(CACHE)/collection && mkdir -p $(CACHE)/collection
	cp -r templates/collection/. roles app $(CACHE)/collection/
	cp -r docs $(CACHE)/collection/
	cp -n playbooks/*.yml $(CACHE)/collection/playbooks/
	cp -r playbooks/tasks $(CACHE)/collection/playbooks/
	python tools/galaxy_dependencies.py requirements.yml >>$(CACHE)/collection/galaxy.yml
	cp -r playbooks/templates $(CACHE)/collection/playbooks/
	ansible-galaxy collection build --force --output-path $(CACHE) $(CACHE)/collection

clean-sandbox:
	podman rm -f $(SANDBOX) >/dev/null 2>&1 || true

lint: venv
	yamllint --strict .
	ansible-lint --profile production
	ruff check app molecule tests tools bench roles
	ruff format --check app molecule tests tools bench roles
	python tools/specdoc.py --check

docs: venv
	python tools/specdoc.py

# The packaging test deploys the collection to a container of the base image.
unit: venv image
	python -m pytest -q --junitxml=$(REPORTS)/unit.xml app/tests
	python -m pytest -q --junitxml=$(REPORTS)/roles.xml tests/unit/websocket_app
	python -m pytest -q --junitxml=$(REPORTS)/validation.xml tests/validation
	python -m pytest -q --junitxml=$(REPORTS)/render.xml tests/render
	python -m pytest -q --junitxml=$(REPORTS)/wiring.xml tests/wiring
	python -m pytest -q --junitxml=$(REPORTS)/packaging.xml tests/packaging $(if $(UNIT_DEPLOY),,--ignore=$(PACKAGING_DEPLOY))
	python -m pytest -q --junitxml=$(REPORTS)/shared.xml tests/unit --ignore=tests/unit/websocket_app
	python -m pytest -q --junitxml=$(REPORTS)/docs.xml tests/docs

# Every report `make test` must produce; summary.py fails on any that is missing (a scenario that never reached
# its tests, a prerequisite of the molecule target that failed).
# `make unit` deploys the collection too (UNIT_DEPLOY=1); `make test` runs that deploy beside the Molecule lanes.
UNIT_DEPLOY ?= 1
PACKAGING_DEPLOY := tests/packaging/test_deploy.py
packaging-deploy: venv image
	mkdir -p $(REPORTS)
	python -m pytest -q --junitxml=$(REPORTS)/packaging-deploy.xml $(PACKAGING_DEPLOY)

EXPECTED_REPORTS = unit roles validation render wiring packaging packaging-deploy shared docs \
  $(foreach run,$(RUNS),molecule-$(if $(findstring @,$(run)),$(subst @,-,$(run)),$(run)-$(RELEASE)))
molecule: venv image
	mkdir -p $(CACHE)/pip $(REPORTS)
	# Every run goes on when another fails; a run that fails outside its tests (create, converge, idempotence,
	# check) is recorded for summary.py, which counts it as a failure.
	molecule/shared/lanes.sh $(REPORTS) $(RELEASE) $(LANES)
