#!/usr/bin/env bash
# Builds the frontend image for linux/amd64 and linux/arm64 and pushes both
# as one image index under one reference. The Dockerfile only copies the
# static binary of each platform (dist/linux-<arch>/, built first by
# integration/build-binaries.sh), so no emulation is needed.
#
#   integration/build-image-multiarch.sh
#   IMAGE=ghcr.io/you/modelpack-frontend:v1 integration/build-image-multiarch.sh
#
# Environment:
#   IMAGE            reference to push (default 127.0.0.1:5000/modelpack-frontend:multi-test)
#   PLATFORMS        default linux/amd64,linux/arm64
#   DOCKER           docker client (default: Docker 28's from integration/engine-next.sh
#                    when present, else docker on PATH)
#   DOCKER_HOST      engine (default: unix:///run/modelpack-docker28s.sock, Docker 28 with
#                    the containerd image store, whose docker driver builds multi-platform
#                    images, when that socket exists; else docker's own default)
#   BUILDER          buildx builder to use (default: the current one); CREATE_BUILDER=1
#                    creates a docker-container builder of that name first (for an engine
#                    without the containerd image store, such as a CI runner's)
#   BUILD_FLAGS      more `docker buildx build` flags, e.g. "--provenance=mode=max --sbom=true"
#   SKIP_BINARIES=1  use the binaries already in dist/ instead of building them
#
# Prints the index digest as the last line: `<IMAGE>@sha256:…`.
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE="${IMAGE:-127.0.0.1:5000/modelpack-frontend:multi-test}"
PLATFORMS="${PLATFORMS:-linux/amd64,linux/arm64}"
# shellcheck source=integration/engine-lib.sh
. "$(dirname "$0")/engine-lib.sh"
use_store_engine_docker

log() { printf '[build-image-multiarch] %s\n' "$*" >&2; }

if ! "$DOCKER" version >/dev/null 2>&1; then
  log "no docker daemon answers on ${DOCKER_HOST:-the default socket}; run integration/engine-store.sh (as root) first"
  exit 1
fi

if [ "${SKIP_BINARIES:-}" != 1 ]; then
  arches=""
  IFS=, read -ra plats <<<"$PLATFORMS"
  for p in "${plats[@]}"; do arches="$arches ${p#linux/}"; done
  ARCHES="$arches" integration/build-binaries.sh
fi

builder=()
if [ -n "${BUILDER:-}" ]; then
  if [ "${CREATE_BUILDER:-}" = 1 ] && ! "$DOCKER" buildx inspect "$BUILDER" >/dev/null 2>&1; then
    "$DOCKER" buildx create --name "$BUILDER" --driver docker-container >/dev/null
  fi
  builder=(--builder "$BUILDER")
fi

metadata="$(mktemp)"
trap 'rm -f "$metadata"' EXIT
# shellcheck disable=SC2086  # BUILD_FLAGS is a list of flags
"$DOCKER" buildx build "${builder[@]}" --platform "$PLATFORMS" \
  --metadata-file "$metadata" --push -t "$IMAGE" ${BUILD_FLAGS:-} .
digest="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["containerimage.digest"])' "$metadata")"
log "pushed $IMAGE ($PLATFORMS)"
echo "${IMAGE%%@*}@$digest"
