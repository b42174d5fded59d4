# The two commands the README opens with: `make run` and `make test`.
# Both install everything they need on a fresh Debian machine with Python 3.11 (as root).
# Python packages come only from requirements.lock (exact versions, sha256 hashes), so a
# fresh machine gets exactly what CI got; `make lock` refreshes it.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
# What the daemon itself needs for browser probes: Debian's headless Chromium (no browser
# download), certutil (a probe's ca_file becomes the browser's NSS trust store) and DejaVu
# fonts, so screenshots of Russian pages are legible. `dozor demo` also runs Prometheus and
# Alertmanager (promtool and amtool come with them).
RUN_DEB_PACKAGES := chromium-headless-shell libnss3-tools fonts-dejavu-core \
  prometheus prometheus-alertmanager
# Real tools the tests drive beyond those: blackbox_exporter; chromium renders the monthly
# report's HTML; iproute2 (`ip netns`) builds the ICMP tests' namespaced hosts; faketime
# (libfaketime) pins a daemon's wall clock on a public holiday for the heartbeat test.
DEB_PACKAGES := $(RUN_DEB_PACKAGES) prometheus-blackbox-exporter chromium iproute2 faketime
PYTEST_ARGS ?=

# requirements.lock: runtime + test + bench extras (make run/test/bench*).
# requirements-runtime.lock: runtime only (deploy/Dockerfile), the same versions.
LOCK := requirements.lock
RUNTIME_LOCK := requirements-runtime.lock
# pip-tools lives only in a throwaway venv made by `make lock`; pinned so the lock's format
# does not drift with whoever runs it.
LOCK_TOOLS := pip==25.3 pip-tools==7.6.2
# `make lock` re-resolves to the newest allowed versions; `make lock LOCK_UPGRADE=` keeps the
# current pins where pyproject.toml still allows them (a minimal diff after adding a dependency).
LOCK_UPGRADE ?= --upgrade
# Resolve and hash against the public index only, not this machine's extra indexes, wheel
# directories and constraints (pip config files and PIP_* variables; empty values would be
# ignored, hence unset), so every pin and hash is fetchable anywhere, docker build included.
LOCK_ENV := env -u PIP_FIND_LINKS -u PIP_EXTRA_INDEX_URL -u PIP_CONSTRAINT PIP_CONFIG_FILE=/dev/null \
  CUSTOM_COMPILE_COMMAND='make lock'
PIP_COMPILE_FLAGS := --quiet --generate-hashes --allow-unsafe --strip-extras \
  --no-emit-index-url --no-emit-trusted-host --no-emit-find-links --all-build-deps

.PHONY: run test deps debs run-debs lint typecheck bench bench-blackbox bench-browser schema \
  deploy-config lock test-latest fresh-check

# A fresh venv whenever the lock or pyproject.toml changes, so a package dropped from the lock
# is gone too. Only the lock's pinned, hashed files are installed (--no-deps: nothing
# unlisted); then Dozor itself, editable, built with the lock's setuptools (no isolation).
$(STAMP): $(LOCK) pyproject.toml
	rm -rf $(VENV)
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --require-hashes --no-deps -r $(LOCK)
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

deps: $(STAMP)

# Refresh both locks from pyproject.toml, with pip-tools in a throwaway venv. The runtime lock
# starts from the full one, so it pins the same versions.
lock:
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(PY) -m venv "$$tmp/venv"; \
	$(LOCK_ENV) "$$tmp/venv/bin/pip" install -q $(LOCK_TOOLS); \
	$(LOCK_ENV) "$$tmp/venv/bin/pip-compile" $(PIP_COMPILE_FLAGS) $(LOCK_UPGRADE) \
	  --extra test --extra bench -o $(LOCK) pyproject.toml; \
	cp $(LOCK) "$$tmp/runtime.lock"; \
	$(LOCK_ENV) "$$tmp/venv/bin/pip-compile" $(PIP_COMPILE_FLAGS) \
	  -o "$$tmp/runtime.lock" pyproject.toml; \
	mv "$$tmp/runtime.lock" $(RUNTIME_LOCK); \
	echo "wrote $(LOCK) and $(RUNTIME_LOCK)"

# apt-get update once, and only when something is missing, so a warm machine is fast.
debs: PACKAGES = $(DEB_PACKAGES)
run-debs: PACKAGES = $(RUN_DEB_PACKAGES)
debs run-debs:
	@missing=""; for p in $(PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

run: deps run-debs
	$(BIN)/dozor demo

lint: deps
	$(BIN)/ruff check monitor probes tests bench harness
	$(BIN)/lint-imports

typecheck: deps
	$(BIN)/mypy

test: deps debs lint typecheck
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# Not CI: the test suite against the NEWEST versions pyproject.toml allows (the lock ignored),
# in a throwaway venv, to find upstream breakage on purpose before `make lock` pulls it in.
test-latest: debs
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(PY) -m venv "$$tmp/venv"; \
	"$$tmp/venv/bin/pip" install -q --upgrade pip; \
	"$$tmp/venv/bin/pip" install -q --upgrade --upgrade-strategy eager -e '.[test,bench]'; \
	"$$tmp/venv/bin/pip" freeze --exclude-editable; \
	"$$tmp/venv/bin/python" -m pytest -q $(PYTEST_ARGS)

# The README's test command on a clean clone of the committed HEAD in a temporary directory:
# no work-tree changes, no shared .venv, nothing untracked. Exit status is make test's.
fresh-check:
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	head=$$(git -C "$(CURDIR)" rev-parse HEAD); \
	git clone -q --no-checkout "$(CURDIR)" "$$tmp/dozor"; \
	git -C "$$tmp/dozor" checkout -q --detach "$$head"; \
	echo "fresh-check: make test on $$head in $$tmp/dozor"; \
	$(MAKE) -C "$$tmp/dozor" test

schema: deps
	$(BIN)/python -m monitor.catalog.schema

# deps installs the lock, which carries the bench extra (uvloop). Flags: BENCH_ARGS="...".
bench: deps debs
	$(BIN)/python bench/scheduler_bench.py $(BENCH_ARGS)

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

# Browser checks: Dozor's shared Chromium vs a fresh browser per check (bench/README.md);
# needs only what `make run` installs (Debian's chromium-headless-shell).
bench-browser: deps run-debs
	$(BIN)/python bench/browser_bench.py $(BENCH_ARGS)
