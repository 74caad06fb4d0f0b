# gridloop — two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test install lint bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/gridloop init --demo
	@echo "demo accounts (password for every one: gridloop-demo):"
	@$(BIN)/gridloop users list
	@echo "web UI: http://127.0.0.1:5000"
	$(BIN)/gridloop serve --host 127.0.0.1 --port 5000

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python bench/engine_bench.py

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache *.egg-info
