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

.PHONY: demo test install install-test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv || true

$(VENV)/.installed: $(BIN)/python pyproject.toml
	@if [ -x $(BIN)/uv ]; then \
		$(BIN)/uv pip install -q --python $(BIN)/python $(FIND_LINKS) -e '.[test]'; \
	else \
		$(BIN)/python -m pip install -q --disable-pip-version-check $(FIND_LINKS) -e '.[test]'; \
	fi
	@touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/gankit train --preset quick --out $(DEMO_OUT)

test: $(VENV)/.installed
	$(BIN)/python -m pytest -q tests

clean:
	rm -rf $(VENV) runs .pytest_cache
