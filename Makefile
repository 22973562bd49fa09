# The two commands a user needs (README):  `make lab`  and  `make test`.
# `make lab` installs the lab environment (requirements.lock); `make test` adds the test tools (requirements-test.lock).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-lab
TEST_STAMP := $(VENV)/.installed-test
# Offline and quiet, unless the user chose otherwise (labkit sets the same defaults at import).
export DO_NOT_TRACK ?= 1
export MLFLOW_DISABLE_TELEMETRY ?= true
export TRANSFORMERS_VERBOSITY ?= error
export HF_HUB_OFFLINE ?= 1
export PYDEVD_DISABLE_FILE_VALIDATION ?= 1
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
JOBS ?= 2

.PHONY: help setup lab test test-fast notebooks check-notebooks lock clean

help:
	@echo "make lab    - set up (first time only) and open JupyterLab on the lab"
	@echo "make test   - set up (first time only) and run the whole test suite"
	@echo "make notebooks - re-execute solutions/ and regenerate notebooks/ from them (maintainers)"
	@echo "make lock   - re-resolve both locks (lab, test) from one resolution (maintainers)"

setup: $(STAMP)

# The lab environment: only what the notebooks need (requirements.lock). pip shows its progress.
$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if (3, 10) <= v <= (3, 12) else "The lab needs Python 3.10-3.12 (3.11 recommended); found %d.%d at $(PYTHON). Install python3.11 or run: make PYTHON=/path/to/python3.11 ..." % v)'
	@echo "[1/3] Creating the virtual environment $(VENV) ..."
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "[2/3] Installing the lab's packages from requirements.lock (first time only: about 3-6 minutes; pip shows each download) ..."
	$(PY) -m pip install --disable-pip-version-check --progress-bar on -r requirements.lock
	$(PY) -m pip install --disable-pip-version-check --quiet --no-deps -e .
	@echo "[3/3] Writing the offline JupyterLab settings ..."
	$(PY) -m labkit.setup_lab
	@touch $(STAMP)
	@echo "Lab environment ready in $(VENV)."

# The test environment: the lab environment plus the test tools and the instructor package.
$(TEST_STAMP): $(STAMP) requirements-test.lock instructor/pyproject.toml
	@echo "Adding the test tools from requirements-test.lock (first time only: about 1-3 minutes) ..."
	$(PY) -m pip install --disable-pip-version-check --progress-bar on -r requirements-test.lock
	$(PY) -m pip install --disable-pip-version-check --quiet --no-deps -e instructor
	@touch $(TEST_STAMP)
	@echo "Test environment ready in $(VENV)."

lab: setup
	$(VENV)/bin/jupyter lab --ip=127.0.0.1 $(ROOT_FLAG) --ServerApp.root_dir="$(CURDIR)" \
		--LabApp.default_url=/lab/tree/notebooks/01_baseline_model.ipynb

test: $(TEST_STAMP)
	$(PY) -m pytest -n $(JOBS) --dist loadfile

notebooks: setup
	$(PY) -m labkit.release sync --execute

check-notebooks: setup
	$(PY) -m labkit.release sync --check

lock:
	$(PYTHON) tools/lock.py $(PYTHON)
	cp requirements.lock binder/requirements.txt

clean:
	rm -rf runs .pytest_cache
