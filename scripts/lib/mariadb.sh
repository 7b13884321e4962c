# MariaDB: the MySQL-protocol source database. Sourced by services.sh.
MARIADB_PORT=${QANATIX_MARIADB_PORT:-3306}
MARIADB_DATA="$QANATIX_STATE_DIR/mariadb"
# mariadbd runs as the `mysql` user, so its own files live in the directory it owns.
MARIADB_PID="$MARIADB_DATA/mariadbd.pid"
MARIADB_LOG="$MARIADB_DATA/mariadbd.log"
MARIADB_SOCK="$MARIADB_DATA/mariadbd.sock"

mariadb_install() { apt_install mariadb-server mariadb-client; }

mariadb_query() { mariadb -h 127.0.0.1 -P "$MARIADB_PORT" -u qanatix -pqanatix -N -e "$1"; }

mariadb_start() {
  if pid_alive "$MARIADB_PID"; then return 0; fi
  if port_open "$MARIADB_PORT"; then log "port $MARIADB_PORT is taken by a server we did not start; set QANATIX_MARIADB_PORT or stop it"; return 1; fi
  if [ ! -d "$MARIADB_DATA/mysql" ]; then
    mkdir -p "$MARIADB_DATA"; chown mysql:mysql "$MARIADB_DATA" 2>/dev/null || true
    mariadb-install-db --user=mysql --datadir="$MARIADB_DATA" --auth-root-authentication-method=socket \
      --skip-test-db >"$QANATIX_STATE_DIR/mariadb-install.log" 2>&1
  fi
  # The socket is only for the first-time grant below; clients use TCP.
  setsid mariadbd --no-defaults --user=mysql --datadir="$MARIADB_DATA" --port="$MARIADB_PORT" \
    --bind-address=127.0.0.1 --socket="$MARIADB_SOCK" --pid-file="$MARIADB_PID" \
    --innodb-flush-log-at-trx-commit=2 --innodb-buffer-pool-size=256M --max-connections=300 \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci --default-time-zone=+00:00 \
    --log-error="$MARIADB_LOG" </dev/null >/dev/null 2>&1 &
  wait_until 60 "MariaDB socket" test -S "$MARIADB_SOCK"
  mariadb --socket="$MARIADB_SOCK" -u root -e "
    CREATE USER IF NOT EXISTS 'qanatix'@'%' IDENTIFIED BY 'qanatix';
    GRANT ALL PRIVILEGES ON *.* TO 'qanatix'@'%' WITH GRANT OPTION;
    CREATE DATABASE IF NOT EXISTS qanatix_source;"
  wait_until 60 "MariaDB" mariadb_query 'select 1'
}

mariadb_stop() { stop_pidfile mariadb "$MARIADB_PID"; }
mariadb_status() { status_line mariadb "$MARIADB_PID"; }
mariadb_env() { echo "QANATIX_TEST_MYSQL_URL=mysql://qanatix:qanatix@127.0.0.1:$MARIADB_PORT/qanatix_source"; }
