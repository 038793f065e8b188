# The two reader commands are `make book` and `make test` (see README.md).
# Both create or reuse .venv from requirements.txt (exact pins) and install
# mtlbook in editable mode; nothing else has to be installed by hand.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.mtlbook-installed
MATHJAX := book/_static/mathjax
NOTEBOOKS := $(wildcard chapters/*.ipynb) $(wildcard book/*.ipynb)

.PHONY: book test lint unit nbval build-book lab execute benchmarks clean

book: build-book
	@echo ""
	@echo "The book is built. Open it in a browser:"
	@echo "    $(CURDIR)/_build/html/index.html"

test: lint unit nbval build-book
	@echo "All checks passed: ruff, unit tests, nbval (strict), book build (-W -n)."

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

unit: $(STAMP)
	$(BIN)/pytest -q tests

# Strict nbval: every stored text output must be reproduced exactly.
nbval: $(STAMP)
	$(BIN)/pytest -q --nbval --nbval-current-env $(NOTEBOOKS)

# MathJax ships inside a Python package (jupyter-server-mathjax), so math
# renders with no CDN; it is copied into the site's static files.
$(MATHJAX): $(STAMP)
	@rm -rf $(MATHJAX)
	$(BIN)/python -c "import jupyter_server_mathjax, pathlib, shutil; \
	shutil.copytree(pathlib.Path(jupyter_server_mathjax.__file__).parent / 'static', '$(MATHJAX)')"

build-book: $(STAMP) $(MATHJAX)
	$(BIN)/jupyter-book build . -W -n --keep-going
	$(BIN)/python scripts/check_offline_html.py _build/html

# Convenience for readers: run the chapters yourself.
lab: $(STAMP)
	$(BIN)/jupyter lab chapters

# Maintainers: re-execute every notebook in place (after a version bump),
# then review the diff of the outputs before committing.
execute: $(STAMP)
	$(BIN)/jupyter nbconvert --to notebook --execute --inplace \
		--ExecutePreprocessor.timeout=600 $(NOTEBOOKS)

# Maintainers: re-run the slow reproductions; they rewrite benchmarks/results/*.json.
benchmarks: $(STAMP)
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf _build $(MATHJAX)
