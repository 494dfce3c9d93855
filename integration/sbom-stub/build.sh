#!/usr/bin/env bash
# Builds the stub SBOM generator (scan.sh on Debian's static busybox,
# busybox-static) with the tests' Docker 26 (integration/engine.sh) and
# pushes it, for `docker buildx build --sbom=generator=IMAGE`: a local
# stand-in for docker/buildkit-syft-scanner, which lives on a registry the
# tests cannot reach.
#   integration/sbom-stub/build.sh [IMAGE]   # default localhost:5000/modelpack-test/sbom-stub:1
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
IMAGE="${1:-localhost:5000/modelpack-test/sbom-stub:1}"
[ -x /bin/busybox ] || { echo "sbom-stub: /bin/busybox missing (apt-get install busybox-static)" >&2; exit 1; }
export PATH="/usr/sbin:/usr/bin:$PATH"   # Debian's docker, see engine.sh
export DOCKER_HOST="${MODELPACK_DOCKER_HOST:-unix:///run/modelpack-docker26.sock}"
ctx="$(mktemp -d /tmp/modelpack-sbom-stub.XXXXXX)"
trap 'rm -rf "$ctx"' EXIT
cp /bin/busybox "$here/Dockerfile" "$here/scan.sh" "$ctx/"
docker build --quiet -t "$IMAGE" "$ctx" >/dev/null
docker push --quiet "$IMAGE" >/dev/null
echo "$IMAGE"
