# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
# The CPU build of PyTorch; a bare `torch` would pull a multi-GB CUDA build.
# Override for a GPU machine, e.g. `make test TORCH_SPEC="torch>=2.2"`.
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= dev,agents,plots,fast
comma := ,
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))

.PHONY: demo test test-slow test-rllib bench install clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	touch $@

demo: $(STAMP)
	$(PY) -m agents.demo

test: $(STAMP)
	$(PY) -m pytest -q

# RLlib pins gymnasium 1.2.x, so its tests run in a venv of their own; there the
# whole suite runs too, which checks the core on gymnasium 1.2 (make test: newest 1.x)
# and the vector env's numpy backend alone (no numba there).
RLLIB_VENV ?= .venv-rllib
$(RLLIB_VENV)/.installed: pyproject.toml
	test -x $(RLLIB_VENV)/bin/python || $(PYTHON) -m venv $(RLLIB_VENV)
	$(RLLIB_VENV)/bin/python -m pip install -q --upgrade pip
	$(RLLIB_VENV)/bin/python -m pip install -q "$(TORCH_SPEC)"
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
