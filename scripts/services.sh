# Sourced by test.sh: make sure PostgreSQL, Redis and MariaDB answer on loopback,
# starting them where they are installed but not running, failing clearly where missing.
set -euo pipefail

PG_HOST=127.0.0.1 PG_PORT=5432 REDIS_PORT=6379
MYSQL_PORT=${SLUICE_MYSQL_PORT:-3306}

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

# MariaDB (or MySQL) on 127.0.0.1, user root without a password, database "test":
# MailWizz's database in the quota-sync tests. A fresh machine gets a data directory
# (mariadb-install-db) and the root@127.0.0.1 user; the server runs until the machine stops.
ensure_mariadb() {
  local server client sock
  client=$(command -v mariadb || command -v mysql || true)
  if ! port_open 127.0.0.1 "$MYSQL_PORT"; then
    server=$(command -v mariadbd || command -v mysqld || true)
    for candidate in /usr/sbin/mariadbd /usr/sbin/mysqld; do
      [ -z "$server" ] && [ -x "$candidate" ] && server=$candidate
    done
    if [ -z "$server" ] || [ -z "$client" ]; then
      echo "sluice: MariaDB is not running on 127.0.0.1:$MYSQL_PORT and no server is installed." >&2
      echo "        Install it (Debian/Ubuntu: apt-get install mariadb-server) and run this again," >&2
      echo "        or point SLUICE_TEST_MYSQL at a server (mysql://root@host:3306/test)." >&2
      return 1
    fi
    _start_mariadb "$server" || { echo "sluice: MariaDB did not start (see $MYSQL_LOG)" >&2; return 1; }
  fi
  [ -n "$client" ] || return 0
  sock=${MYSQL_SOCKET:-}
  # Over TCP as root without a password; else, just started, over the socket as the OS user.
  if ! "$client" --protocol=tcp -h 127.0.0.1 -P "$MYSQL_PORT" -u root -e 'select 1' >/dev/null 2>&1 &&
     [ -n "$sock" ]; then
    "$client" --socket="$sock" -u root -e "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1';
      GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION" >/dev/null
  fi
  "$client" --protocol=tcp -h 127.0.0.1 -P "$MYSQL_PORT" -u root \
    -e 'CREATE DATABASE IF NOT EXISTS test' >/dev/null 2>&1 || true
}

_start_mariadb() {  # $1: the server binary
  local datadir user=() install
  if [ "$(id -u)" = 0 ] && [ "$MYSQL_PORT" = 3306 ]; then
    datadir=${SLUICE_MYSQL_DATADIR:-/var/lib/mysql}; user=(--user=mysql)
    MYSQL_SOCKET=/run/mysqld/mysqld.sock
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  else
    datadir=${SLUICE_MYSQL_DATADIR:-${TMPDIR:-/tmp}/sluice-test-mariadb-$MYSQL_PORT}
    MYSQL_SOCKET=$datadir/mysqld.sock
    [ "$(id -u)" = 0 ] && user=(--user=root)
  fi
  MYSQL_LOG=${TMPDIR:-/tmp}/sluice-test-mariadb-$MYSQL_PORT.log
  if [ ! -d "$datadir/mysql" ]; then
    install=$(command -v mariadb-install-db || command -v mysql_install_db || true)
    [ -n "$install" ] || { echo "sluice: mariadb-install-db not found" >&2; return 1; }
    echo "initialising a MariaDB data directory in $datadir"
    mkdir -p "$datadir"
    "$install" --no-defaults "${user[@]}" --datadir="$datadir" \
      --auth-root-authentication-method=socket >"$MYSQL_LOG" 2>&1 || return 1
  fi
  echo "starting $1 on 127.0.0.1:$MYSQL_PORT ($datadir)"
  nohup "$1" --no-defaults "${user[@]}" --datadir="$datadir" --bind-address=127.0.0.1 \
    --port="$MYSQL_PORT" --socket="$MYSQL_SOCKET" --pid-file="$datadir/mysqld.pid" \
    --skip-name-resolve --log-error="$MYSQL_LOG" >/dev/null 2>&1 &
  wait_port 127.0.0.1 "$MYSQL_PORT" 30
}
