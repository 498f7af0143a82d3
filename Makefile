# Two commands on a fresh machine with only Python: `make demo` and `make test`.
# `make bench` runs every benchmark (BENCH_ARGS=--quick for a short run).
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench serve orchestrate sync uv clean

uv:
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv \
		|| $(PYTHON) -m pip install --quiet --user --break-system-packages uv

# Bytecode is compiled once at install (the environment may set PYTHONDONTWRITEBYTECODE=1,
# and then every command would compile every import from source: ~3 s per command).
$(BIN)/wattlake: pyproject.toml uv.lock | uv
	$(UV) sync --all-extras --frozen --compile-bytecode
	$(BIN)/python -m compileall -q src
	@touch $@

sync: $(BIN)/wattlake

demo: sync
	$(BIN)/wattlake demo

test: sync
	$(BIN)/pytest

lint: sync
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

# Each benchmark adds its headline rows (benchmarks/_common.py emit) to one file; the table of
# all of them is printed at the end.
bench: sync
	@results=$$(mktemp); trap 'rm -f $$results' EXIT; \
	for b in benchmarks/[!_]*.py; do echo "== $$b"; \
		WATTLAKE_BENCH_RESULTS=$$results $(BIN)/python $$b $(BENCH_ARGS) || exit 1; done; \
	$(BIN)/python benchmarks/_common.py $$results

serve: sync
	$(BIN)/wattlake serve

orchestrate: sync
	$(BIN)/wattlake orchestrate

clean:
	rm -rf $(VENV) .wattlake .pytest_cache .mypy_cache .ruff_cache
