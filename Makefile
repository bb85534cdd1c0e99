# Two commands for a fresh clone; each sets itself up (virtual environment + install).
#   make demo   the main job: the offline demo on the embedded toy-world model
#   make test   the test suite (what CI runs through .ci/run)
# Also: make lab (JupyterLab on the notebooks), make bench (benchmarks/), make lint (ruff, as CI runs it).

VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
OUT    ?= demo-out
PYTEST_ARGS ?=

.PHONY: demo test lint lab bench clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/workbench demo --out $(OUT)

# pytest exits 5 when it collects nothing; that is not a failure, every other code is.
# `|| true`: without root, setup_browser.sh cannot install chromium and the browser tests skip, while
# the rest still runs; with WORKBENCH_REQUIRE_BROWSER=1 (CI: .ci/run) they fail instead of skipping.
test: $(STAMP)
	@bash tests/setup_browser.sh || true
	$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "no tests were collected"; exit 0; fi; exit $$rc

lint: $(STAMP)
	$(VENV)/bin/ruff check .

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

bench: $(STAMP)
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) build dist *.egg-info $(OUT)
