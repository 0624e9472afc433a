# Two entry points for a newcomer: `make demo` and `make test`. Both create the
# virtual environment from the lock file first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench lock clean system-deps

$(STAMP): requirements.lock pyproject.toml
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	@touch $@

demo: $(STAMP)
	$(BIN)/chargewatch demo

# Debian packages of the real servers the tests start (promtool, later influxdb ...).
system-deps:
	@scripts/system-deps.sh

test: $(STAMP) system-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python bench/ingest.py

# Re-resolve the pinned, hashed lock files after changing dependencies in pyproject.toml:
# requirements.lock (with the dev tools) for .venv, requirements-runtime.lock for the image.
lock: $(STAMP)
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --universal \
		--python-version 3.11 -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml --generate-hashes --universal \
		--python-version 3.11 -c requirements.lock -o requirements-runtime.lock

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
