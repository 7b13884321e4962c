# Redis: BullMQ's store. Sourced by services.sh.
REDIS_PORT=${QANATIX_REDIS_PORT:-6379}
REDIS_DIR="$QANATIX_STATE_DIR/redis"
REDIS_PID="$QANATIX_STATE_DIR/redis.pid"
REDIS_LOG="$QANATIX_STATE_DIR/redis.log"

redis_install() { apt_install redis-server redis-tools; }

redis_ping() { [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }

redis_start() {
  if pid_alive "$REDIS_PID"; then return 0; fi
  if port_open "$REDIS_PORT"; then log "port $REDIS_PORT is taken by a server we did not start; set QANATIX_REDIS_PORT or stop it"; return 1; fi
  mkdir -p "$REDIS_DIR"
  # No persistence: tests restart Redis to prove that Postgres alone is the truth.
  setsid redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$REDIS_DIR" --save '' --appendonly no \
    --maxmemory-policy noeviction --pidfile "$REDIS_PID" --logfile "$REDIS_LOG" --daemonize no \
    </dev/null >/dev/null 2>&1 &
  echo $! >"$REDIS_PID"
  wait_until 30 "Redis" redis_ping
}

redis_stop() { stop_pidfile redis "$REDIS_PID"; }
redis_status() { status_line redis "$REDIS_PID"; }
redis_env() { echo "QANATIX_TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT"; }
