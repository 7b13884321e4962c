#!/usr/bin/env bash
# Debian's Chromium for the browser tests (test/helpers/browser.ts drives it with playwright-core;
# Playwright's own browser download does not work here). Idempotent: does nothing when
# /usr/bin/chromium is there. Run it (`bash scripts/lib/chromium.sh`) or source it and call
# `chromium_install`.

chromium_install() {
  local bin=/usr/bin/chromium
  [ -x "$bin" ] && return 0
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  # fonts-liberation: with --no-install-recommends nothing else guarantees readable text in screenshots.
  local pkgs=(chromium fonts-liberation)
  printf '[chromium] installing Debian packages: %s\n' "${pkgs[*]}" >&2
  # Update the package lists first when there are none, or when the install fails on stale ones.
  if [ -z "${QANATIX_APT_UPDATED:-}" ] && ! apt-cache show chromium >/dev/null 2>&1; then
    $sudo apt-get update -qq >&2 && export QANATIX_APT_UPDATED=1
  fi
  if ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >&2; then
    $sudo apt-get update -qq >&2 && export QANATIX_APT_UPDATED=1
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >&2 || return 1
  fi
  [ -x "$bin" ] || { printf '[chromium] %s is still missing after the install\n' "$bin" >&2; return 1; }
  printf '[chromium] %s\n' "$("$bin" --version 2>/dev/null)" >&2
}

# Executed rather than sourced: install now.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  chromium_install
fi
