# The two commands of the README's quick start: `make demo` and `make test`.
# Both build .venv on first use. uv installs in seconds where pip takes minutes; pip is the
# fallback. torch is pinned in pyproject.toml; where this machine keeps the CPU wheel on disk
# (/opt/wheels) the installer is pointed at it, so no CUDA build is ever pulled.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
WHEELS := $(wildcard /opt/wheels)
FIND_LINKS := $(if $(WHEELS),--find-links $(WHEELS),)
DEMO_OUT ?= runs

# Let Python cache compiled bytecode in .venv: where the environment forbids it, every process
# would recompile the parts of torch it imports (about 10 s each time on 2 cores).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: demo test install install-test browser clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv || true

# --compile-bytecode: uv writes no .pyc files by default (pip does), and where PYTHONDONTWRITEBYTECODE is set
# nothing writes them later, so every Python process compiled torch again: `import torch` took 4.5 s instead of
# 2.3 s here, and the suite (which starts about a hundred processes) took 524 s in pytest, against 358 s with them.
$(VENV)/.installed: $(BIN)/python pyproject.toml
	@if [ -x $(BIN)/uv ]; then \
		$(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python $(FIND_LINKS) -e '.[test]'; \
	else \
		$(BIN)/python -m pip install -q --disable-pip-version-check $(FIND_LINKS) -e '.[test]'; \
	fi
	@touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/gankit train --preset quick --out $(DEMO_OUT)

# What the tests need beyond .venv: Debian's Chromium, in which tests/test_report.py renders the
# run report (gankit report). Installed once with apt-get where /usr/bin/chromium is missing (the
# package lists are refreshed only when a plain install fails, and only that retry shows apt's
# errors); where apt-get is not there or cannot install, one line says so and that test skips
# with its reason. With the lists present the install took about 30 s on 2 cores.
CHROMIUM ?= /usr/bin/chromium

browser:
	@if [ -x $(CHROMIUM) ]; then :; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
		echo "make: no apt-get on this machine: $(CHROMIUM) not installed, the browser test will skip"; \
	else \
		SUDO=; [ "$$(id -u)" = 0 ] || SUDO="sudo -n"; \
		echo "make: installing chromium with apt-get (for the browser test)"; \
		export DEBIAN_FRONTEND=noninteractive; \
		$$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 \
		|| { $$SUDO apt-get update -qq >/dev/null \
		     && $$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null; } \
		|| echo "make: apt-get could not install chromium: the browser test will skip"; \
	fi

install-test: $(VENV)/.installed browser

# The suite: ruff first (seconds; line length 120, rules E, F, W, see pyproject.toml), then the tests
# with the docstring examples of the public API run as doctests (STYLE.md habit 12).
test: install-test
	$(BIN)/ruff check -q src tests benchmarks
	$(BIN)/python -m pytest -q --doctest-modules src/gankit tests

clean:
	rm -rf $(VENV) runs .pytest_cache
