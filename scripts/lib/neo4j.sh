# shellcheck shell=bash
# Neo4j 5.26 (community, via neo4j-harness) for qanatix integration tests — no Docker.
# Sourced by scripts/services.sh. Needs: ROOT (repo root), QANATIX_STATE_DIR (existing dir).
#
# Functions: neo4j_install, neo4j_start, neo4j_stop, neo4j_status, neo4j_env (+ neo4j_is_up).
# Env overrides (defaults):
#   NEO4J_BOLT_PORT=7687            Bolt on 127.0.0.1, unencrypted
#   NEO4J_HTTP_PORT=                empty/off = HTTP disabled; a number = HTTP on 127.0.0.1:<n>
#   NEO4J_PASSWORD=qanatix-test     password of user neo4j (auth is enabled)
#   NEO4J_DATA_DIR=$QANATIX_STATE_DIR/neo4j-data   (wiped each start: data does not persist)
#   NEO4J_PAGECACHE=128m
#   NEO4J_JAVA_OPTS="-Xms256m -Xmx768m -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError"
#   NEO4J_START_TIMEOUT=120         seconds to wait for readiness
# Safe under `set -euo pipefail`.

_neo4j_dir() { printf '%s\n' "$ROOT/test/services/neo4j"; }
_neo4j_jar() { printf '%s\n' "$ROOT/test/services/neo4j/target/neo4j-launcher.jar"; }
_neo4j_port() { printf '%s\n' "${NEO4J_BOLT_PORT:-7687}"; }
_neo4j_password() { printf '%s\n' "${NEO4J_PASSWORD:-qanatix-test}"; }
_neo4j_pidfile() { printf '%s\n' "$QANATIX_STATE_DIR/neo4j.pid"; }
_neo4j_logfile() { printf '%s\n' "$QANATIX_STATE_DIR/neo4j.log"; }
_neo4j_say() { printf 'neo4j: %s\n' "$*" >&2; }

