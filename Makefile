# Two commands do all the set-up:  `make demo`  and  `make test`.
# Both create .venv on first use with a CPU-pinned torch (override TORCH for GPUs:
#   make TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu124" install).
# Every install goes through constraints.txt, the exact versions CI last passed with
# (`make install CONSTRAINTS=` takes the newest releases within pyproject.toml's ranges instead;
# `make lock` records the installed versions; README "Set-up" says when).
PYTHON      ?= python3
VENV        ?= .venv
TORCH       ?= torch==2.13.0
LOCK        := constraints.txt
CONSTRAINTS ?= $(LOCK)
BIN         := $(VENV)/bin
# PIP_CONSTRAINT (not -c) so the isolated build environment of the editable install is pinned too
PIP         := $(if $(CONSTRAINTS),PIP_CONSTRAINT=$(abspath $(CONSTRAINTS)) )$(BIN)/python -m pip
FREEZE      := $(BIN)/python -m pip freeze --all --exclude-editable | grep -v -i '^torch==' | LC_ALL=C sort

.PHONY: install demo test lint lock lock-check bench clean

$(BIN)/quasid: pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)  # TORCH's own index decides; the next line re-pins its deps
	$(PIP) install -q -e ".[dev]"
	@touch $@

install: $(BIN)/quasid

demo: install
	$(BIN)/quasid demo

test: install
	$(BIN)/python -m pytest -q
	$(BIN)/ruff check src tests benchmarks

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

# Record the installed versions (all but torch, which TORCH pins) as the new lock, after `make test` passed.
lock: install
	@{ sed -n '/^#/p' $(LOCK); $(FREEZE); } > $(LOCK).tmp && mv $(LOCK).tmp $(LOCK)
	@echo "wrote $$(grep -vc '^#' $(LOCK)) pinned versions to $(LOCK)"

# Fail when an installed package is missing from the lock or differs from it (a dependency added to
# pyproject.toml without `make lock`, or an install that bypassed constraints.txt).
lock-check: install
	@$(FREEZE) > $(VENV)/installed.txt
	@grep -v '^#' $(LOCK) | LC_ALL=C sort | LC_ALL=C comm -23 $(VENV)/installed.txt - > $(VENV)/unlocked.txt
	@if [ -s $(VENV)/unlocked.txt ]; then \
		echo "installed, but not as pinned in $(LOCK) (refresh it: README, Set-up):"; \
		cat $(VENV)/unlocked.txt; exit 1; fi
	@echo "every installed package is as pinned in $(LOCK)"

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
