# Two entry points, each doing its own set-up on a fresh machine: `make demo`, `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONHASHSEED ?= 0

.PHONY: demo test bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# set-up once (about 3 GB in .venv; minutes, mostly downloading TensorFlow): pip shows each package
$(STAMP): $(PY) requirements.txt setup.cfg
	@echo "set-up 1/3: upgrading pip in $(VENV)"
	$(PY) -m pip install --quiet --upgrade pip
	@echo "set-up 2/3: installing TensorFlow and the other requirements"
	$(PY) -m pip install --progress-bar on -r requirements.txt
	@echo "set-up 3/3: installing mri_gan itself (editable)"
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m mri_gan demo --out runs/demo

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest -q

bench: $(STAMP)
	@mkdir -p runs
	@table=runs/bench-$$(date -u +%Y%m%dT%H%M%S).json; \
	$(PY) -m benchmarks table --json $$table && $(PY) -m benchmarks results $$table

clean:
	rm -rf runs .pytest_cache
