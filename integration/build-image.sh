#!/usr/bin/env bash
# Builds the static frontend binary for this machine, the FROM-scratch
# frontend image for this machine's platform, and pushes it
# (integration/build-image-multiarch.sh builds linux/amd64 and linux/arm64
# into one index). IMAGE defaults to the local test registry. The image is built
# and pushed by the tests' own Docker 26 (integration/engine.sh), never by
# the machine's default docker; MODELPACK_DOCKER_HOST picks another daemon.
#   IMAGE=ghcr.io/you/modelpack-frontend:v1 integration/build-image.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/sbin:/usr/bin:$PATH"   # Debian's docker, see engine.sh
export DOCKER_HOST="${MODELPACK_DOCKER_HOST:-unix:///run/modelpack-docker26.sock}"
IMAGE="${IMAGE:-localhost:5000/modelpack-frontend:dev}"
if ! docker version >/dev/null 2>&1; then
  echo "no docker daemon answers on $DOCKER_HOST; run integration/engine.sh (as root) first" >&2
  exit 1
fi
# The static binary for this machine (dist/linux-<arch>/ and its copy
# dist/modelpack-frontend, which the CLI tests run).
case "$(uname -m)" in
  x86_64) arch=amd64 ;;
  aarch64) arch=arm64 ;;
  *) echo "no frontend binary for $(uname -m)" >&2; exit 1 ;;
esac
ARCHES="$arch" integration/build-binaries.sh
docker build --quiet -t "$IMAGE" . >/dev/null
docker push --quiet "$IMAGE" >/dev/null
echo "pushed $IMAGE"
