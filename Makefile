# Two commands on a fresh machine: `make run` and `make test`. Everything they need is installed here.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run check test soak lint format bench bench-quick clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/orion-events serve --host 127.0.0.1 --port 9000 --data-dir var

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# tests/pg starts a throwaway PostgreSQL server from Debian's binaries.
PG_INSTALL = ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	$$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql; }

# tests/powercut mounts a FUSE file system, which needs fusermount3 and libfuse3 (Debian's fuse3).
FUSE_INSTALL = command -v fusermount3 >/dev/null || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	$$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y fuse3; }

# tests/e2e/test_kernel_faults.py fails fsync and write in the real process with libfiu.
FIU_INSTALL = command -v fiu-run >/dev/null || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	$$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y fiu-utils; }

# tests/browser drives Debian's Chromium through Playwright (executable_path); Playwright's own
# browser download is never used.
CHROMIUM_INSTALL = command -v chromium >/dev/null || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	$$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }

# Lint, types and every test: what must be green before each commit.
check: lint
	@$(PG_INSTALL)
	@$(FUSE_INSTALL)
	@$(FIU_INSTALL)
	@$(CHROMIUM_INSTALL)
	$(BIN)/pytest

# The README's test command, as CI runs it.
test: check

# The power-cut loop, long: SOAK_CYCLES cycles of kill -9 and a cut of everything not synced.
SOAK_CYCLES ?= 300
soak: $(STAMP)
	@$(FUSE_INSTALL)
	ORION_POWERCUT_CYCLES=$(SOAK_CYCLES) $(BIN)/pytest tests/powercut/test_power_cut_loop.py -s -q \
		-o addopts="" --timeout 0

# Benchmarks (never part of `make test`): HTTP under wrk, durable appends, peers, start-up.
BENCH_STAMP := $(VENV)/.bench-installed
WRK_INSTALL = command -v wrk >/dev/null || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	$$SUDO apt-get update && $$SUDO apt-get install -y wrk; }

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	@touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	@$(WRK_INSTALL)
	$(BIN)/python -m bench.run

bench-quick: $(BENCH_STAMP)
	@$(WRK_INSTALL)
	$(BIN)/python -m bench.run --quick

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
