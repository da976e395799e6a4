# The two commands of the README: `make demo` and `make test`. Both set up everything
# they need on a fresh machine (a venv in .venv, the package and its pinned deps).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install browser unit integration clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e . pytest hypothesis playwright kubernetes-validate mypy
	touch $(STAMP)

install: $(STAMP)

# Debian's chromium for the dashboard's browser test (never a downloaded browser).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; fi; }

demo: install
	$(BIN)/streamrec demo $(ARGS)

test: install browser
	$(BIN)/python -m mypy  # --strict on engine/ (pyproject.toml)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

unit: install
	$(BIN)/python -m pytest -m "not integration" $(PYTEST_ARGS)

integration: install
	$(BIN)/python -m pytest -m integration $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache
