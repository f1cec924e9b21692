# Every target that needs the environment depends on .venv/.installed, so any target
# works as the first command on a fresh machine.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= configs/default.yaml
SMALL ?= configs/small.yaml
DATA ?= data/synth
export PIP_DISABLE_PIP_VERSION_CHECK=1
export NUMBA_CACHE_DIR ?= $(CURDIR)/data/cache/numba

.PHONY: setup demo train backtest compare app test bench gpu-check lint clean

setup: $(VENV)/.installed

# re-running is a no-op unless pyproject.toml changed
$(VENV)/.installed: pyproject.toml
	@command -v $(PY) >/dev/null 2>&1 || { echo "error: $(PY) not found (Python 3.11 is required)"; exit 2; }
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# the CPU build of torch first, so the package's torch range installs nothing more
	$(BIN)/pip install -q "torch==2.13.0"
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

$(DATA)/panel.parquet: | setup
	$(BIN)/stockformer data synth --stocks 300 --days 1500 --seed 0 --out $(DATA)

demo: setup
	$(BIN)/stockformer demo --config $(SMALL)

train: setup $(DATA)/panel.parquet
	$(BIN)/stockformer train --config $(CONFIG) --data $(DATA)

backtest: setup
	$(BIN)/stockformer backtest --run latest

# every baseline and the shuffled-label control, small model settings, on a 120-stock x 1,000-day
# synthetic market (the demo's 60 x 700 leaves ~85 test days of 60 stocks: too noisy to rank models)
COMPARE_MARKET := --set data.path=data/synth_compare --set data.synth.stocks=120 --set data.synth.days=1000
compare: setup
	$(BIN)/stockformer compare --config $(SMALL) $(COMPARE_MARKET)

app: setup
	$(BIN)/streamlit run app.py --server.address 127.0.0.1

lint: setup
	$(BIN)/ruff check stockformer tests benchmarks app.py

test: setup lint
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python -m benchmarks.run_all

# the CUDA tests (skipped without a GPU) and the paper-size GPU benchmark (one line and exit 2
# without CUDA); the figures go to docs/BENCHMARKS.md, section GPU
gpu-check: setup
	$(BIN)/python -m pytest -q -m cuda tests/test_cuda.py
	$(BIN)/python -m benchmarks.bench_gpu

clean:
	rm -rf $(VENV) data/cache
