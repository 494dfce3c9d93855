#!/usr/bin/env bash
# A release, as .github/workflows/release.yml runs it for a tag v*:
#
# 1. the static binaries (integration/build-binaries.sh), copied to
#    dist/release/modelpack-frontend-linux-{amd64,arm64} with SHA256SUMS;
# 2. the multi-arch frontend image, pushed to $IMAGE_REPO:$TAG with
#    BuildKit's provenance attestation (mode=max), by a docker-container
#    builder (integration/build-image-multiarch.sh);
# 3. the image checked: one manifest per platform, each holding exactly
#    the released binary of its architecture (by SHA256SUMS);
# 4. a cosign signature of the pushed index (by digest), verified:
#    keyless on GitHub (the workflow's OIDC identity), or with a key of
#    your own (SIGN_KEY; offline, no transparency log);
# 5. the binaries and SHA256SUMS attached to the GitHub release $TAG
#    (created when missing).
#
#   TAG=v0.1.0 IMAGE_REPO=ghcr.io/you/modelpack-frontend integration/release.sh
#
# Needs docker with buildx (logged in to the registry), cosign, python3,
# gh (GH_TOKEN) for step 5 and, for the arm64 cross build, rustup and
# apt-get (through sudo when not root).
#
# Environment:
#   TAG              the release tag (default GITHUB_REF_NAME)
#   IMAGE_REPO       the image repository, e.g. ghcr.io/you/modelpack-frontend
#   ARCHES           default "amd64 arm64"; "amd64" for a quick run without the
#                    arm64 cross build (a second release compile)
#   SIGN_KEY         a cosign private key (cosign generate-key-pair; its password
#                    in COSIGN_PASSWORD): sign with it, without uploading to the
#                    transparency log, and verify with SIGN_KEY's .pub beside it.
#                    Unset: keyless (GitHub Actions' id-token), verified against
#                    the workflow's identity (GITHUB_WORKFLOW_REF)
#   BUILDER          buildx builder (default modelpack-release, a docker-container
#                    builder created when missing); empty: the engine's docker driver
#                    (which builds multi-platform images only with the containerd
#                    image store, as integration/engine-store.sh runs Docker 28.5)
#   DOCKER, DOCKER_HOST  as for integration/build-image-multiarch.sh
#   GITHUB_RELEASE=0 skip step 5
#   NO_PUBLISH=1     stop after step 1
#
# A local run (integration/release-local.sh does it and checks the result):
#   TAG=v0.0.0-local IMAGE_REPO=127.0.0.1:5000/modelpack-frontend-release \
#   SIGN_KEY=cosign.key COSIGN_PASSWORD=… BUILDER= GITHUB_RELEASE=0 integration/release.sh
set -euo pipefail
cd "$(dirname "$0")/.."
TAG="${TAG:-${GITHUB_REF_NAME:-}}"
[ -n "$TAG" ] || { echo "TAG is not set" >&2; exit 1; }
IMAGE_REPO="${IMAGE_REPO:?IMAGE_REPO is not set, e.g. ghcr.io/you/modelpack-frontend}"
ARCHES="${ARCHES:-amd64 arm64}"
BUILDER="${BUILDER-modelpack-release}"
log() { printf '\n=== %s ===\n' "$*" >&2; }
die() { echo "release.sh: ERROR: $*" >&2; exit 1; }
if [ -n "${SIGN_KEY:-}" ]; then
  [ -f "$SIGN_KEY" ] || die "SIGN_KEY=$SIGN_KEY: no such file"
  [ -f "${SIGN_KEY%.key}.pub" ] || die "no public key ${SIGN_KEY%.key}.pub beside SIGN_KEY"
fi

log "static binaries ($ARCHES)"
ARCHES="$ARCHES" integration/build-binaries.sh
rm -rf dist/release
mkdir -p dist/release
platforms=""
for arch in $ARCHES; do
  cp "dist/linux-$arch/modelpack-frontend" "dist/release/modelpack-frontend-linux-$arch"
  platforms="${platforms:+$platforms,}linux/$arch"
done
(cd dist/release && sha256sum modelpack-frontend-linux-* >SHA256SUMS && cat SHA256SUMS)
[ "${NO_PUBLISH:-}" = 1 ] && exit 0

log "multi-arch image $IMAGE_REPO:$TAG ($platforms)"
create=()
[ -z "$BUILDER" ] || create=(BUILDER="$BUILDER" CREATE_BUILDER=1)
pushed="$(env "${create[@]}" SKIP_BINARIES=1 PLATFORMS="$platforms" IMAGE="$IMAGE_REPO:$TAG" \
  BUILD_FLAGS="--provenance=mode=max" integration/build-image-multiarch.sh | tail -n 1)"
echo "$pushed"
digest="${pushed##*@}"
[[ "$digest" == sha256:* ]] || die "build-image-multiarch.sh printed no digest: $pushed"
signed="$IMAGE_REPO@$digest"

log "image check: each platform holds its released binary"
integration/check-release-image.sh "$signed" dist/release

if [ -n "${SIGN_KEY:-}" ]; then
  log "cosign sign and verify (key ${SIGN_KEY%.key}.pub, no transparency log)"
  cosign sign --yes --key "$SIGN_KEY" --tlog-upload=false "$signed"
  cosign verify --key "${SIGN_KEY%.key}.pub" --insecure-ignore-tlog "$signed" >/dev/null
else
  log "cosign sign and verify (keyless)"
  cosign sign --yes "$signed"
  [ -n "${GITHUB_WORKFLOW_REF:-}" ] || die "keyless verification needs GITHUB_WORKFLOW_REF (GitHub Actions); set SIGN_KEY to sign with a key"
  cosign verify "$signed" \
    --certificate-identity "${GITHUB_SERVER_URL:-https://github.com}/$GITHUB_WORKFLOW_REF" \
    --certificate-oidc-issuer https://token.actions.githubusercontent.com >/dev/null
fi
echo "signed and verified $signed" >&2

[ "${GITHUB_RELEASE:-1}" = 0 ] && { echo "$signed"; exit 0; }
log "GitHub release $TAG"
if ! gh release view "$TAG" >/dev/null 2>&1; then
  gh release create "$TAG" --verify-tag --title "$TAG" --notes "Frontend image: \`$IMAGE_REPO:$TAG\` (\`$digest\`)"
fi
gh release upload "$TAG" --clobber dist/release/*
echo "$signed"
