# A Redis Cluster of three masters on loopback, for the queue's hash-tagged keys ({qanatix}) on the engine users
# scale Redis with. Sourced by services.sh; REDIS_URL=redis-cluster://127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003/
# points the API and the worker at it. (The tests make private clusters the same way: test/helpers/private-redis.ts.)
REDIS_CLUSTER_PORT=${QANATIX_REDIS_CLUSTER_PORT:-7001}
REDIS_CLUSTER_PORTS=("$REDIS_CLUSTER_PORT" "$((REDIS_CLUSTER_PORT + 1))" "$((REDIS_CLUSTER_PORT + 2))")
REDIS_CLUSTER_DIR="$QANATIX_STATE_DIR/redis-cluster"

redis-cluster_install() { apt_install redis-server redis-tools; }

redis-cluster_ok() { redis-cli -p "$REDIS_CLUSTER_PORT" cluster info 2>/dev/null | grep -q '^cluster_state:ok'; }

redis-cluster_start() {
  local port
  mkdir -p "$REDIS_CLUSTER_DIR"
  for port in "${REDIS_CLUSTER_PORTS[@]}"; do
    local pidfile="$REDIS_CLUSTER_DIR/$port.pid"
    if pid_alive "$pidfile"; then continue; fi
    if port_open "$port"; then log "port $port is taken by a server we did not start; set QANATIX_REDIS_CLUSTER_PORT"; return 1; fi
    # No persistence, as for the single server: a restart starts the cluster afresh.
    rm -f "$REDIS_CLUSTER_DIR/nodes-$port.conf"
    setsid redis-server --bind 127.0.0.1 --port "$port" --dir "$REDIS_CLUSTER_DIR" --save '' --appendonly no \
      --cluster-enabled yes --cluster-config-file "nodes-$port.conf" --maxmemory-policy noeviction \
      --logfile "$REDIS_CLUSTER_DIR/$port.log" --daemonize no </dev/null >/dev/null 2>&1 &
    echo $! >"$pidfile"
    wait_until 30 "Redis Cluster node $port" redis-cli -p "$port" ping
  done
  if ! redis-cluster_ok; then
    local nodes=(); for port in "${REDIS_CLUSTER_PORTS[@]}"; do nodes+=("127.0.0.1:$port"); done
    redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >"$REDIS_CLUSTER_DIR/create.log" 2>&1
  fi
  wait_until 30 "Redis Cluster" redis-cluster_ok
}

redis-cluster_stop() { local port; for port in "${REDIS_CLUSTER_PORTS[@]}"; do stop_pidfile "redis-cluster:$port" "$REDIS_CLUSTER_DIR/$port.pid"; done; }
redis-cluster_status() { local port; for port in "${REDIS_CLUSTER_PORTS[@]}"; do status_line "redis-cluster:$port" "$REDIS_CLUSTER_DIR/$port.pid"; done; }
redis-cluster_env() {
  echo "QANATIX_TEST_REDIS_CLUSTER_URL=redis-cluster://127.0.0.1:${REDIS_CLUSTER_PORTS[0]},127.0.0.1:${REDIS_CLUSTER_PORTS[1]},127.0.0.1:${REDIS_CLUSTER_PORTS[2]}"
}
