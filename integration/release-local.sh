#!/usr/bin/env bash
# The release, run here against the local registry instead of ghcr.io and
# GitHub: integration/release.sh with a fresh cosign key pair (offline:
# no Fulcio, no transparency log), then checks of what it published.
#
#   integration/release-local.sh               # the full multi-arch release (arm64 cross build)
#   ARCHES=amd64 integration/release-local.sh  # amd64 only (integration/test.sh runs this)
#
# Checks, besides what release.sh checks itself (the binaries against
# SHA256SUMS and the image index; cosign verify with the key):
# - the released amd64 binary runs (`--version`);
# - the signature verifies by tag too, and not with another key;
# - the pushed index is signed by digest only: a signature check of an
#   index pushed after it (another digest) fails.
#
# Environment: ARCHES (default "amd64 arm64"), IMAGE_REPO (default
# 127.0.0.1:5000/modelpack-frontend-release), TAG (default
# v0.0.0-local-<unix time>). Needs the engines (integration/engine.sh,
# engine-next.sh and engine-store.sh, as root) and cosign; the image is
# built by Docker 28.5 with the containerd image store (its docker driver
# builds multi-platform images).
set -euo pipefail
cd "$(dirname "$0")/.."
export ARCHES="${ARCHES:-amd64 arm64}"
export IMAGE_REPO="${IMAGE_REPO:-127.0.0.1:5000/modelpack-frontend-release}"
export TAG="${TAG:-v0.0.0-local-$(date +%s)}"
log() { printf '[release-local] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
command -v cosign >/dev/null || die "cosign is missing (integration/engine.sh installs it)"
[ -S /run/modelpack-docker28s.sock ] || die "no store engine: run integration/engine-store.sh (as root)"
KEYS="$(mktemp -d)"
trap 'rm -rf "$KEYS"' EXIT
COSIGN_PASSWORD="$(head -c 18 /dev/urandom | base64)"
export COSIGN_PASSWORD
(cd "$KEYS" && cosign generate-key-pair >/dev/null 2>&1 && mkdir other && cd other && cosign generate-key-pair >/dev/null 2>&1)

signed="$(SIGN_KEY="$KEYS/cosign.key" BUILDER="" GITHUB_RELEASE=0 DOCKER_HOST=unix:///run/modelpack-docker28s.sock \
  integration/release.sh | tail -n 1)"
log "released $signed"

if [[ " $ARCHES " == *" amd64 "* ]] && [ "$(uname -m)" = x86_64 ]; then
  dist/release/modelpack-frontend-linux-amd64 --version >&2 || die "the released amd64 binary does not run"
fi
cosign verify --key "$KEYS/cosign.pub" --insecure-ignore-tlog "$IMAGE_REPO:$TAG" >/dev/null 2>&1 ||
  die "the signature does not verify by tag"
if cosign verify --key "$KEYS/other/cosign.pub" --insecure-ignore-tlog "$signed" >/dev/null 2>&1; then
  die "the signature verifies with another key"
fi
# Another index under the same tag (a rebuild with one more label) is not signed.
NEXT_ROOT=/opt/modelpack-engine-28
plat="$(python3 -c 'import sys; print(",".join("linux/" + a for a in sys.argv[1].split()))' "$ARCHES")"
other="$(SKIP_BINARIES=1 PLATFORMS="$plat" IMAGE="$IMAGE_REPO:$TAG-unsigned" \
  BUILD_FLAGS="--label org.opencontainers.image.revision=unsigned-$TAG" DOCKER_HOST=unix:///run/modelpack-docker28s.sock \
  DOCKER="$NEXT_ROOT/usr/bin/docker" integration/build-image-multiarch.sh | tail -n 1)"
[ "${other##*@}" != "${signed##*@}" ] || die "the unsigned rebuild has the signed digest"
if cosign verify --key "$KEYS/cosign.pub" --insecure-ignore-tlog "$other" >/dev/null 2>&1; then
  die "an index that was never signed verifies"
fi
log "ok: $signed released, signed and verified ($ARCHES)"
