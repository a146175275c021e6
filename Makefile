# Two commands for a fresh machine with only Python >= 3.10:
#   make demo   - the stepper on its built-in offline lesson (installs first, then compiles
#                 the tutorials' kernels once with a progress bar: numbanet warmup)
#   make test   - ruff, the whole test suite (installing chromium for the browser test when
#                 missing), then the CUDA kernels under numba's simulator
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-cpu test-cuda lint bench clean browser

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("numbanet needs Python >= 3.10") if sys.version_info < (3, 10) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,dist]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/numbanet warmup
	$(BIN)/numbanet step

lint: $(STAMP)
	$(BIN)/python -m ruff check .

# The browser test (tests/test_replay_browser.py) drives headless Chromium: install
# Debian's package when it is missing and we may (root, apt-get present). Without it the
# test skips and says why.
browser:
	@if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing chromium for the browser test (apt-get)"; \
		(apt-get install -y -q chromium >/dev/null 2>&1 || \
		 (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1)) \
		|| echo "could not install chromium: the browser test will be skipped"; \
	else echo "no chromium and no root apt-get: the browser test will be skipped"; fi

test-cpu: $(STAMP) browser
	$(BIN)/python -m pytest -q -m "not cuda"

# The simulator must be switched on before numba is imported: its own pytest process.
test-cuda: $(STAMP)
	NUMBA_ENABLE_CUDASIM=1 $(BIN)/python -m pytest -q -m cuda

test: lint test-cpu test-cuda

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
	find . -name __pycache__ -prune -exec rm -rf {} +
