# Kuajing: `make run` runs the whole pipeline, `make test` runs every test.
# Only Python 3.11 and the package registries are needed: uv is installed into .tools/,
# the locked dependencies into .venv/.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
UV_VERSION := 0.13.9
UV := .tools/bin/uv
VENV := .venv
BIN := $(VENV)/bin

export UV_PYTHON_DOWNLOADS := never
export KUAJING_DATA_DIR ?= $(CURDIR)/data
export DAGSTER_HOME ?= $(KUAJING_DATA_DIR)/dagster
# Ports of the UIs: `make ui PORT=3001`, `make mlflow-ui MLFLOW_PORT=5002`.
PORT ?= 3000
MLFLOW_PORT ?= 5000
MODEL_PORT ?= 5001

.PHONY: run test test-fast ui mlflow-ui serve-model manifest install browser lint docs help

help:
	@echo "make run     create the environment, demo data if none, and run the whole pipeline"
	@echo "make test    make lint, then every test (installs Debian's chromium for the UI test if missing)"
	@echo "make test-fast      unit tests only: no browser, no end-to-end run, no server"
	@echo "make ui      open the Dagster UI on http://127.0.0.1:$(PORT) (PORT=...)"
	@echo "make mlflow-ui      open the MLflow UI (runs, registry) on http://127.0.0.1:$(MLFLOW_PORT)"
	@echo "make serve-model    serve models:/demand_forecast@champion as REST on 127.0.0.1:$(MODEL_PORT)"
	@echo "make lint    ruff check + format, mypy, sqlfluff"
	@echo "make docs    regenerate the README's contract section and dbt's sources file"

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python "$(PYTHON)"
	@touch $@

install: $(VENV)/.synced

# dagster-dbt needs dbt's manifest before the definitions load.
manifest: install
	cd dbt_project && KUAJING_WAREHOUSE_PATH="$(KUAJING_DATA_DIR)/warehouse.duckdb" \
		../$(BIN)/dbt parse --quiet --profiles-dir .

run: manifest
	$(BIN)/python -m orchestration.run

browser:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "Installing Debian's chromium for the UI smoke test"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

# CI calls `make test`: a lint, format or type error fails it like a failing test.
test: lint manifest browser
	$(BIN)/pytest

# The edit-test loop: tests not marked slow (no dbt build, browser, pipeline run or server).
test-fast: manifest
	$(BIN)/pytest -m "not slow"

ui: manifest
	$(BIN)/python -c "from ml.settings import DataPaths; from orchestration.run import prepare_instance; prepare_instance(DataPaths.from_env().ensure())"
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p $(PORT)

# The data folder's MLflow store (KUAJING_MLFLOW_TRACKING_URI, else its SQLite file), opened
# first: opening a local store re-bases its artifact paths if the data folder was copied or
# moved. Prints the tracking URI.
OPEN_MLFLOW_STORE := $(BIN)/python -c "from ml.settings import DataPaths; \
	from ml.registry import TrackingStore; from ml.forecast.registry import open_store; \
	print(open_store(TrackingStore.from_paths(DataPaths.from_env())).tracking_uri)"

# A tracking server serves its own UI: only a local store's is started here.
mlflow-ui: install
	MLFLOW_DB="$$($(OPEN_MLFLOW_STORE))" && case "$$MLFLOW_DB" in \
		http://*|https://*) echo "The runs and the registry are on the tracking server: $$MLFLOW_DB";; \
		*) $(BIN)/mlflow ui --backend-store-uri "$$MLFLOW_DB" \
			--host 127.0.0.1 --port $(MLFLOW_PORT);; \
	esac

# `mlflow models serve` starts uvicorn from PATH: the venv's bin must come first.
serve-model: install
	MLFLOW_DB="$$($(OPEN_MLFLOW_STORE))" && \
		PATH="$(CURDIR)/$(BIN):$$PATH" MLFLOW_TRACKING_URI="$$MLFLOW_DB" \
		$(BIN)/mlflow models serve -m "models:/demand_forecast@champion" \
		--env-manager local -h 127.0.0.1 -p $(MODEL_PORT)

lint: install
	$(BIN)/ruff check ml orchestration tests
	$(BIN)/ruff format --check ml orchestration tests
	$(BIN)/mypy
	$(BIN)/sqlfluff lint dbt_project/models

# The README's contract section and dbt's sources file, generated from ml/contract.py.
docs: install
	$(BIN)/python -m ml.docs
