# IMDB Sentiment Studio. `make app` and `make test` do all the set-up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
# torch==2.13.0 is the CUDA build on PyPI for Linux and the CPU build on this project's machines;
# override for another build, e.g. `make app TORCH="torch --index-url https://download.pytorch.org/whl/cpu"`.
TORCH ?= torch==2.13.0
HOST ?= 127.0.0.1
PORT ?= 8501
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# pytest-xdist processes for `make test`: one per core; 0 runs the tests in one process
TEST_WORKERS ?= auto

.PHONY: install app test lint bench container-check screenshots docs clean

$(STAMP): pyproject.toml requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q $(TORCH)
	# uv installs the rest in seconds where pip takes most of a minute; pip does it where uv cannot (a proxy, a mirror).
	# Compiled up front, as pip does: otherwise every process of a parallel test run compiles the same modules.
	$(BIN)/python -m pip install -q uv && $(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python \
		-r requirements.txt \
		|| $(BIN)/python -m pip install -q -r requirements.txt
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install the package with its requirements

app: install  ## start the app on http://127.0.0.1:8501
	$(BIN)/streamlit run app.py --server.address $(HOST) --server.port $(PORT) --server.headless true

test: install  ## run the test suite (slow benchmarks excluded) on every core; pytest's "no tests" (5) counts as success
	$(BIN)/python -m pytest -m "not slow" -n $(TEST_WORKERS) $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$rc

lint: install  ## ruff, and the layer contracts of import-linter (pyproject.toml)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

bench: install  ## slow tests and benchmarks on the full dataset (set IMDB_DATA)
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS); rc=$$?; [ $$rc -eq 0 ] || [ $$rc -eq 5 ] || exit $$rc
	$(BIN)/python bench/train_bench.py $(BENCH_ARGS)

container-check: install  ## build the image (Docker, or buildah) and check the API and the app running inside it
	bash bench/container_check.sh

screenshots: install  ## docs/images/predict.png and train.png from the real app in headless Chromium (IMDB_DATA, default ../shared/data/imdb)
	$(BIN)/python bench/screenshots.py

docs: install  ## build the documentation site into site/ (mkdocs, strict: a broken link or anchor fails)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

clean:
	rm -rf $(VENV) .pytest_cache
