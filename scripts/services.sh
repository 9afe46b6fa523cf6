# Sourced by test.sh: make sure PostgreSQL and Redis answer on loopback, starting
# them where they are installed but not running, failing clearly where missing.
set -euo pipefail

PG_HOST=127.0.0.1 PG_PORT=5432 REDIS_PORT=6379

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

wait_port() {  # host port seconds
  local i
  for ((i = 0; i < $3 * 10; i++)); do port_open "$1" "$2" && return 0; sleep 0.1; done
  return 1
}

ensure_redis() {
  port_open 127.0.0.1 "$REDIS_PORT" && return 0
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "sluice: Redis is not running on 127.0.0.1:$REDIS_PORT and redis-server is not installed." >&2
    echo "        Install it (Debian/Ubuntu: apt-get install redis-server) and run this again." >&2
    return 1
  fi
  echo "starting redis-server on 127.0.0.1:$REDIS_PORT"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" \
    --appendonly no --logfile "${TMPDIR:-/tmp}/sluice-test-redis.log" >/dev/null
  wait_port 127.0.0.1 "$REDIS_PORT" 10 || { echo "sluice: redis-server did not start" >&2; return 1; }
}

ensure_postgres() {
  if ! port_open "$PG_HOST" "$PG_PORT"; then
    if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
      local version
      version=$(ls /etc/postgresql | sort -V | tail -n 1)
      echo "starting PostgreSQL $version (cluster main)"
      pg_ctlcluster --skip-systemctl-redirect "$version" main start
    elif command -v pg_ctl >/dev/null 2>&1 && [ -n "${PGDATA:-}" ]; then
      echo "starting PostgreSQL in $PGDATA"
      pg_ctl -D "$PGDATA" -l "${TMPDIR:-/tmp}/sluice-test-pg.log" start
    else
      echo "sluice: PostgreSQL is not running on $PG_HOST:$PG_PORT and no installed server was found." >&2
      echo "        Install it (Debian/Ubuntu: apt-get install postgresql) and run this again," >&2
      echo "        or point SLUICE_TEST_PG at a server (postgresql://user@host:port/db)." >&2
      return 1
    fi
    wait_port "$PG_HOST" "$PG_PORT" 30 || { echo "sluice: PostgreSQL did not start" >&2; return 1; }
  fi
  # The suite works in database "test" (one schema per run); create it if it is missing.
  if command -v psql >/dev/null 2>&1 &&
     ! psql -h "$PG_HOST" -U postgres -d test -Atc 'select 1' >/dev/null 2>&1; then
    psql -h "$PG_HOST" -U postgres -d postgres -c 'CREATE DATABASE test' >/dev/null 2>&1 || true
  fi
}
