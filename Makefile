# cryo_disent developer commands. `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
PIP_FLAGS ?= -q
export PYTHONHASHSEED := 0
export MPLBACKEND := Agg
export HF_HUB_OFFLINE := 1

.PHONY: install test test-fast check-sync lint nbtest pytest demo export clean-nbs bench docs

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

## No library line over 120 characters (ruff; the limit is in pyproject.toml), nbdev's own __all__ line aside.
lint: install
	$(BIN)/python tools/lint.py

nbtest: install
	$(BIN)/nbdev-test --n-workers 2

pytest: install
	$(BIN)/pytest -q -n 2 tests/

test: check-sync lint nbtest pytest

## The fast tier (about 2 minutes on 2 cores): unit tests and the model conformance suite, without the tests marked
## `slow` (multi-process, tutorials, browser/JupyterLab, fault injection, CLI end-to-end runs, longer training).
## One BLAS/OpenMP thread per xdist worker: two workers fill two cores (a thread per core in each worker oversubscribes them).
test-fast: install
	OMP_NUM_THREADS=1 $(BIN)/pytest -q -n 2 -m "not slow" tests/

export: install
	$(BIN)/nbdev-export && $(BIN)/nbdev-clean && $(BIN)/nbdev-clean --fname tutorials

demo: install
	$(BIN)/cryo-disent demo --out runs/demo

## Executed copies of the tutorials: each runs with its defaults (papermill, kernel python3, cwd here) into runs/docs/,
## then is rendered to docs/<name>.html with its plotly figures working offline (docs/plotly.min.js). Each tutorial
## takes minutes on 2 quiet CPU cores, all of them well under an hour; one: `$(BIN)/python tutorials/make_docs.py --only 01_quickstart`.
docs: install
	$(BIN)/python tutorials/make_docs.py

## The CPU benchmark suite, at the commands of benchmarks/README.md; each script's output goes to $(BENCH_OUT)/.
## Not in it: the structure generalisation benchmark (hours on 2 cores:
##   python benchmarks/bench_generalisation.py run && python benchmarks/bench_generalisation.py report),
## benchmarks/bench_harmony_ref.py (needs an aitom checkout and kornia) and benchmarks/bench_gpu.sh (a GPU machine).
BENCH_OUT ?= runs/bench
bench: install
	mkdir -p $(BENCH_OUT)
	set -o pipefail; $(BIN)/python benchmarks/bench_simulate.py --write | tee $(BENCH_OUT)/simulate.jsonl
	set -o pipefail; $(BIN)/python benchmarks/bench_train.py --box 32 --batch-size 32 --threads 2 --steps 3 --warmup 1 | tee $(BENCH_OUT)/train.txt
	set -o pipefail; for lp in 0.1259 0.25; do $(BIN)/python benchmarks/bench_harmony.py --steps 7 --lowpass $$lp || exit 1; done | tee $(BENCH_OUT)/harmony.jsonl
	set -o pipefail; for v in "" --no-recompute; do $(BIN)/python benchmarks/bench_gmd.py --steps 3 $$v || exit 1; done | tee $(BENCH_OUT)/gmd.jsonl
	set -o pipefail; $(BIN)/python benchmarks/bench_spatial.py --batch-size 4 --steps 1 | tee $(BENCH_OUT)/spatial.txt
	set -o pipefail; $(BIN)/python benchmarks/bench_outofcore.py --root $(BENCH_OUT)/ooc --gb 3 --train-particles 7200 --batch 64 \
	  --cases stream,ram,stream,ram,stream,ram | tee $(BENCH_OUT)/outofcore.txt
