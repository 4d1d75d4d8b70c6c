# churnlab: the two commands of the README are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
DEMO_RAW ?= data/raw/demo
DEMO_OUT ?= data/processed/demo
ACCOUNTS ?= 5000
MONTHS ?= 36
SEED   ?= 42

.PHONY: setup demo test bench lock clean-demo

$(VENV)/.installed: pyproject.toml requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e ".[dev]"
	@touch $@

setup: $(VENV)/.installed  ## create the virtualenv and install the pinned stack

demo: setup  ## simulate the demo SaaS, validate it, build point-in-time features
	$(PY) -m churnlab.cli demo --raw $(DEMO_RAW) --processed $(DEMO_OUT) --accounts $(ACCOUNTS) --months $(MONTHS) --seed $(SEED)

test: setup  ## run the whole test suite
	$(PY) -m pytest -n 2

bench: setup  ## time simulate + features at 5k and 50k accounts (writes benchmarks/RESULTS.md)
	$(PY) benchmarks/bench_foundation.py

lock: setup  ## re-pin requirements.lock from the current environment
	$(PY) -m pip freeze --exclude-editable | grep -v '^churnlab' > requirements.lock

clean-demo:
	rm -rf $(DEMO_RAW) $(DEMO_OUT)
