# Two commands matter (see README): `make demo` and `make test`.
# Both create or reuse .venv through scripts/bootstrap.sh.
PY := .venv/bin/python
PYTEST_ARGS ?=

.PHONY: venv test test-slow test-all demo bench clean

venv:
	@scripts/bootstrap.sh

test: venv
	$(PY) -m pytest -q $(PYTEST_ARGS)

test-slow: venv
	$(PY) -m pytest -q -m slow $(PYTEST_ARGS)

test-all: venv
	$(PY) -m pytest -q -m "slow or not slow" $(PYTEST_ARGS)

demo: venv
	$(PY) -m silava demo

clean:
	rm -rf .venv .pytest_cache
