#!/usr/bin/env bash
# A bounded fuzz of the OpenAPI document with schemathesis (pinned, in a venv of its own under .services/)
# against a real API process on the test services: every operation, valid ids seeded, a time budget of
# FUZZ_SECONDS (default 180). Exits non-zero on any server error or response-schema violation.
# Needs the services running (npm test starts them; or: bash scripts/services.sh up).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
SCHEMATHESIS_VERSION=4.32.5
export FUZZ_VENV="$ROOT/.services/fuzz-venv"

if [ "$("$FUZZ_VENV/bin/st" --version 2>/dev/null || true)" != "st, version $SCHEMATHESIS_VERSION" ]; then
  echo "fuzz: installing schemathesis $SCHEMATHESIS_VERSION into $FUZZ_VENV"
  rm -rf "$FUZZ_VENV"
  python3 -m venv "$FUZZ_VENV"
  "$FUZZ_VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
while IFS= read -r line; do export "$line"; done < <(bash scripts/services.sh env)
node bin/bundle.mjs >/dev/null
exec npx tsx scripts/fuzz-api.ts
