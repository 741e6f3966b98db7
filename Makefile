# Two commands do all the set-up:  `make demo`  and  `make test`.
# Both create .venv on first use with a CPU-pinned torch (override TORCH for GPUs:
#   make TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu124" install).
PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
BIN    := $(VENV)/bin

.PHONY: install demo test lint bench clean

$(BIN)/quasid: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e ".[dev]"
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

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
