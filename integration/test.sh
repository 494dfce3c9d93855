#!/usr/bin/env bash
# The one test command: formatting and lints, unit tests, the fake hub's
# fidelity tests, the frontend image, and the end-to-end tests against real
# docker buildx.
#
#   integration/test.sh
#
# Needs root on a Debian host (integration/engine.sh installs and starts the
# tests' own dockerd 26 on unix:///run/modelpack-docker26.sock and a registry
# on 127.0.0.1:5000 when they are not running; a dockerd on the default
# socket is never used or touched).
#
# Environment:
#   MODELPACK_IMAGE               frontend image to build, push and test
#                                 (default localhost:5000/modelpack-frontend:dev)
#   MODELPACK_BUILD_TIMEOUT_SECS  per-build timeout in the e2e tests (default 120)
#   MODELPACK_KEEP_TMP=1          keep the e2e tests' temp dirs
#   TEST_THREADS                  e2e test threads (default: cargo's, one per CPU)
#   FUZZ_SECONDS                  seconds per fuzz target (default 5)
#   MODELPACK_CLI                 CLI binary the CLI tests run (default: dist/modelpack-frontend,
#                                 the static binary build-image.sh puts in the image)
#   MODELPACK_ENGINE=next         run the e2e tests on Docker 28 (default: Docker 26;
#                                 tests/engines.rs and tests/subrequests.rs use both)
#
# Tests that need a tool (docker-registry, skopeo, oras, crane, gzip, …)
# skip without it on a developer's machine but fail when CI=true.
#
# The linux/arm64 binary and image are tested under emulation by the
# opt-in integration/test-arm64.sh (its cross build is a second release
# compile); this script skips those tests (integration/tests/arm64.rs).
#
# Exits non-zero as soon as a step fails.
set -euo pipefail
cd "$(dirname "$0")/.."

export MODELPACK_IMAGE="${MODELPACK_IMAGE:-localhost:5000/modelpack-frontend:dev}"
started=$SECONDS
current=""
section_started=$SECONDS

# Prints a header; closes the previous section with its duration.
section() {
  if [ -n "$current" ]; then echo "--- done in $((SECONDS - section_started))s: $current"; fi
  current="$1"
  section_started=$SECONDS
  printf '\n=== %s ===\n' "$current"
}

on_exit() {
  local rc=$?
  if [ "$rc" = 0 ]; then
    echo "--- done in $((SECONDS - section_started))s: $current"
    printf '\n=== ALL TESTS PASSED in %ss ===\n' "$((SECONDS - started))"
  else
    printf '\n=== FAILED (exit %s) in: %s; after %ss ===\n' "$rc" "$current" "$((SECONDS - started))" >&2
  fi
}
trap on_exit EXIT

section "lint: cargo fmt --check and cargo clippy -D warnings"
# Before the engines: a formatting or lint failure needs no daemon to show.
for sub in fmt clippy; do
  if ! cargo "$sub" --version >/dev/null 2>&1; then
    echo "cargo $sub is missing: install it with 'rustup component add rustfmt clippy'" >&2
    exit 1
  fi
done
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

section "lint: actionlint (workflows, examples/ci) and shellcheck (the scripts they call)"
command -v shellcheck >/dev/null || { echo "shellcheck is missing: apt-get install shellcheck" >&2; exit 1; }
integration/actionlint.sh
shellcheck -x examples/ci/publish.sh integration/release.sh integration/release-local.sh \
  integration/check-release-image.sh integration/build-image-multiarch.sh \
  integration/build-binaries.sh integration/actionlint.sh

section "engine: dockerd + registry (integration/engine.sh)"
integration/engine.sh

section "second engine: Docker 28 + buildx 0.29 beside it (integration/engine-next.sh)"
integration/engine-next.sh

section "third engine: Docker 28 with the containerd image store (integration/engine-store.sh)"
integration/engine-store.sh

# crane (Debian sid only) comes unpacked with the second engine.
export CRANE="${CRANE:-/opt/modelpack-engine-28/usr/bin/crane}"

