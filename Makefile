# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# Every pin lives in constraints.txt; torch is installed first so nothing pulls a CUDA build.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test check-export nbtest pytest browser bench docs-check clean

$(STAMP): constraints.txt settings.ini setup.py pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -c constraints.txt torch==2.13.0
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	$(BIN)/python -m pip check
	touch $@

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/libortho demo

test: $(STAMP)
	$(MAKE) check-export
	$(MAKE) nbtest
	$(MAKE) pytest

# nbdev_export must leave the exported package exactly as committed.
check-export: $(STAMP)
	tmp=$$(mktemp -d); cp -r libortho_nb "$$tmp/"; \
	$(BIN)/nbdev_export; \
	if ! diff -r -x __pycache__ "$$tmp/libortho_nb" libortho_nb; then \
	  echo "nbdev_export changed libortho_nb/: export the notebooks and commit notebook and package together" >&2; exit 1; fi; \
	echo "nbdev_export leaves libortho_nb/ unchanged"

# Two notebooks run at once on 2 cores: one torch thread each (2 threads each oversubscribe the cores and run many times slower).
nbtest: $(STAMP)
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/nbdev_test --n_workers 2 --timing

# tests/test_explorers_voila.py drives a real browser: Debian's chromium and chromium-driver, installed here when missing
# (as root, or with sudo). Elsewhere pass the paths: make test CHROMIUM=/usr/bin/google-chrome CHROMEDRIVER=/path/to/chromedriver
CHROMIUM ?= /usr/bin/chromium
CHROMEDRIVER ?= /usr/bin/chromedriver

browser:
	if [ -x "$(CHROMIUM)" ] && [ -x "$(CHROMEDRIVER)" ]; then echo "browser for the Voila test: $(CHROMIUM), $(CHROMEDRIVER)"; \
	else sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); $$sudo apt-get update -q && $$sudo apt-get install -y -q chromium chromium-driver; fi

pytest: $(STAMP) browser
	LIBORTHO_CHROMIUM=$(CHROMIUM) LIBORTHO_CHROMEDRIVER=$(CHROMEDRIVER) $(BIN)/python -m pytest tests -q

bench: $(STAMP)
	$(BIN)/python benchmarks/ortholinear.py

# The documentation site is rendered by Quarto on GitHub; here we check that nbdev can pre-process every notebook.
docs-check: $(STAMP)
	$(BIN)/nbdev_proc_nbs

clean:
	rm -rf $(VENV) _proc _docs build dist *.egg-info
