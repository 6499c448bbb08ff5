# `make demo` loads every source from the sandbox into DuckDB; `make test` runs the suite.
# Both create .venv and install the project on first use.
PYTHON ?= python3
VENV := .venv
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: demo test dev

$(VENV)/installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $@

$(DAGSTER_HOME)/dagster.yaml: dagster.local.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.local.yaml $@

demo: $(VENV)/installed $(DAGSTER_HOME)/dagster.yaml
	$(VENV)/bin/python -m crm_assets.demo

# Three xdist workers on a 2-core machine: the suite is CPU-bound, and a third worker runs the
# paced tests (xdist group `paced`: they mostly wait out pauses) from the start while the other
# two take the CPU-bound ones, so the cores stay busy to the end (5:47 against two workers' 7:38).
TEST_WORKERS ?= 3
test: $(VENV)/installed
	$(VENV)/bin/python -m pytest -n $(TEST_WORKERS)

# `dg dev` (what `dagster dev` now points to) loads the code location named in pyproject.toml's
# [tool.dg], the same as workspace.yaml's; VIRTUAL_ENV tells dg the project's .venv is in use.
dev: $(VENV)/installed $(DAGSTER_HOME)/dagster.yaml
	VIRTUAL_ENV=$(CURDIR)/$(VENV) $(VENV)/bin/dg dev
