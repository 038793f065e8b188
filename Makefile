# The two reader commands are `make book` and `make test` (see README.md).
# Both create or reuse .venv from requirements.txt (exact pins) and install
# mtlbook in editable mode; nothing else has to be installed by hand.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.mtlbook-installed
MATHJAX := book/_static/mathjax
NOTEBOOKS := $(wildcard chapters/*.ipynb) $(wildcard book/*.ipynb)

# Stored outputs must not depend on which x86-64 CPU runs the notebooks. Torch
# (ATen, MKL, oneDNN), numpy and OpenBLAS each pick kernels by the CPU's vector
# instructions (AVX2, AVX-512), and different kernels add in different orders,
# so a trained network's fourth decimal moved between machines. These settings
# pin every one of them to code paths that run the same on any x86-64 CPU made
# in the last decade (MKL's STRICT: the same bits whatever the alignment of the
# operands); `make execute`, `make test` and `make lab` all use them.
PINNED_NUMERICS := ATEN_CPU_CAPABILITY=default MKL_CBWR=COMPATIBLE,STRICT \
	ONEDNN_MAX_CPU_ISA=SSE41 OPENBLAS_CORETYPE=Haswell \
	NPY_DISABLE_CPU_FEATURES="X86_V3 X86_V4 AVX512_ICL AVX512_SPR"

.PHONY: fingerprint book test lint unit nbval build-book lab execute benchmarks clean browser dist

book: build-book
	@echo ""
	@echo "The book is built. Open it in a browser:"
	@echo "    $(CURDIR)/_build/html/index.html"

test: lint unit nbval build-book browser
	@echo "All checks passed: ruff, unit tests, nbval (strict), book build (-W -n), browser."

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy mtlbook

unit: $(STAMP)
	$(BIN)/pytest -q tests

# Strict nbval: every stored text output must be reproduced exactly.
nbval: $(STAMP)
	$(PINNED_NUMERICS) $(BIN)/pytest -q --nbval --nbval-current-env $(NOTEBOOKS)

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
	$(PINNED_NUMERICS) $(BIN)/jupyter lab chapters

# Maintainers: re-execute every notebook in place (after a version bump),
# then review the diff of the outputs before committing.
execute: $(STAMP)
	$(PINNED_NUMERICS) $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
		--ExecutePreprocessor.timeout=600 $(NOTEBOOKS)

# Maintainers: re-run the slow reproductions; they rewrite benchmarks/results/*.json.
# make benchmarks ONLY=maml_sinusoid runs one; RESUME=1 continues after a kill.
benchmarks: $(STAMP)
	$(BIN)/python scripts/run_benchmarks.py $(if $(ONLY),--only $(ONLY)) \
		$(if $(RESUME),--resume)

clean:
	rm -rf _build $(MATHJAX)

# Every page of the built site in a real browser (the system Chromium, driven
# by Playwright from requirements.txt; Debian: apt-get install -y chromium),
# over http and file://: no console error, failed or remote request, broken
# image, untypeset math or clipped box. Screenshots: _build/screenshots/.
browser: build-book
	$(BIN)/pytest -q -rs tests/test_browser.py

# One archive to hand on: the HTML site, the notebooks and the README.
DIST := _build/mtlbook-book.tar.gz
dist: build-book
	tar -czf $(DIST) --transform 's,^_build/html,html,;s,^,mtlbook-book/,' \
		README.md $(NOTEBOOKS) _build/html
	@echo "Archive: $(DIST) ($$(du -h $(DIST) | cut -f1))"

# Hash the kernels the chapters use under the pinned settings; with
# COMPARE=scripts/numerics_fingerprint.json, list those whose bits differ from
# the machine that last executed the chapters.
fingerprint: $(STAMP)
	$(PINNED_NUMERICS) $(BIN)/python scripts/numerics_fingerprint.py $(if $(COMPARE),--compare $(COMPARE))
