# The two commands of the README: `make dev` (run the lakehouse) and `make test` (pass the tests).
# Both set everything up first (scripts/setup.sh is idempotent and quick when nothing changed).
SHELL := /bin/bash
export DAGSTER_HOME := $(CURDIR)/data/dagster_home
HOST ?= 127.0.0.1
PORT ?= 3000

.PHONY: setup dev test lint lint-only checks generate bench lock clean cluster cluster-stop sql catalog

setup:
	@scripts/setup.sh

# A Spark Connect server (the runs' warm Spark), then dagster dev, under a supervisor: Ctrl-C stops them and every
# process they started within 10 s. LAKEHOUSE_DEV_CONNECT=off: no server, each run starts its own Spark JVM.
dev: setup
	.venv/bin/python -m lakehouse.dev --host $(HOST) --port $(PORT)

# Lint and types first (seconds), then pytest. The check run of lakehouse-checks is a test of it
# (lakehouse_tests/test_tables/test_declared_tables.py), sharing its build with the declared-tables tests.
# Two pytest-xdist workers: a test file runs whole on one worker, and the files sharing a fixture built once for them
# (the suite's Connect server and reference lakehouse, the end-to-end package's make dev) on the same one
# (lakehouse_tests/conftest.py::worker_group). One process leaves a core idle a third of the time (README, Tests).
# PYTEST_WORKERS=0 runs the suite in one process.
# Setup builds the JVM class archive while the lint runs (scripts/build_archive_while.sh), not before it.
PYTEST_WORKERS ?= 2
test:
	@LAKEHOUSE_SETUP_ARCHIVE=later scripts/setup.sh
	@scripts/build_archive_while.sh $(MAKE) --no-print-directory lint-only
	.venv/bin/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# ruff (style, imports, likely bugs) and pyright (types), configured in pyproject.toml; both must be clean.
lint: setup lint-only

lint-only:
	.venv/bin/ruff check .
	.venv/bin/pyright

# A Spark standalone master and one worker on 127.0.0.1 (ports 7077, UI 8080), left running in the background;
# runs use it with LAKEHOUSE_SPARK_MASTER=spark://127.0.0.1:7077. Logs and pids in data/cluster/.
cluster: setup
	.venv/bin/python -m lakehouse.cluster start $(ARGS)

cluster-stop:
	.venv/bin/python -m lakehouse.cluster stop

# A SQL endpoint (Spark Thrift server, jdbc:hive2://127.0.0.1:10000/default) over the tables, registered as layer.table; Ctrl-C stops it.
sql: setup
	.venv/bin/python -m lakehouse.sql $(ARGS)

# The catalog, a static site of every table (columns, partitions, versions, checks, lineage): open data/catalog/index.html.
catalog: setup
	.venv/bin/python -m lakehouse.catalog $(ARGS)

checks: setup
	.venv/bin/lakehouse-checks $(ARGS)

generate: setup
	.venv/bin/lakehouse-generate $(ARGS)

bench: setup
	.venv/bin/python -m benchmarks $(ARGS)

lock:
	.venv/bin/uv pip compile pyproject.toml --extra test --extra bench --python-version 3.11 -o requirements.lock

clean:
	rm -rf data/warehouse data/checkpoints data/dagster_home data/logs