section "python requirements (integration/fakehub/requirements.txt)"
req=integration/fakehub/requirements.txt  # also the trust tests' validators
# Only call pip when a pinned requirement is missing or at another version.
if python3 - "$req" <<'EOF'
import sys
from importlib.metadata import version, PackageNotFoundError
for line in open(sys.argv[1]):
    spec = line.split("#", 1)[0].strip()
    if not spec:
        continue
    name, _, want = spec.partition("==")
    try:
        have = version(name.split("[", 1)[0].strip())
    except PackageNotFoundError:
        sys.exit(1)
    if want and have != want.strip():
        sys.exit(1)
EOF
then
  echo "already satisfied"
else
  python3 -m pip install -q --disable-pip-version-check -r "$req"
  echo "installed"
fi

section "unit tests (cargo test --workspace)"
cargo test --workspace --locked

section "fake hub fidelity tests (pytest integration/fakehub)"
python3 -m pytest -q integration/fakehub

section "frontend image: build and push $MODELPACK_IMAGE (integration/build-image.sh)"
IMAGE="$MODELPACK_IMAGE" integration/build-image.sh

section "release, locally: amd64 image index signed with a local key (ARCHES=amd64 integration/release-local.sh)"
# The release scripts against 127.0.0.1:5000 (the arm64 cross build is the
# opt-in full run: integration/release-local.sh without ARCHES).
ARCHES=amd64 integration/release-local.sh

section "fresh build cache (docker buildx prune -af on the test engines only)"
# BuildKit slows down as its snapshot count grows (one per fetched file), so
# the test engines start every run from an empty build cache. Only the
# engines engine.sh and engine-next.sh started are pruned (by their own
# sockets), never the machine's default docker.
DOCKER_HOST=unix:///run/modelpack-docker26.sock PATH="/usr/sbin:/usr/bin:$PATH" \
  docker buildx prune -af >/dev/null
DOCKER_HOST=unix:///run/modelpack-docker28.sock DOCKER_CONFIG=/opt/modelpack-engine-28/docker-config \
  /opt/modelpack-engine-28/usr/bin/docker buildx prune -af >/dev/null
DOCKER_HOST=unix:///run/modelpack-docker28s.sock DOCKER_CONFIG=/opt/modelpack-engine-28/docker-config \
  /opt/modelpack-engine-28/usr/bin/docker buildx prune -af >/dev/null
# A frontend image an earlier run left in Docker 28.5's image stores (the
# bundle tests `docker run` it there) would be used instead of the one just
# pushed: the classic worker resolves an unpinned docker-image:// from its
# image store first. Untag it so every engine runs this build's frontend.
for sock in modelpack-docker28 modelpack-docker28s; do
  DOCKER_HOST=unix:///run/$sock.sock DOCKER_CONFIG=/opt/modelpack-engine-28/docker-config \
    /opt/modelpack-engine-28/usr/bin/docker image rm "$MODELPACK_IMAGE" >/dev/null 2>&1 || true
done

section "registry client against real docker-registry set-ups (cargo test -p oci-registry -- --ignored)"
# Plain HTTP, Basic auth over TLS and token auth registries on loopback,
# started and stopped by the tests themselves.
cargo test --locked -p oci-registry -- --ignored

section "fuzzing every parser of untrusted input briefly (integration/fuzz.sh ${FUZZ_SECONDS:-5})"
# Seconds per target; run integration/fuzz.sh with a larger number for a
# long campaign (see docs/development.md, Fuzzing).
integration/fuzz.sh "${FUZZ_SECONDS:-5}"

section "end-to-end tests against docker buildx (cargo test -p integration -- --ignored)"
# The CLI tests run the very binary the frontend image holds.
export MODELPACK_CLI="${MODELPACK_CLI:-$PWD/dist/modelpack-frontend}"
threads=()
if [ -n "${TEST_THREADS:-}" ]; then threads=(--test-threads "$TEST_THREADS"); fi
# --skip arm64_: the emulated arm64 tests, run by integration/test-arm64.sh.
cargo test --locked -p integration -- --ignored --skip arm64_ "${threads[@]}"
