#!/usr/bin/env bash
# Follow the README's Install and Upgrade sections as written, as root, on Debian or
# Ubuntu with PostgreSQL running, without keeping anything: a private mount namespace
# puts throwaway layers over /etc, /opt and /var/lib/sluice, so the user, folders and
# files the steps make vanish with it, and the PostgreSQL role and database they create
# are dropped at the end. The one edit the README leaves to the operator (the
# configuration after "# edit it") is a minimal one here; systemctl lines are shown, not
# run, when systemd is not PID 1. Usage: bash scripts/check-install.sh
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "check-install: run it as root" >&2; exit 2; }
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
cleanup() {
  runuser -u postgres -- psql -q -c "DROP DATABASE IF EXISTS sluice" -c "DROP ROLE IF EXISTS sluice" || true
  rmdir /var/lib/sluice 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
if runuser -u postgres -- psql -Atc "SELECT 1 FROM pg_roles WHERE rolname = 'sluice'" | grep -q 1; then
  echo "check-install: a PostgreSQL role 'sluice' exists already; this check would drop it" >&2
  trap - EXIT; rm -rf "$work"; exit 2
fi
# The sections' sh blocks, as the README has them.
python3 - "$repo/README.md" "$work" <<'PY'
import pathlib, re, sys
text = pathlib.Path(sys.argv[1]).read_text()
out = pathlib.Path(sys.argv[2])
edit = """cat > /etc/sluice/sluice.yaml <<'YAML'   # the operator's edit, kept minimal
database: "postgresql://sluice:${SLUICE_DB_PASSWORD}@127.0.0.1:5432/sluice"
downstream: {sink: /var/lib/sluice/outbox}
tenants:
  - {name: acme, pool: acme, trusted_networks: [127.0.0.1/32], sender_domains: [acme-mail.com]}
pools:
  acme: [{ip: 192.0.2.10, vmta: acme-1, hostname: mta1.acme-mail.com}]
YAML
printf 'SLUICE_DB_PASSWORD=change-me\\n' > /etc/sluice/sluice.env
chgrp sluice /etc/sluice/sluice.env && chmod 0640 /etc/sluice/sluice.env
"""
for name in ("Install", "Upgrade"):
    body = text.split(f"\n## {name}\n", 1)[1].split("\n## ", 1)[0]
    steps = "\n".join(re.findall(r"```sh\n(.*?)```", body, re.S))
    steps = re.sub(r"(\n[^\n]*sluice\.example\.yaml /etc/sluice/sluice\.yaml[^\n]*\n)",
                   lambda m: m.group(1) + edit, steps)
    (out / f"{name.lower()}.sh").write_text(steps)
PY
git clone -q "$repo" "$work/sluice"
cat > "$work/inside.sh" <<'SH'
set -uo pipefail
# A fresh Debian root's PATH: the system python3, not one from a build user's home.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mkdir -p "$WORK/etc.up" "$WORK/etc.work"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$WORK/etc.up,workdir=$WORK/etc.work" /etc
mount -t tmpfs tmpfs /opt
mkdir -p /var/lib/sluice && mount -t tmpfs tmpfs /var/lib/sluice
if [ "$(ps -p 1 -o comm=)" != systemd ]; then
  systemctl() { echo "check-install: not run (systemd is not PID 1): systemctl $*"; }
  export -f systemctl
fi
cd "$WORK"
# Each section as one script, as an operator pastes it (migrate --check answers 1
# while migrations are pending, so a status alone says nothing); then what they left.
for part in install upgrade; do
  echo "== README: ${part}"
  bash -x "$WORK/$part.sh"
done
failed=0
check() { if "$@"; then echo "check-install: ok: $*"; else echo "check-install: FAILED: $*"; failed=1; fi; }
check id sluice
check /opt/sluice/.venv/bin/sluice --version
set -a; . /etc/sluice/sluice.env; set +a
as_sluice() { runuser -u sluice -- env SLUICE_CONFIG=/etc/sluice/sluice.yaml "$@"; }
check as_sluice /opt/sluice/.venv/bin/sluice check-config --connect
check as_sluice /opt/sluice/.venv/bin/sluice migrate --check   # 0: the upgrade migrated
exit $failed
SH
WORK="$work" unshare --mount --propagation private bash "$work/inside.sh"
echo "check-install: the README's Install and Upgrade steps ran as written and left a working install"
