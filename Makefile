# gridloop — two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# bpmn-js for the process diagrams: installed from npm (webui/package.json + package-lock.json), its viewer
# bundle and CSS copied into webui/static/vendor (both git-ignored, rebuilt on a fresh clone)
VENDOR := webui/static/vendor
BPMN_DIST := webui/node_modules/bpmn-js/dist
VENDOR_FILES := $(VENDOR)/bpmn-navigated-viewer.production.min.js $(VENDOR)/diagram-js.css $(VENDOR)/bpmn-js.css
# the designer's workbench: bpmn-js's Modeler, the properties panel, gridloop's property group and bpmnlint, bundled
# from webui/modeler/ by esbuild (an npm package like the rest), and their style sheets in one file
DESIGNER_SOURCES := $(wildcard webui/modeler/*.js webui/modeler/*.json)
DESIGNER_FILES := $(VENDOR)/designer.js $(VENDOR)/designer.css $(VENDOR)/bpmn-font/css/bpmn.css \
	$(VENDOR)/dmn-designer.js $(VENDOR)/dmn-designer.css $(VENDOR)/dmn-font/css/dmn.css
# the decision tables' editor: dmn-js's Modeler, bundled from webui/modeler/dmn.js, with its style sheets in one file
DMN_DIST := webui/node_modules/dmn-js/dist/assets
DMN_CSS := $(DMN_DIST)/dmn-js-shared.css $(DMN_DIST)/dmn-js-drd.css $(DMN_DIST)/dmn-js-decision-table.css \
	$(DMN_DIST)/dmn-js-decision-table-controls.css $(DMN_DIST)/dmn-js-literal-expression.css \
	$(DMN_DIST)/dmn-js-boxed-expression.css $(DMN_DIST)/dmn-js-boxed-expression-controls.css
DESIGNER_CSS := webui/node_modules/@bpmn-io/properties-panel/dist/assets/properties-panel.css \
	webui/node_modules/bpmn-js-bpmnlint/dist/assets/css/bpmn-js-bpmnlint.css
# the web UI's message catalogs (gettext, msgids are stable keys): the .po files are the source, the .mo files
# compiled from them are git-ignored (`make translations`, a step of `make install`; the wheel's build compiles
# its own, see webui/translations/build_hook.py)
CATALOGS := webui/translations
CATALOG_PO := $(wildcard $(CATALOGS)/*/LC_MESSAGES/messages.po)
CATALOG_MO := $(CATALOG_PO:.po=.mo)

.PHONY: demo demo-reset test install lock vendor translations messages chromium lint bench bench-scale clean

# every package at the version (and with the hashes) CI tested, from the lock; then the project itself,
# editable; `pip check` fails when pyproject.toml asks for a package the lock lacks (run `make lock`)
# (quietly: pip says only its errors, twice --quiet hiding the warnings an index configuration can raise for every
# package, and no version check)
PIP := $(BIN)/python -m pip --disable-pip-version-check
PIP_QUIET := --quiet --quiet
$(BIN)/.installed: pyproject.toml requirements-dev.lock
	@echo "installing gridloop and its pinned packages into $(VENV)"
	@$(PYTHON) -m venv $(VENV)
	@$(PIP) install $(PIP_QUIET) --upgrade pip
	@$(PIP) install $(PIP_QUIET) --require-hashes -r requirements-dev.lock
	@$(PIP) install $(PIP_QUIET) --no-deps -e .
	@$(PIP) check >/dev/null || { $(PIP) check; echo "requirements-dev.lock lacks what pyproject.toml asks for: run 'make lock'" >&2; exit 1; }
	@touch $@

install: $(BIN)/.installed translations

$(CATALOG_MO): %.mo: %.po $(BIN)/.installed
	$(BIN)/pybabel compile --statistics -i $< -o $@

translations: $(CATALOG_MO)

