# The two commands the README opens with: `make run` and `make test`.
# Both install everything they need on a fresh Debian machine with Python 3.11 (as root).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
# Real tools the tests drive: promtool, amtool, prometheus, blackbox_exporter; chromium
# renders the monthly report's HTML.
DEB_PACKAGES := prometheus prometheus-alertmanager prometheus-blackbox-exporter chromium
PYTEST_ARGS ?=

.PHONY: run test deps debs lint typecheck bench bench-blackbox schema deploy-config

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

deps: $(STAMP)

# apt-get update once, and only when something is missing, so a warm machine is fast.
debs:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

run: deps
	$(BIN)/dozor demo

lint: deps
	$(BIN)/ruff check monitor probes tests bench harness

typecheck: deps
	$(BIN)/mypy

test: deps debs lint typecheck
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

schema: deps
	$(BIN)/python -m monitor.catalog.schema

bench: deps debs
	$(BIN)/python bench/scheduler_bench.py

# deploy/generated/ for deploy/docker-compose.yml, from the demo catalog (tests check it is fresh).
deploy-config: deps
	$(BIN)/dozor rules config/examples/demo -o deploy/generated/rules.yml
	$(BIN)/dozor alertmanager config/examples/demo -o deploy/generated/alertmanager.yml \
	  --escalation-rules deploy/generated/escalation.rules.yml

# Dozor vs blackbox_exporter on the same nginx target (bench/README.md); nginx is bench-only.
bench-blackbox: deps debs
	@dpkg-query -W -f='$${Status}' nginx-light 2>/dev/null | grep -q "install ok installed" || \
	  dpkg-query -W -f='$${Status}' nginx 2>/dev/null | grep -q "install ok installed" || \
	  ($(SUDO) apt-get update -qq && \
	   DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends nginx-light)
	$(BIN)/python bench/vs_blackbox.py $(BENCH_ARGS)
