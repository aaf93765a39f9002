# Two commands on a fresh Debian 12 machine (root): `make up` (sandbox on http://127.0.0.1:8080/) and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV     := $(CURDIR)/.venv
CACHE    := $(CURDIR)/.cache
REPORTS  := $(CACHE)/reports
RELEASE  ?= bookworm
# Debian releases the default scenario runs on (the other scenarios run on RELEASE).
RELEASES ?= bookworm trixie
SANDBOX  := websocket-sandbox
SANDBOX_PORT ?= 8080
HOST_PACKAGES := podman runc debootstrap uidmap python3-venv python3-dev build-essential libssl-dev chromium

export PATH := $(VENV)/bin:$(PATH)
export CONTAINERS_CONF := $(CACHE)/containers.conf
export ANSIBLE_FORCE_COLOR ?= 0
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# Behind a TLS-inspecting proxy pip must trust the system CA bundle, not only its own.
ifneq ($(wildcard /etc/ssl/certs/ca-certificates.crt),)
export PIP_CERT ?= /etc/ssl/certs/ca-certificates.crt
endif

.PHONY: help up test bench seed engineio host-deps venv podman-conf image sandbox converge lint unit molecule clean-sandbox docs collection

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
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory molecule || true
	python molecule/shared/summary.py $(REPORTS) $(EXPECTED_REPORTS)

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
	for release in $(sort $(RELEASE) $(RELEASES)); do molecule/shared/build-image.sh $$release || exit 1; done

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

# The collection: templates/collection (manifest, runtime, changelog, site playbook) plus roles/, playbooks/, app/.
collection: venv
	rm -rf $(CACHE)/collection && mkdir -p $(CACHE)/collection
	cp -r templates/collection/. roles app $(CACHE)/collection/
	cp -n playbooks/*.yml $(CACHE)/collection/playbooks/
	ansible-galaxy collection build --force --output-path $(CACHE) $(CACHE)/collection

clean-sandbox:
	podman rm -f $(SANDBOX) >/dev/null 2>&1 || true

lint: venv
	yamllint --strict .
	ansible-lint --profile production
	ruff check app molecule bench roles
	ruff format --check app molecule bench roles
	python molecule/shared/specdoc.py --check

docs: venv
	python molecule/shared/specdoc.py

unit: venv
	cd app && python -m pytest -q -p no:cacheprovider --junitxml=$(REPORTS)/unit.xml tests
	python -m pytest -q -p no:cacheprovider -o pythonpath=roles/websocket_app/files/opt/websocket/lib \
	  --junitxml=$(REPORTS)/roles.xml roles/websocket_app/tests
	python -m pytest -q -p no:cacheprovider --junitxml=$(REPORTS)/validation.xml tests/validation
	python -m pytest -q -p no:cacheprovider --junitxml=$(REPORTS)/render.xml tests/render
	python -m pytest -q -p no:cacheprovider --junitxml=$(REPORTS)/specs.xml tests/unit/test_specs.py
	python -m pytest -q -p no:cacheprovider --junitxml=$(REPORTS)/conversions.xml tests/unit/test_conversions.py
	python -m pytest -q -p no:cacheprovider --junitxml=$(REPORTS)/wiring.xml tests/wiring
	python -m pytest -q -p no:cacheprovider --junitxml=$(REPORTS)/packaging.xml molecule/packaging
	python -m pytest -q -p no:cacheprovider -o pythonpath=molecule/shared --junitxml=$(REPORTS)/shared.xml \
	  molecule/shared

SCENARIOS ?= default cluster faults apps
# Every report `make test` must produce; summary.py fails on any that is missing (a scenario that never reached
# its tests, a prerequisite of the molecule target that failed).
EXPECTED_REPORTS = unit roles validation render specs conversions wiring packaging shared $(SCENARIOS:%=molecule-%-$(RELEASE)) \
  $(patsubst %,molecule-default-%,$(filter-out $(RELEASE),$(RELEASES)))
molecule: venv image
	mkdir -p $(CACHE)/pip
	# Every scenario runs even when one fails; a scenario that fails outside its tests (create, converge,
	# idempotence, check) is recorded for summary.py, which counts it as a failure.
	failed=""; \
	for scenario in $(SCENARIOS); do molecule test -s $$scenario || failed="$$failed $$scenario"; done; \
	for release in $(filter-out $(RELEASE),$(RELEASES)); do \
	  MOLECULE_DEBIAN_RELEASE=$$release molecule test -s default || failed="$$failed default-$$release"; \
	done; \
	for scenario in $$failed; do echo "$$scenario" >> $(REPORTS)/failed-scenarios.txt; done; \
	[ -z "$$failed" ] || { echo "failed scenarios:$$failed"; exit 1; }
