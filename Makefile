# The two commands of the README: `make demo` (the showcase) and `make test`.
# Every target installs what it needs first (scripts/bootstrap.sh, idempotent and cached).
VENV := .venv/bin
PYTEST_ARGS ?=

.PHONY: bootstrap test lint typecheck unit demo load load-full bench pipeline

bootstrap:
	@scripts/bootstrap.sh

## The test suite: static checks, then every test tier against real processes.
test: bootstrap lint typecheck
	$(VENV)/pytest -q $(PYTEST_ARGS) tests

lint:
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .

typecheck:
	$(VENV)/mypy app agents scripts

## Only the core's API tests (fast feedback while working on app/).
unit: bootstrap
	$(VENV)/pytest -q $(PYTEST_ARGS) tests/app

## The showcase: Jaeger, core on SQLite, agents, k6 swarm load, report. ARGS="--profile full --keep-up"
demo: bootstrap
	$(VENV)/python -m scripts.showcase $(ARGS)
