#!/usr/bin/env bash
# Checks docker-compose.yml (or the file given) without a Docker engine. Debian's docker-compose parses it as
# `docker compose` would start it: interpolation, merge keys, the Compose file schema, references between services.
# Then what the file promises: it refuses to start without its three secrets; every service has a health check;
# the worker answers its health check on the port it publishes, and the API on its own.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FILE=$(realpath "${1:-$ROOT/docker-compose.yml}")
cd "$ROOT"
# shellcheck source=lib/common.sh
source scripts/lib/common.sh
command -v docker-compose >/dev/null || apt_install docker-compose

secrets=(POSTGRES_PASSWORD=check API_KEY_SALT=check QANATIX_ENCRYPTION_KEYS=k1:check)
for secret in "${secrets[@]}"; do
  name=${secret%%=*}
  others=(); for s in "${secrets[@]}"; do [ "$s" = "$secret" ] || others+=("$s"); done
  if env -u "$name" "${others[@]}" docker-compose -f "$FILE" config -q 2>/dev/null; then
    echo "compose: $FILE starts without $name; it must refuse to" >&2
    exit 1
  fi
done
env "${secrets[@]}" docker-compose -f "$FILE" config -q
env "${secrets[@]}" docker-compose -f "$FILE" config | node --input-type=module -e '
  import { parse } from "yaml";
  let text = "";
  for await (const chunk of process.stdin) text += chunk;
  const { services } = parse(text);
  const problems = [];
  for (const [name, s] of Object.entries(services)) if (!s.healthcheck?.test) problems.push(`service ${name} has no health check`);
  const probedPort = (s) => /127\.0\.0\.1:(\d+)\//.exec(JSON.stringify(s.healthcheck?.test ?? ""))?.[1];
  const published = (s) => (s.ports ?? []).map((p) => String(typeof p === "object" ? p.target : p.split(":").at(-1).split("/")[0]));
  const expect = { api: services.api?.environment?.PORT ?? "8000", worker: services.worker?.environment?.WORKER_METRICS_PORT };
  for (const [name, port] of Object.entries(expect)) {
    const s = services[name];
    if (!s) { problems.push(`no ${name} service`); continue; }
    if (!port) { problems.push(`${name}: no port to answer health checks on (WORKER_METRICS_PORT for the worker)`); continue; }
    if (probedPort(s) !== String(port)) problems.push(`${name}: the health check asks port ${probedPort(s)}, the service answers on ${port}`);
    if (!published(s).includes(String(port))) problems.push(`${name}: port ${port} is not published`);
  }
  if (problems.length) { console.error(problems.map((p) => `compose: ${p}`).join("\n")); process.exit(1); }
  console.log(`compose: ${Object.keys(services).length} services valid, each with a health check; api and worker answer theirs on published ports`);
'
