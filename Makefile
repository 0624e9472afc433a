# Two entry points for a newcomer: `make demo` and `make test`. Both create the
# virtual environment from the lock file first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench lock clean system-deps audit

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

# Security audit (needs network access to pypi.org; not part of `make test` / CI):
# known vulnerabilities in the locked packages (pip-audit, scripts/audit.py explains its exit
# codes), then bandit over the code with [tool.bandit] of pyproject.toml and the accepted
# findings in .ci/bandit-baseline.json (docs/security.md, "Audit"). Fails if either fails.
BANDIT_PATHS := chargewatch collector rules notifier reports dashboards
audit: $(STAMP)
	@status=0; \
	$(BIN)/python scripts/audit.py || status=$$?; \
	echo "bandit: $(BANDIT_PATHS) (accepted findings: .ci/bandit-baseline.json)"; \
	$(BIN)/bandit -q -c pyproject.toml -b .ci/bandit-baseline.json -r $(BANDIT_PATHS) \
		|| status=$$?; \
	exit $$status

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
