# Two commands on a fresh machine: `make demo` and `make test`. Each sets up .venv if missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-all

.PHONY: setup demo lint test test-fast fuzz bench pi-check clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e ".[all]"
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/cropedge demo --out demo_out

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -n 2 --dist loadgroup

test-fast: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup -m "not slow"

# the reader fuzzing of `make test` with fresh examples (HYPOTHESIS_PROFILE=fuzz) and ten times
# its budget per reader (CROPEDGE_FUZZ_EXAMPLES); a failure prints the blob that replays it
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz CROPEDGE_FUZZ_EXAMPLES=$${CROPEDGE_FUZZ_EXAMPLES:-10000} \
		$(BIN)/python -m pytest -n 2 -p no:cacheprovider tests/reliability/test_fuzz_readers.py

# torch only for the benchmark's PyTorch reference (never a cropedge dependency); without it
# that comparison is recorded as skipped
bench: $(STAMP)
	-$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m bench.perf --out bench/perf.json

pi-check: $(STAMP)
	bash scripts/pi_check.sh

clean:
	rm -rf demo_out .pytest_cache build *.egg-info
