#!/usr/bin/env bash
# The test command (npm test): starts the real services, then lint, type-check,
# unit and integration tests. Extra arguments go to vitest (e.g. a file filter).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

bash scripts/services.sh up
bash scripts/lib/chromium.sh  # Debian's chromium for the browser tests (apt-get when missing)
while IFS= read -r line; do export "$line"; done < <(bash scripts/services.sh env)

npm run --silent lint
npm run --silent typecheck
node bin/bundle.mjs >/dev/null  # the CLI's bundle, once, before tests start CLI processes in parallel

report="$ROOT/.services/vitest-report.json"
rm -f "$report"
status=0
npx vitest run --reporter=default --reporter=json --outputFile="$report" "$@" || status=$?
if [ -s "$report" ]; then
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const skipped = r.numPendingTests + r.numTodoTests;
    console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
  ' "$report"
fi
# The worker tests again on a Redis Cluster: each file makes a private cluster of three masters the way services.sh
# makes its own (a file kills, restarts and flushes its Redis, which a shared server cannot allow).
if [ $# -eq 0 ]; then
  QANATIX_TEST_REDIS_CLUSTER=1 npx vitest run --project integration \
    test/integration/jobs/worker.test.ts test/integration/jobs/missed-fires.test.ts test/integration/jobs/worker-health.test.ts || status=$?
fi
exit $status
