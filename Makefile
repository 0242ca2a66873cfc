# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
# PyTorch is installed first, from TORCH_SPEC (and TORCH_INDEX, if given), so that the
# package's own `torch>=2.2` is already met. Where the package index serves a CPU-only
# wheel under this version (as here), that is the CPU build; elsewhere a bare version can
# pull a multi-GB CUDA build: ask PyTorch's CPU index for one, e.g.
#   make test TORCH_INDEX="--index-url https://download.pytorch.org/whl/cpu" TORCH_SPEC="torch>=2.2"
# and for a GPU machine, e.g. `make test TORCH_SPEC="torch>=2.2"`.
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
EXTRAS ?= dev,agents,plots,fast,clients,llm
comma := ,
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))

.PHONY: demo test test-slow test-rllib lint bench install clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_INDEX) "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	touch $@

demo: $(STAMP)
	$(PY) -m agents.demo

# The suite runs in TEST_JOBS processes (pytest-xdist), one torch thread each: two processes of two
# threads each on two cores would spin against each other. TEST_JOBS=0 runs it in this process.
TEST_JOBS ?= 2

test: $(STAMP)
	OMP_NUM_THREADS=1 $(PY) -m pytest -q -n $(TEST_JOBS)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# RLlib pins gymnasium 1.2.x, so its tests run in a venv of their own; there the
# whole suite runs too, which checks the core on gymnasium 1.2 (make test: newest 1.x)
# and the vector env's numpy backend alone (no numba there).
RLLIB_VENV ?= .venv-rllib
$(RLLIB_VENV)/.installed: pyproject.toml
	test -x $(RLLIB_VENV)/bin/python || $(PYTHON) -m venv $(RLLIB_VENV)
	$(RLLIB_VENV)/bin/python -m pip install -q --upgrade pip
	$(RLLIB_VENV)/bin/python -m pip install -q $(TORCH_INDEX) "$(TORCH_SPEC)"
	$(RLLIB_VENV)/bin/python -m pip install -q -e ".[agents,rllib]" pytest hypothesis
	touch $@

test-rllib: $(RLLIB_VENV)/.installed
	$(RLLIB_VENV)/bin/python -m pytest -q

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

bench: $(STAMP)
	$(PY) benchmarks/env_speed.py

clean:
	rm -rf $(VENV) $(RLLIB_VENV) build *.egg-info .pytest_cache .hypothesis
