#!/usr/bin/env bash
# Start-up of the programs inside the container image, with its compile cache
# and without, interleaved in one run (see image-start-up.mjs).
#   bench/image-start-up.sh [IMAGE] [ROUNDS]     default loteria-nacional:latest, 7
set -euo pipefail
cd "$(dirname "$0")/.."
image=${1:-loteria-nacional:latest}
docker run --rm --network none -v "$PWD/bench/image-start-up.mjs:/bench/image-start-up.mjs:ro" "$image" \
  node /bench/image-start-up.mjs "${2:-7}"
