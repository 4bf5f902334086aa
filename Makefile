# CommST: `make demo` runs the workflow on the bundled demo, `make test` runs the tests.
# Both create the virtual environment .venv first if it is missing or out of date.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast report lint format clean-results

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first, exactly this spec: it takes the local CPU build instead of a multi-GB CUDA one
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --workflow-profile profiles/local
	$(BIN)/snakemake --cores $(CORES) --workflow-profile profiles/local --report results/report.html
	@echo "Report: results/report.html"

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not slurm" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/snakefmt Snakefile workflow/rules
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean-results:
	rm -rf results logs benchmarks .snakemake
