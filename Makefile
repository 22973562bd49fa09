# The two commands a user needs (README):  `make lab`  and  `make test`.
# `make lab` installs the lab environment (requirements.lock); `make test` adds the test tools (requirements-test.lock).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-lab
TEST_STAMP := $(VENV)/.installed-test
# The instructor package (instructor/, never in a student zip) comes with `make test` and the
# maintainers' targets only; `make lab` never installs it.
INSTRUCTOR := $(wildcard instructor/pyproject.toml)
INSTRUCTOR_STAMP := $(VENV)/.installed-instructor
# Offline and quiet, unless the user chose otherwise (labkit sets the same defaults at import).
export DO_NOT_TRACK ?= 1
export MLFLOW_DISABLE_TELEMETRY ?= true
export TRANSFORMERS_VERBOSITY ?= error
export HF_HUB_OFFLINE ?= 1
export PYDEVD_DISABLE_FILE_VALIDATION ?= 1
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
JOBS ?= 2

.PHONY: help setup lab test test-fast notebooks check-notebooks release lock clean

help:
	@echo "make lab    - set up (first time only) and open JupyterLab on the lab"
	@echo "make test   - set up (first time only) and run the whole test suite"
	@echo "make notebooks - re-execute solutions/, regenerate notebooks/ and the recorded banks (maintainers)"
	@echo "make release - build the graded student zip into dist/ (maintainers)"
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

# The test environment: the lab environment plus the test tools and (where it exists) the instructor package.
$(TEST_STAMP): $(STAMP) requirements-test.lock $(INSTRUCTOR)
	@echo "Adding the test tools from requirements-test.lock (first time only: about 1-3 minutes) ..."
	$(PY) -m pip install --disable-pip-version-check --progress-bar on -r requirements-test.lock
	$(if $(INSTRUCTOR),$(PY) -m pip install --disable-pip-version-check --quiet --no-deps -e instructor)
	@touch $(TEST_STAMP)
	@echo "Test environment ready in $(VENV)."

lab: setup
	$(VENV)/bin/jupyter lab --ip=127.0.0.1 $(ROOT_FLAG) --ServerApp.root_dir="$(CURDIR)" \
		--LabApp.default_url=/lab/tree/notebooks/01_baseline_model.ipynb

test: $(TEST_STAMP)
	$(PY) -m pytest -n $(JOBS) --dist loadfile

# The maintainers' targets: the instructor package on top of the lab environment.
$(INSTRUCTOR_STAMP): $(STAMP) $(INSTRUCTOR)
	$(PY) -m pip install --disable-pip-version-check --quiet --no-deps -e instructor
	@touch $(INSTRUCTOR_STAMP)

notebooks: $(INSTRUCTOR_STAMP)
	$(VENV)/bin/labkit-instructor sync --execute

check-notebooks: $(INSTRUCTOR_STAMP)
	$(VENV)/bin/labkit-instructor sync --check

release: $(INSTRUCTOR_STAMP)
	$(VENV)/bin/labkit-instructor release

lock:
	$(PYTHON) tools/lock.py $(PYTHON)
	cp requirements.lock binder/requirements.txt

clean:
	rm -rf runs .pytest_cache
