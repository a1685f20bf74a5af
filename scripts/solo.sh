#!/usr/bin/env bash
# The ONE command that runs Helios on this machine (solo mode): installs what is missing (Debian's
# docker.io and friends, node modules), starts dockerd, builds the local test image (there is no
# image registry here), then runs a master and an agent in one process on the embedded log.
# Arguments pass through to `helios solo` (e.g. --port 5801 --data-dir ~/.helios/solo).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
bash scripts/setup.sh
bash scripts/build-test-image.sh
exec node bin/helios.js solo "$@"
