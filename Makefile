# cryo_disent developer commands. `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
PIP_FLAGS ?= -q
export PYTHONHASHSEED := 0
export MPLBACKEND := Agg
export HF_HUB_OFFLINE := 1

.PHONY: install test check-sync nbtest pytest demo export clean-nbs

$(BIN)/.installed: setup.py settings.ini constraints.txt
	python3 -m venv $(VENV)
	$(BIN)/pip install $(PIP_FLAGS) -c constraints.txt "torch==2.13.0"
	$(BIN)/pip install $(PIP_FLAGS) -c constraints.txt -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

install: $(BIN)/.installed

## Fail if the notebooks and the exported package are out of sync (nbdev-export / nbdev-clean would change files).
check-sync: install
	@before=$$(find nbs cryo_disent tutorials -type f -not -path '*/__pycache__/*' | sort | xargs md5sum); \
	$(BIN)/nbdev-export && $(BIN)/nbdev-clean && $(BIN)/nbdev-clean --fname tutorials; \
	after=$$(find nbs cryo_disent tutorials -type f -not -path '*/__pycache__/*' | sort | xargs md5sum); \
	if [ "$$before" != "$$after" ]; then \
	  echo "ERROR: nbdev-export/nbdev-clean changed files; run them and commit:"; \
	  diff <(echo "$$before") <(echo "$$after"); exit 1; fi; \
	echo "notebooks and cryo_disent/ are in sync"

nbtest: install
	$(BIN)/nbdev-test --n-workers 2

pytest: install
	$(BIN)/pytest -q -n 2 tests/

test: check-sync nbtest pytest

export: install
	$(BIN)/nbdev-export && $(BIN)/nbdev-clean && $(BIN)/nbdev-clean --fname tutorials

demo: install
	$(BIN)/cryo-disent demo --out runs/demo
