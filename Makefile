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
	$(PY) -m pip install --quiet -c requirements.lock -e ".[dev,spark]"
	@touch $@

setup: $(VENV)/.installed  ## create the virtualenv and install the pinned stack

demo: setup  ## simulate the demo SaaS, validate, train the champion, render the latest month's report
	$(PY) -m churnlab.cli demo --raw $(DEMO_RAW) --processed $(DEMO_OUT) --accounts $(ACCOUNTS) --months $(MONTHS) --seed $(SEED)

CHROMIUM ?= /usr/bin/chromium

$(CHROMIUM):  ## the browser test's headless Chromium (Debian's package)
	@echo "installing Debian's chromium for the browser test"
	@if [ "$$(id -u)" = 0 ]; then APT="apt-get"; elif command -v sudo >/dev/null; then APT="sudo apt-get"; \
	else echo "chromium is missing and this user cannot install it: apt-get install chromium" >&2; exit 1; fi; \
	DEBIAN_FRONTEND=noninteractive $$APT install -y -q chromium >/dev/null 2>&1 || \
	{ $$APT update -q >/dev/null && DEBIAN_FRONTEND=noninteractive $$APT install -y -q chromium >/dev/null; }

JAVA ?= /usr/bin/java

$(JAVA):  ## Java 17 for the Spark engine's equality test (Debian's headless JRE)
	@echo "installing Debian's openjdk-17-jre-headless for the Spark engine"
	@if [ "$$(id -u)" = 0 ]; then APT="apt-get"; elif command -v sudo >/dev/null; then APT="sudo apt-get"; \
	else echo "java is missing and this user cannot install it: apt-get install openjdk-17-jre-headless" >&2; exit 1; fi; \
	DEBIAN_FRONTEND=noninteractive $$APT install -y -q openjdk-17-jre-headless >/dev/null 2>&1 || \
	{ $$APT update -q >/dev/null && DEBIAN_FRONTEND=noninteractive $$APT install -y -q openjdk-17-jre-headless >/dev/null; }

test: setup $(CHROMIUM) $(JAVA)  ## run the whole test suite (installs chromium and Java for the browser and Spark tests)
	$(PY) -m pytest -n 2 --durations=12

bench: setup $(JAVA)  ## how cost grows: every step at 5k/20k/50k/200k, DuckDB and Spark (benchmarks/RESULTS_scale.md; hours)
	$(PY) benchmarks/bench_scale.py --sizes 5000 20000 50000 200000

lock: setup  ## re-pin requirements.lock from the current environment
	$(PY) -m pip freeze --exclude-editable | grep -v '^churnlab' > requirements.lock

clean-demo:
	rm -rf $(DEMO_RAW) $(DEMO_OUT)
