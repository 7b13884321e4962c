#!/usr/bin/env bash
# Starts, stops and describes the real servers the tests and the demo use, natively
# on 127.0.0.1 (no Docker needed): PostgreSQL, MariaDB, Redis, a Redis Cluster of three masters,
# FerretDB (MongoDB wire protocol) and Neo4j. Installs whatever is missing.
#
#   scripts/services.sh up [service...]     install what is missing, start, wait until each answers a query
#   scripts/services.sh down [service...]   stop what this script started
#   scripts/services.sh status              one line per service
#   scripts/services.sh env                 QANATIX_TEST_*_URL=... lines (eval "$(scripts/services.sh env)")
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
QANATIX_STATE_DIR=${QANATIX_STATE_DIR:-$ROOT/.services}
export ROOT QANATIX_STATE_DIR
mkdir -p "$QANATIX_STATE_DIR"

for lib in common postgres mariadb redis redis-cluster ferretdb neo4j; do
  # shellcheck source=/dev/null
  source "$ROOT/scripts/lib/$lib.sh"
done

ALL=(postgres mariadb redis redis-cluster ferretdb neo4j)

cmd_up() {
  local services=("$@") s
  local started; started=$(date +%s)
  # Debian packages first (one apt run), then the two builds side by side: they are the slow part.
  for s in postgres mariadb redis redis-cluster; do [[ " ${services[*]} " == *" $s "* ]] && "${s}_install"; done
  local pids=()
  for s in ferretdb neo4j; do
    if [[ " ${services[*]} " == *" $s "* ]]; then
      ( "${s}_install" ) >"$QANATIX_STATE_DIR/$s-install.log" 2>&1 & pids+=("$!:$s")
    fi
  done
  for p in "${pids[@]}"; do
    wait "${p%%:*}" || { log "installing ${p#*:} failed:"; tail -40 "$QANATIX_STATE_DIR/${p#*:}-install.log" >&2; return 1; }
  done
  for s in "${services[@]}"; do
    "${s}_start" || { log "$s did not start"; return 1; }
    log "$s is up"
  done
  log "all up in $(( $(date +%s) - started )) s"
}

cmd_down() { local s; for s in "$@"; do "${s}_stop"; done; }
cmd_status() { local s; for s in "$@"; do "${s}_status"; done; }
cmd_env() { local s; for s in "$@"; do "${s}_env"; done; }

action=${1:-}
[ $# -gt 0 ] && shift
targets=("$@"); [ ${#targets[@]} -eq 0 ] && targets=("${ALL[@]}")
for s in "${targets[@]}"; do
  [[ " ${ALL[*]} " == *" $s "* ]] || { echo "unknown service '$s' (known: ${ALL[*]})" >&2; exit 2; }
done

case "$action" in
  up) cmd_up "${targets[@]}" ;;
  down) cmd_down "${targets[@]}" ;;
  status) cmd_status "${targets[@]}" ;;
  env) cmd_env "${targets[@]}" ;;
  *) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
