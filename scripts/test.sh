#!/usr/bin/env bash
# Install Sluice with its test tools into .venv, make sure PostgreSQL and Redis
# are up, then lint, check the import layers and run the whole test suite.
cd "$(dirname "$0")/.."
. scripts/env.sh
. scripts/services.sh
ensure_venv "[test]"
if [ -z "${SLUICE_TEST_PG:-}" ]; then ensure_postgres; fi
if [ -z "${SLUICE_TEST_REDIS:-}" ]; then ensure_redis; fi
.venv/bin/ruff check .
.venv/bin/lint-imports
exec .venv/bin/python -m pytest "$@"
