# Shared helpers for scripts/services.sh. Sourced, never run.

log() { printf '[services] %s\n' "$*" >&2; }

# apt_install PKG... installs Debian packages that are missing, without letting
# their maintainer scripts start system-wide daemons: we run our own instances.
apt_install() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  local policy=/usr/sbin/policy-rc.d created=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod +x "$policy" && created=1
  fi
  if [ -z "${QANATIX_APT_UPDATED:-}" ]; then
    $sudo apt-get update -qq >&2 && export QANATIX_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  local rc=$?
  [ -n "$created" ] && $sudo rm -f "$policy"
  return $rc
}

# pid_alive FILE: true when FILE holds the pid of a live process.
pid_alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# port_open PORT: true when something accepts TCP connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_until SECONDS DESCRIPTION CMD...: polls CMD every 0.2 s.
wait_until() {
  local deadline=$(( $(date +%s) + $1 )) what=$2; shift 2
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then log "timed out waiting for $what"; return 1; fi
    sleep 0.2
  done
}

# stop_pidfile NAME FILE: stops a process we started and waits for it to exit.
stop_pidfile() {
  local name=$1 file=$2
  if ! pid_alive "$file"; then rm -f "$file"; return 0; fi
  local pid; pid=$(cat "$file")
  kill -TERM "$pid" 2>/dev/null || true
  local i
  for i in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then log "$name did not stop in 30 s; killing it"; kill -KILL "$pid" 2>/dev/null || true; fi
  rm -f "$file"
}

# status_line NAME FILE
status_line() {
  if pid_alive "$2"; then echo "$1: up (pid $(cat "$2"))"; else echo "$1: down"; fi
}
