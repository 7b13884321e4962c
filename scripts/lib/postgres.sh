# PostgreSQL: the platform's own store and a source database. Sourced by services.sh.
PG_PORT=${QANATIX_PG_PORT:-5432}
PG_DATA="$QANATIX_STATE_DIR/postgres"
PG_PID="$QANATIX_STATE_DIR/postgres.pid"
PG_LOG="$QANATIX_STATE_DIR/postgres.log"

pg_bin() {
  local dir; dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  echo "${dir:-/usr/lib/postgresql/15/bin}"
}

# Postgres refuses to run as root; we run it as the package's `postgres` user.
pg_as() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

postgres_install() { apt_install postgresql postgresql-contrib; }

pg_query() { PGPASSWORD=qanatix "$(pg_bin)/psql" -h 127.0.0.1 -p "$PG_PORT" -U qanatix -d postgres -v ON_ERROR_STOP=1 -tAc "$1"; }

postgres_start() {
  if pid_alive "$PG_PID"; then return 0; fi
  if port_open "$PG_PORT"; then log "port $PG_PORT is taken by a server we did not start; set QANATIX_PG_PORT or stop it"; return 1; fi
  local bin; bin=$(pg_bin)
  if [ ! -s "$PG_DATA/PG_VERSION" ]; then
    mkdir -p "$PG_DATA"; chown postgres:postgres "$PG_DATA" 2>/dev/null || true; chmod 700 "$PG_DATA"
    local pw; pw=$(mktemp); echo qanatix >"$pw"; chmod 644 "$pw"
    pg_as "$bin/initdb" -D "$PG_DATA" -U qanatix --pwfile="$pw" -A scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pw"
    # A disposable test server: durability traded for speed; enough connections
    # for two worker processes and the API under test.
    cat >>"$PG_DATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 300
shared_buffers = 256MB
fsync = off
synchronous_commit = off
full_page_writes = off
max_wal_size = 4GB
timezone = 'UTC'
CONF
  fi
  touch "$PG_LOG"; chown postgres:postgres "$PG_LOG" 2>/dev/null || true
  pg_as "$bin/pg_ctl" -D "$PG_DATA" -o "-p $PG_PORT" -l "$PG_LOG" -w -t 60 start >/dev/null
  head -1 "$PG_DATA/postmaster.pid" >"$PG_PID"
  wait_until 60 "PostgreSQL" pg_query 'select 1'
  local db
  for db in qanatix qanatix_source; do
    pg_query "select 1 from pg_database where datname = '$db'" | grep -q 1 || pg_query "create database $db" >/dev/null
  done
}

postgres_stop() {
  if pid_alive "$PG_PID"; then pg_as "$(pg_bin)/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null || true; fi
  rm -f "$PG_PID"
}

postgres_status() { status_line postgres "$PG_PID"; }
postgres_env() { echo "QANATIX_TEST_PG_URL=postgres://qanatix:qanatix@127.0.0.1:$PG_PORT/qanatix"; }
