# cmtlite: `make demo` (install, then soundtrack the procedural demo clip) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# Debian packages: FluidSynth's library and CLI, the default GM soundfont.
APT_PACKAGES := libfluidsynth3 fluidsynth fluid-soundfont-gm

.PHONY: install system-deps demo test bench clean

install: system-deps $(VENV)/.installed

system-deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "apt-get install $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

demo: install
	$(BIN)/cmtlite demo --force

# pytest's exit code 5 (no tests collected) fails the target like any other failure.
test: install
	$(BIN)/ruff check cmtlite tests benchmarks
	@$(BIN)/python -m pytest -q; code=$$?; \
	if [ $$code -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; exit $$code

bench: install
	$(BIN)/python benchmarks/analyze.py

clean:
	rm -rf $(VENV) demo .pytest_cache
