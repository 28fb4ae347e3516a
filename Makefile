# The two commands a newcomer runs: `make demo` and `make test`. Both build .venv on first use.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The API governance linters (Spectral, Redocly) the spec tests run over the generated documents.
LINT_SPECS := tools/lint-specs/node_modules/.installed

.PHONY: demo test lint typecheck bench soak clean lint-specs-tools

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=25.1"
	$(BIN)/python -m pip install --quiet -e ".[all]" --group dev
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/interlink demo

$(LINT_SPECS): tools/lint-specs/package.json tools/lint-specs/package-lock.json
	npm ci --prefix tools/lint-specs --no-audit --no-fund --loglevel=error
	touch $(LINT_SPECS)

lint-specs-tools: $(LINT_SPECS)

test: $(STAMP) $(LINT_SPECS)
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest -q -m "not slow" -n 2 --dist loadfile --durations=15

# The long runs (10,000-event fault runs, broker restarts, three consumer processes, a million-row file):
# every guarantee they prove is also CI's, which runs `make test soak`.
soak: $(STAMP)
	$(BIN)/pytest -q -m slow --durations=25

lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/e2e.py

clean:
	rm -rf $(VENV) .interlink .pytest_cache .mypy_cache
