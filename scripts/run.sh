#!/usr/bin/env bash
# Install Sluice into .venv and run the gateway (embedded default unless -c FILE or $SLUICE_CONFIG).
cd "$(dirname "$0")/.."
. scripts/env.sh
ensure_venv ""
exec .venv/bin/sluice run "$@"
