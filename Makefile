# gridloop — two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# bpmn-js for the process diagrams: installed from npm (webui/package.json + package-lock.json), its viewer
# bundle and CSS copied into webui/static/vendor (both git-ignored, rebuilt on a fresh clone)
VENDOR := webui/static/vendor
BPMN_DIST := webui/node_modules/bpmn-js/dist
VENDOR_FILES := $(VENDOR)/bpmn-navigated-viewer.production.min.js $(VENDOR)/diagram-js.css $(VENDOR)/bpmn-js.css

.PHONY: demo test install vendor chromium lint bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

webui/node_modules/.package-lock.json: webui/package.json webui/package-lock.json
	cd webui && npm ci --no-audit --no-fund
	touch $@

$(VENDOR_FILES): webui/node_modules/.package-lock.json
	mkdir -p $(VENDOR)
	cp $(BPMN_DIST)/bpmn-navigated-viewer.production.min.js $(BPMN_DIST)/assets/diagram-js.css \
		$(BPMN_DIST)/assets/bpmn-js.css $(VENDOR)/
	touch $(VENDOR_FILES)

vendor: $(VENDOR_FILES)

# the browser tests drive Debian's chromium; install it when missing (as root), else say how
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update && apt-get install -y chromium; \
		else echo "chromium is missing: run 'sudo apt-get install -y chromium' (the browser tests need it)" >&2; exit 1; fi; }

demo: install vendor
	$(BIN)/gridloop init --demo
	@echo "demo accounts (password for every one: gridloop-demo):"
	@$(BIN)/gridloop users list
	@echo "web UI: http://127.0.0.1:5000"
	$(BIN)/gridloop serve --host 127.0.0.1 --port 5000

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint vendor chromium
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python bench/engine_bench.py

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache *.egg-info webui/node_modules $(VENDOR) test-artifacts
