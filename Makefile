# The two commands of the README:
#   make run    install, build the demo index if there is none, serve http://127.0.0.1:8000
#   make test   install with the dev tools and the cluster extra (Dask, pymysql), Chromium and
#               Sphinx, and run the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INDEX ?= index_data
DEMO := indexer/demo_archive

.PHONY: run test install install-dev browser sphinx bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev,cluster]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# Debian's Chromium for the browser tests (never a downloaded browser).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

# Debian's Sphinx 2.2.11 (searchd, indextool) for the cluster tests (never a downloaded binary).
sphinx:
	@command -v searchd >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq sphinxsearch >/dev/null; }

run: install
	@$(BIN)/vnsearch stats --index $(INDEX) >/dev/null 2>&1 || \
	  $(BIN)/vnsearch index $(DEMO) --index $(INDEX)
	$(BIN)/vnsearch serve --index $(INDEX)

# Lint (ruff, configured in pyproject.toml; .venv excluded), types (mypy over
# search, indexer and webui, as [tool.mypy] in pyproject.toml says), then tests.
test: install-dev browser sphinx
	$(BIN)/ruff check .
	$(BIN)/mypy
	VNSEARCH_REQUIRE_BROWSER=1 VNSEARCH_REQUIRE_CORPUS=1 $(BIN)/python -m pytest -q

bench: install
	$(BIN)/python bench/index_bench.py

clean:
	rm -rf $(VENV) build *.egg-info