# Major version of a java binary (e.g. 17), or 0.
_neo4j_java_major() {
  local v
  v=$("$1" -version 2>&1 | awk -F'"' '/version/ {print $2; exit}') || true
  v=${v#1.}
  v=${v%%.*}
  v=${v%%[!0-9]*}
  printf '%s\n' "${v:-0}"
}

# Prints the java binary to use (>= 17): $JAVA, java on PATH, or a Debian JDK 17 dir.
_neo4j_java() {
  local cand
  for cand in "${JAVA:-}" "$(command -v java 2>/dev/null || true)" \
      /usr/lib/jvm/java-17-openjdk-*/bin/java /usr/lib/jvm/java-21-openjdk-*/bin/java; do
    [[ -n $cand && -x $cand ]] || continue
    if (( $(_neo4j_java_major "$cand") >= 17 )); then
      printf '%s\n' "$cand"
      return 0
    fi
  done
  return 1
}

_neo4j_ensure_toolchain() {
  if _neo4j_java >/dev/null && command -v javac >/dev/null 2>&1 && command -v mvn >/dev/null 2>&1; then
    return 0
  fi
  _neo4j_say "installing openjdk-17-jdk-headless + maven (apt-get)"
  # Lock timeout: other service installs may be running apt-get at the same time.
  local -a apt=(apt-get -y -q -o DPkg::Lock::Timeout=300)
  if ! DEBIAN_FRONTEND=noninteractive "${apt[@]}" install openjdk-17-jdk-headless maven >/dev/null; then
    "${apt[@]}" update >/dev/null
    DEBIAN_FRONTEND=noninteractive "${apt[@]}" install openjdk-17-jdk-headless maven >/dev/null
  fi
  _neo4j_java >/dev/null || { _neo4j_say "no Java >= 17 found after install"; return 1; }
}

# Idempotent: (re)build the launcher when the jar or its libs are missing or older than the sources.
neo4j_install() {
  local dir jar stale=""
  dir=$(_neo4j_dir)
  jar=$(_neo4j_jar)
  if [[ ! -f $jar || ! -d $dir/target/lib ]]; then
    stale=missing
  elif [[ -n $(find "$dir/pom.xml" "$dir/src" -newer "$jar" -print -quit 2>/dev/null) ]]; then
    stale=outdated
  fi
  [[ -z $stale ]] && return 0
  _neo4j_ensure_toolchain
  _neo4j_say "building launcher ($stale): mvn package (first build downloads ~150 MB of jars)"
  local java_home
  java_home=$(dirname "$(dirname "$(readlink -f "$(_neo4j_java)")")")
  # Clean lib/ so jars of an old dependency set never linger next to the new ones.
  rm -rf "$dir/target/lib"
  JAVA_HOME=${JAVA_HOME:-$java_home} mvn -q -B -Dstyle.color=never -f "$dir/pom.xml" package -DskipTests
  [[ -f $jar ]] || { _neo4j_say "build produced no $jar"; return 1; }
  touch "$jar"
}

# True if something on 127.0.0.1:$1 answers the Bolt handshake.
_neo4j_bolt_answers() {
  local port=$1 reply
  reply=$(timeout 5 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    # Bolt magic + 4 version proposals (5.0-5.4, 4.4, 4.0, 3.0)
    printf "\x60\x60\xb0\x17\x00\x04\x04\x05\x00\x00\x04\x04\x00\x00\x00\x04\x00\x00\x00\x03" >&3
    head -c 4 <&3 | od -An -tx1
  ' _ "$port" 2>/dev/null) || return 1
  reply=${reply//[[:space:]]/}
  # A Bolt server answers 4 bytes whose first (reserved) byte is 0; HTTP etc. would not.
  [[ ${#reply} -eq 8 && $reply == 00* ]]
}

_neo4j_port_open() {
  timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null
}

# Prints the pid from the pid file if that process is alive and is our launcher.
_neo4j_our_pid() {
  local pidfile pid
  pidfile=$(_neo4j_pidfile)
  [[ -f $pidfile ]] || return 1
  pid=$(tr -dc '0-9' <"$pidfile")
  [[ -n $pid ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  grep -qa 'neo4j-launcher' "/proc/$pid/cmdline" 2>/dev/null || return 1
  printf '%s\n' "$pid"
}

neo4j_is_up() {
  _neo4j_bolt_answers "$(_neo4j_port)"
}

# Wait until the launcher $1 prints NEO4J_READY (it only does so after a real Bolt login and
# query against database "neo4j") and the port answers Bolt.
_neo4j_wait_ready() {
  local pid=$1 port log timeout_s waited=0
  port=$(_neo4j_port)
  log=$(_neo4j_logfile)
  timeout_s=${NEO4J_START_TIMEOUT:-120}
  while (( waited < timeout_s )); do
    if ! kill -0 "$pid" 2>/dev/null; then
      _neo4j_say "launcher (pid $pid) exited during startup; last log lines:"
      tail -n 30 "$log" >&2 || true
      rm -f "$(_neo4j_pidfile)"
      return 1
    fi
    if grep -q '^NEO4J_READY ' "$log" 2>/dev/null && _neo4j_bolt_answers "$port"; then
      _neo4j_say "up (pid $pid) on bolt://127.0.0.1:$port after ${waited}s"
      return 0
    fi
    sleep 1
    waited=$((waited + 1))
  done
  _neo4j_say "not ready after ${timeout_s}s (pid $pid still running; see $log)"
  tail -n 30 "$log" >&2 || true
  return 1
}

_neo4j_start_locked() {
  local port pid java log pidfile data_dir
  port=$(_neo4j_port)
  log=$(_neo4j_logfile)
  pidfile=$(_neo4j_pidfile)

  if pid=$(_neo4j_our_pid); then
    if grep -q '^NEO4J_READY ' "$log" 2>/dev/null && _neo4j_bolt_answers "$port"; then
      _neo4j_say "already up (pid $pid)"
      return 0
    fi
    _neo4j_say "our launcher (pid $pid) is still starting; waiting"
    _neo4j_wait_ready "$pid"
    return
  fi
  if _neo4j_bolt_answers "$port"; then
    _neo4j_say "something already answers Bolt on 127.0.0.1:$port (not started by us); leaving it alone"
    return 0
  fi
  if _neo4j_port_open "$port"; then
    _neo4j_say "port 127.0.0.1:$port is in use by something that is not Bolt; set NEO4J_BOLT_PORT"
    return 1
  fi
  rm -f "$pidfile"

  neo4j_install
  java=$(_neo4j_java)
  data_dir=${NEO4J_DATA_DIR:-$QANATIX_STATE_DIR/neo4j-data}
  local -a java_opts
  read -r -a java_opts <<<"${NEO4J_JAVA_OPTS:--Xms256m -Xmx768m -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError}"

  # Without job control the background child is not a process-group leader, so setsid(1)
  # execs in place and $! is the JVM's pid (nohup execs too).
  local had_m=0
  [[ $- == *m* ]] && had_m=1 && set +m
  NEO4J_BOLT_PORT=$port \
  NEO4J_HTTP_PORT=${NEO4J_HTTP_PORT:-} \
  NEO4J_PASSWORD=$(_neo4j_password) \
  NEO4J_DATA_DIR=$data_dir \
  NEO4J_PAGECACHE=${NEO4J_PAGECACHE:-128m} \
    nohup setsid "$java" "${java_opts[@]}" -jar "$(_neo4j_jar)" \
      </dev/null >"$log" 2>&1 9>&- &
  pid=$!
  (( had_m )) && set -m
  printf '%s\n' "$pid" >"$pidfile"
  _neo4j_say "starting (pid $pid, log $log)"
  _neo4j_wait_ready "$pid"
}

# Idempotent: no-op when Bolt already answers on the port; otherwise start and wait for ready.
neo4j_start() {
  local lock
  lock="$QANATIX_STATE_DIR/neo4j.lock"
  if command -v flock >/dev/null 2>&1; then
    (
      flock -w 300 9 || { _neo4j_say "could not get $lock"; exit 1; }
      _neo4j_start_locked
    ) 9>"$lock"
  else
    _neo4j_start_locked
  fi
}

# Stops the server only if we started it (pid file); waits for a clean exit.
neo4j_stop() {
  local pid pidfile waited=0
  pidfile=$(_neo4j_pidfile)
  if ! pid=$(_neo4j_our_pid); then
    [[ -f $pidfile ]] && _neo4j_say "stale pid file removed"
    rm -f "$pidfile"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do
    if (( waited >= 60 )); then
      _neo4j_say "pid $pid did not exit after 60s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 1
      break
    fi
    sleep 1
    waited=$((waited + 1))
  done
  rm -f "$pidfile"
  _neo4j_say "stopped (pid $pid, ${waited}s)"
}

neo4j_status() {
  local pid
  if pid=$(_neo4j_our_pid); then
    printf 'neo4j: up (pid %s)\n' "$pid"
  elif neo4j_is_up; then
    printf 'neo4j: up (not started by us, bolt port %s)\n' "$(_neo4j_port)"
  else
    printf 'neo4j: down\n'
  fi
}

_neo4j_urlencode() {
  local s=$1 out="" c i
  for (( i = 0; i < ${#s}; i++ )); do
    c=${s:i:1}
    case $c in
      [A-Za-z0-9._~-]) out+=$c ;;
      *) out+=$(printf '%%%02X' "'$c") ;;
    esac
  done
  printf '%s\n' "$out"
}

neo4j_env() {
  printf 'QANATIX_TEST_NEO4J_URL=bolt://neo4j:%s@127.0.0.1:%s\n' \
    "$(_neo4j_urlencode "$(_neo4j_password)")" "$(_neo4j_port)"
}
