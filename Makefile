# The two set-up commands: `make up` runs a whole site on simulated hardware, `make test` runs the suite.
# `make up-province` runs a demo province: PostgreSQL, two province nodes and three simulated sites.
VENV   ?= .venv
CONFIG ?= examples/site.toml
UPARGS ?= --traffic

.PHONY: up up-province test test-arm64 bootstrap bootstrap-province bootstrap-test lint typecheck pytest bench wheels clean

up: bootstrap
	$(VENV)/bin/onestop up --config $(CONFIG) $(UPARGS)

# PROVARGS: e.g. --speed 300, --dir /var/tmp/demo (docs/province.md "A demo province")
PROVARGS ?=
up-province: bootstrap-province
	$(VENV)/bin/onestop province demo $(PROVARGS)

test: bootstrap-test lint typecheck pytest

# The unit tests on arm64 (64-bit Raspberry Pi OS = Debian 12 arm64) under QEMU, in a root filesystem
# built once and cached outside the clone (docs/raspberry-pi.md, "The arm64 proof"). Needs root or sudo.
# ARM64ARGS: e.g. --wheelhouse dist/wheels-pi (after make wheels ... WHEELS_PLATFORM=manylinux2014_aarch64).
ARM64ARGS ?=
test-arm64:
	./scripts/arm64.sh $(ARM64ARGS)

bootstrap:
	@./scripts/bootstrap.sh

bootstrap-test:
	@./scripts/bootstrap.sh --test

bootstrap-province:
	@./scripts/bootstrap.sh --province

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck:
	$(VENV)/bin/mypy

# pytest exits 5 when it collected no test: that is a failure here, as any non-zero status is.
pytest:
	$(VENV)/bin/python -m pytest

bench: bootstrap-test
	$(VENV)/bin/python -m bench

# The wheels that bundles and the hub install from (no package index): WHEELS_PLATFORM empty = this
# machine; manylinux2014_aarch64 = 64-bit Raspberry Pi OS.
WHEELS ?= dist/wheels
WHEELS_PLATFORM ?=
wheels: bootstrap
	VENV=$(VENV) ./scripts/wheels.sh $(WHEELS) $(WHEELS_PLATFORM)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
