#!/usr/bin/env bash
# Builds the static frontend binary, the FROM-scratch frontend image, and
# pushes it. IMAGE defaults to the local test registry. The image is built
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
TARGET="$(rustc -vV | sed -n 's/^host: //p')"

RUSTFLAGS="-C target-feature=+crt-static" \
  cargo build --release --locked --target "$TARGET" -p modelpack-frontend
mkdir -p dist
cp "${CARGO_TARGET_DIR:-target}/$TARGET/release/modelpack-frontend" dist/modelpack-frontend
if ldd dist/modelpack-frontend 2>&1 | grep -q "=>"; then
  echo "dist/modelpack-frontend is dynamically linked; it cannot run FROM scratch" >&2
  exit 1
fi
docker build --quiet -t "$IMAGE" . >/dev/null
docker push --quiet "$IMAGE" >/dev/null
echo "pushed $IMAGE"
