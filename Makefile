# The two commands a user needs (README):  `make lab`  and  `make test`.
# Both create the virtual environment .venv from requirements.lock on first use.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The instructor package (instructor/, never in a student zip) is installed for `make test` and the
# maintainers' targets only; `make lab` never installs it.
INSTRUCTOR := $(wildcard instructor/pyproject.toml)
INSTRUCTOR_STAMP := $(VENV)/.instructor-installed
# Offline and quiet, unless the user chose otherwise (labkit sets the same defaults at import).
export DO_NOT_TRACK ?= 1
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
	@echo "make lock   - re-resolve requirements.in into requirements.lock (maintainers)"

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if (3, 10) <= v <= (3, 12) else "The lab needs Python 3.10-3.12 (3.11 recommended); found %d.%d at $(PYTHON). Install python3.11 or run: make PYTHON=/path/to/python3.11 ..." % v)'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check --quiet -r requirements.lock
	$(PY) -m pip install --disable-pip-version-check --quiet --no-deps -e .
	$(PY) -m labkit.setup_lab
	@touch $(STAMP)
	@echo "Environment ready in $(VENV)."

lab: setup
	$(VENV)/bin/jupyter lab --ip=127.0.0.1 $(ROOT_FLAG) --ServerApp.root_dir="$(CURDIR)" \
		--LabApp.default_url=/lab/tree/notebooks/01_baseline_model.ipynb

$(INSTRUCTOR_STAMP): $(STAMP) $(INSTRUCTOR)
	$(PY) -m pip install --disable-pip-version-check --quiet --no-deps -e instructor
	@touch $(INSTRUCTOR_STAMP)

test: setup $(if $(INSTRUCTOR),$(INSTRUCTOR_STAMP))
	$(PY) -m pytest -n $(JOBS) --dist loadfile

notebooks: $(INSTRUCTOR_STAMP)
	$(VENV)/bin/labkit-instructor sync --execute

check-notebooks: $(INSTRUCTOR_STAMP)
	$(VENV)/bin/labkit-instructor sync --check

release: $(INSTRUCTOR_STAMP)
	$(VENV)/bin/labkit-instructor release

lock:
	tools/lock.sh $(PYTHON)

clean:
	rm -rf runs .pytest_cache
