#!/usr/bin/env bash
# Builds the static frontend binary, the FROM-scratch frontend image, and
# pushes it. IMAGE defaults to the local test registry.
#   IMAGE=ghcr.io/you/modelpack-frontend:v1 integration/build-image.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/sbin:/usr/bin:$PATH"   # Debian's docker, see engine.sh
IMAGE="${IMAGE:-localhost:5000/modelpack-frontend:dev}"
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
