#!/usr/bin/env bash
# A release, as .github/workflows/release.yml runs it for a tag v*:
#
# 1. both static binaries (integration/build-binaries.sh), copied to
#    dist/release/modelpack-frontend-linux-{amd64,arm64} with SHA256SUMS;
# 2. the multi-arch frontend image, pushed to $IMAGE_REPO:$TAG with
#    BuildKit's provenance attestation (mode=max), by a docker-container
#    builder (integration/build-image-multiarch.sh);
# 3. a keyless cosign signature of the pushed index (by digest);
# 4. the binaries and SHA256SUMS attached to the GitHub release $TAG
#    (created when missing).
#
#   TAG=v0.1.0 IMAGE_REPO=ghcr.io/you/modelpack-frontend integration/release.sh
#
# Needs docker with buildx (logged in to the registry), cosign (with an
# OIDC identity: GitHub Actions' id-token), gh (GH_TOKEN) and, for the arm64
# cross build, rustup and apt-get (through sudo when not root).
# NO_PUBLISH=1 stops after step 1.
set -euo pipefail
cd "$(dirname "$0")/.."
TAG="${TAG:-${GITHUB_REF_NAME:-}}"
[ -n "$TAG" ] || { echo "TAG is not set" >&2; exit 1; }
IMAGE_REPO="${IMAGE_REPO:?IMAGE_REPO is not set, e.g. ghcr.io/you/modelpack-frontend}"
log() { printf '\n=== %s ===\n' "$*" >&2; }

log "static binaries"
integration/build-binaries.sh
rm -rf dist/release
mkdir -p dist/release
for arch in amd64 arm64; do
  cp "dist/linux-$arch/modelpack-frontend" "dist/release/modelpack-frontend-linux-$arch"
done
(cd dist/release && sha256sum modelpack-frontend-linux-* >SHA256SUMS && cat SHA256SUMS)
[ "${NO_PUBLISH:-}" = 1 ] && exit 0

log "multi-arch image $IMAGE_REPO:$TAG"
pushed="$(SKIP_BINARIES=1 IMAGE="$IMAGE_REPO:$TAG" BUILDER=modelpack-release CREATE_BUILDER=1 \
  BUILD_FLAGS="--provenance=mode=max" integration/build-image-multiarch.sh | tail -n 1)"
echo "$pushed"

log "cosign sign (keyless)"
cosign sign --yes "$IMAGE_REPO@${pushed##*@}"

log "GitHub release $TAG"
if ! gh release view "$TAG" >/dev/null 2>&1; then
  gh release create "$TAG" --verify-tag --title "$TAG" --notes "Frontend image: \`$IMAGE_REPO:$TAG\` (\`${pushed##*@}\`)"
fi
gh release upload "$TAG" --clobber dist/release/*
