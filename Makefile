# cmtlite: `make demo` (install, then soundtrack the procedural demo clip) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# Debian packages: FluidSynth's library and CLI, the default GM soundfont.
APT_PACKAGES := libfluidsynth3 fluidsynth fluid-soundfont-gm
# Only for the studio's browser tests: Playwright drives Debian's Chromium (no browser download).
TEST_APT_PACKAGES := chromium
# Only for building the training corpus (and its tests): MMA arranges POP909 for a band.
TRAIN_APT_PACKAGES := mma
RUN := runs/small

.PHONY: install system-deps train-deps test-deps demo test test-fast bench report corpus train model clean

# apt-get install the packages in $(1) that are missing.
define apt_install
	@missing=$$(for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "apt-get install $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

install: system-deps $(VENV)/.installed

system-deps:
	$(call apt_install,$(APT_PACKAGES))

train-deps:
	$(call apt_install,$(TRAIN_APT_PACKAGES))

test-deps: train-deps
	$(call apt_install,$(TEST_APT_PACKAGES))

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev,batch,eval,studio]'
	touch $@

demo: install
	$(BIN)/cmtlite demo --force

# pytest's exit code 5 (no tests collected) fails the target like any other failure.
test: install test-deps
	$(BIN)/ruff check cmtlite tests benchmarks
	@$(BIN)/python -m pytest -q; code=$$?; \
	if [ $$code -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; exit $$code

# The quick inner loop: everything but the tests marked slow (notebook, training, Ray, kill-and-resume, 4K, wheel).
test-fast: install test-deps
	$(BIN)/python -m pytest -q -m "not slow"

bench: install
	$(BIN)/python benchmarks/analyze.py
	$(BIN)/python benchmarks/prepare.py
	$(BIN)/python benchmarks/generate.py
	$(BIN)/python benchmarks/end_to_end.py
	$(BIN)/python benchmarks/memory.py

# reports/quality.md: metrics of soundtracks for ../shared/videos against the real corpora.
report: install
	$(BIN)/python benchmarks/quality.py

# The shipped model from the current code, one command (models/MODEL_CARD.md): corpus -> progression library -> training
# -> calibration -> export. Every stage resumes: the corpus is kept once built (delete corpus/ to rebuild it), training
# continues from its last checkpoint in $(RUN), the rest takes seconds.
POP909 := ../shared/data/pop909
STEPS := 13000

corpus: install train-deps
	test -f corpus/meta.json || $(BIN)/cmtlite prepare -o corpus --force

train: corpus
	$(BIN)/cmtlite train corpus -o $(RUN) --config small --steps $(STEPS) --resume

model: train
	$(BIN)/cmtlite progressions $(POP909) -o models/progressions.json --force --quiet
	$(BIN)/cmtlite calibrate corpus -o $(RUN)/calibration.json --force  # reads the shipped speed table, so not over it
	cp $(RUN)/calibration.json models/calibration.json
	$(BIN)/cmtlite export $(RUN) --corpus corpus -o models/cmtlite-small.safetensors --force

clean:
	rm -rf $(VENV) demo .pytest_cache
