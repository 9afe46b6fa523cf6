#!/usr/bin/env bash
# Install Sluice with its test tools into .venv, make sure PostgreSQL, Redis and
# MariaDB are up, then lint, check the import layers and run the whole test suite.
cd "$(dirname "$0")/.."
. scripts/env.sh
. scripts/services.sh
ensure_venv "[test]"
if [ -z "${SLUICE_TEST_PG:-}" ]; then ensure_postgres; fi
if [ -z "${SLUICE_TEST_REDIS:-}" ]; then ensure_redis; fi
if [ -z "${SLUICE_TEST_MYSQL:-}" ]; then ensure_mariadb; fi
# The status page's browser test drives Debian's chromium (Playwright downloads no browser).
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "sluice: installing chromium for the status page's browser test" >&2
  { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null 2>&1 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1; }; } ||
    echo "sluice: chromium could not be installed: the browser test skips (fails on CI)" >&2
fi
# promtool checks the alert rules and the dashboard's queries: unpacked from Debian's
# prometheus package into .venv, not installed (no service starts).
PROMTOOL_DIR=.venv/promtool
if ! command -v promtool >/dev/null 2>&1 && [ ! -x "$PROMTOOL_DIR/usr/bin/promtool" ] &&
  command -v apt-get >/dev/null 2>&1; then
  mkdir -p "$PROMTOOL_DIR"
  ( cd "$PROMTOOL_DIR" && apt-get download -qq prometheus >/dev/null 2>&1 &&
    dpkg -x prometheus_*.deb . && rm -f prometheus_*.deb ) ||
    echo "sluice: promtool unavailable: the rules are still parsed and checked by the tests" >&2
fi
if [ -x "$PROMTOOL_DIR/usr/bin/promtool" ]; then export PROMTOOL="$PWD/$PROMTOOL_DIR/usr/bin/promtool"; fi
# On CI (root, a throwaway machine's services): the README's Install and Upgrade
# sections, run as written in a private mount namespace (scripts/check-install.sh).
if [ "${CI:-}" = true ] && [ "$(id -u)" = 0 ] && command -v unshare >/dev/null 2>&1; then
  if ! bash scripts/check-install.sh > .venv/check-install.log 2>&1; then
    tail -40 .venv/check-install.log
    echo "sluice: the README's install or upgrade steps failed (.venv/check-install.log)" >&2
    exit 1
  fi
  tail -1 .venv/check-install.log
fi
.venv/bin/ruff check .
.venv/bin/lint-imports
# Types: strict for conf and policy, checked bodies elsewhere ([tool.mypy]); cached in .mypy_cache.
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