# the message ids the code and templates name (webui/translations/babel.cfg), merged into every catalog: a new id comes in with
# an empty text to fill in (the tests fail until both languages have it), an id no longer named is kept as
# obsolete (#~) for a while; never fuzzy-matched, since ids are keys
messages: $(BIN)/.installed
	$(BIN)/pybabel extract --no-location --sort-output --omit-header -F webui/translations/babel.cfg -k translate \
		-o $(CATALOGS)/messages.pot .
	$(BIN)/pybabel update --no-fuzzy-matching -i $(CATALOGS)/messages.pot -d $(CATALOGS)

# requirements-dev.lock (the project with its dev extra) and requirements.lock (what the wheel needs, at the
# same versions), by uv from pyproject.toml; versions already locked are kept, `make lock UPGRADE=--upgrade`
# moves every package to its newest release
UV_COMPILE := $(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes \
	--custom-compile-command 'make lock' --quiet
lock:
	test -x $(BIN)/uv || { $(PYTHON) -m venv $(VENV) && $(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.lock; }
	$(UV_COMPILE) --extra dev $(UPGRADE) -o requirements-dev.lock
	$(UV_COMPILE) --constraint requirements-dev.lock -o requirements.lock

webui/node_modules/.package-lock.json: webui/package.json webui/package-lock.json
	cd webui && npm ci --no-audit --no-fund
	touch $@

$(VENDOR_FILES): webui/node_modules/.package-lock.json
	mkdir -p $(VENDOR)
	cp $(BPMN_DIST)/bpmn-navigated-viewer.production.min.js $(BPMN_DIST)/assets/diagram-js.css \
		$(BPMN_DIST)/assets/bpmn-js.css $(VENDOR)/
	touch $(VENDOR_FILES)

$(VENDOR)/designer.js: webui/node_modules/.package-lock.json $(DESIGNER_SOURCES)
	mkdir -p $(VENDOR)
	cd webui && ./node_modules/.bin/esbuild modeler/index.js --bundle --minify --format=iife --target=es2020 \
		--log-level=error --outfile=static/vendor/designer.js

$(VENDOR)/designer.css: webui/node_modules/.package-lock.json
	mkdir -p $(VENDOR)
	cat $(DESIGNER_CSS) > $@

# the palette's icons: bpmn-js's icon font, its style sheet beside its font files (no data: fonts, which the pages'
# content security policy does not load)
$(VENDOR)/bpmn-font/css/bpmn.css: webui/node_modules/.package-lock.json
	mkdir -p $(VENDOR)/bpmn-font/css $(VENDOR)/bpmn-font/font
	cp $(BPMN_DIST)/assets/bpmn-font/font/* $(VENDOR)/bpmn-font/font/
	cp $(BPMN_DIST)/assets/bpmn-font/css/bpmn.css $@

$(VENDOR)/dmn-designer.js: webui/node_modules/.package-lock.json webui/modeler/dmn.js
	mkdir -p $(VENDOR)
	cd webui && ./node_modules/.bin/esbuild modeler/dmn.js --bundle --minify --format=iife --target=es2020 \
		--log-level=error --outfile=static/vendor/dmn-designer.js

$(VENDOR)/dmn-designer.css: webui/node_modules/.package-lock.json
	mkdir -p $(VENDOR)
	cat $(DMN_CSS) > $@

# the DMN editor's icons: dmn-js's icon font beside its style sheet (as bpmn-font, no data: fonts)
$(VENDOR)/dmn-font/css/dmn.css: webui/node_modules/.package-lock.json
	mkdir -p $(VENDOR)/dmn-font/css $(VENDOR)/dmn-font/font
	cp $(DMN_DIST)/dmn-font/font/* $(VENDOR)/dmn-font/font/
	cp $(DMN_DIST)/dmn-font/css/dmn.css $@

# the dashboard's charts: ECharts' prebuilt bundle
$(VENDOR)/echarts.min.js: webui/node_modules/.package-lock.json
	mkdir -p $(VENDOR)
	cp webui/node_modules/echarts/dist/echarts.min.js $@

# the grid map: Leaflet's prebuilt bundle and its style sheet with its images (the district's own GeoJSON is
# drawn on a plain background: no tile server)
$(VENDOR)/leaflet/leaflet.js: webui/node_modules/.package-lock.json
	mkdir -p $(VENDOR)/leaflet/images
	cp webui/node_modules/leaflet/dist/leaflet.js webui/node_modules/leaflet/dist/leaflet.css $(VENDOR)/leaflet/
	cp webui/node_modules/leaflet/dist/images/* $(VENDOR)/leaflet/images/

vendor: $(VENDOR_FILES) $(DESIGNER_FILES) $(VENDOR)/echarts.min.js $(VENDOR)/leaflet/leaflet.js

# the browser tests drive Debian's chromium, and their screenshots need a Chinese font (Noto CJK); install
# what is missing (as root), else say how
chromium:
	@missing=""; command -v chromium >/dev/null 2>&1 || missing="chromium"; \
	fc-list :lang=zh 2>/dev/null | grep -q . || missing="$$missing fonts-noto-cjk"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		else echo "missing:$$missing — run 'sudo apt-get install -y$$missing' (the browser tests need it)" >&2; exit 1; fi; fi

# the first run (a new database: `init --demo` says it created the district) seeds a last month of cases —
# 150 events dated in the past, supervised along the way, a few left open in the inboxes; `make demo-reset` starts over
DEMO_SEED := --events 150 --past 30
demo: install vendor
	@out=$$($(BIN)/gridloop init --demo) && echo "$$out" && \
	if echo "$$out" | grep -q "^demo district created"; then \
		echo "seeding the last 30 days of cases (gridloop simulate $(DEMO_SEED)), about half a minute"; \
		$(BIN)/gridloop simulate $(DEMO_SEED) --json | $(BIN)/python -c \
			'import json, sys; s = json.load(sys.stdin); print(s["events"], "events,", s["open_tasks"], "tasks open")'; \
		$(BIN)/gridloop ledger import engine/demo/ledger.csv; \
	fi
	@echo "demo accounts (password for every one: gridloop-demo):"
	@$(BIN)/gridloop users list
	@echo "web UI: http://127.0.0.1:5000 (Ctrl-C stops it; make demo-reset deletes the demo's data)"
	@$(BIN)/gridloop serve --host 127.0.0.1 --port 5000

# the demo's database and the audit checkpoints written for it (its keys are kept); the next `make demo` seeds anew
demo-reset:
	rm -rf instance/gridloop.sqlite3 instance/gridloop.sqlite3-wal instance/gridloop.sqlite3-shm instance/checkpoints

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

test: lint vendor chromium
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python bench/engine_bench.py

# evaluation and every staff page and API list at a million archived events on PostgreSQL, the pages against
# the same calls at 10k and 100k: the databases are generated once (bench/generate.py, about 40 minutes here for
# the million) and kept for later runs
SCALE_SERVER ?= postgresql+psycopg://postgres@127.0.0.1:5432
SCALE_EVENTS ?= 1000000
bench-scale: install
	for db in gridloop_scale gridloop_scale_10k gridloop_scale_100k; do \
		psql "$(subst +psycopg,,$(SCALE_SERVER))/postgres" -qc "CREATE DATABASE $$db" 2>/dev/null || true; done
	$(BIN)/python bench/evaluation_bench.py --db $(SCALE_SERVER)/gridloop_scale --events $(SCALE_EVENTS)
	$(BIN)/python bench/scale_bench.py --db 10k=$(SCALE_SERVER)/gridloop_scale_10k \
		--db 100k=$(SCALE_SERVER)/gridloop_scale_100k --db $(SCALE_EVENTS)=$(SCALE_SERVER)/gridloop_scale

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache *.egg-info webui/node_modules $(VENDOR) test-artifacts
