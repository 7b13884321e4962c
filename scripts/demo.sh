#!/usr/bin/env bash
# The main job (npm run demo). For now it starts the real services the platform runs on
# and says where they are; the end-to-end demo builds on this.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$ROOT/scripts/services.sh" up
echo
echo "Services are up on 127.0.0.1:"
bash "$ROOT/scripts/services.sh" status
echo
bash "$ROOT/scripts/services.sh" env
