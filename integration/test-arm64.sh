#!/usr/bin/env bash
# The arm64 tests, under emulation (opt-in: integration/test.sh does not run
# them, the arm64 release build alone takes longer than CI can spare):
#
#   integration/test-arm64.sh
#
# 1. starts the engines when they are not running (engine.sh, engine-next.sh,
#    engine-store.sh; crane comes with engine-next.sh);
# 2. installs qemu-user-static and binfmt-support when missing and makes
#    sure the kernel's binfmt_misc runs aarch64 binaries through qemu;
# 3. builds both static binaries and pushes the multi-arch frontend image
#    (integration/build-image-multiarch.sh, to $MODELPACK_MULTIARCH_IMAGE);
# 4. runs integration/tests/arm64.rs: the arm64 CLI packs the same manifest
#    as the amd64 one (every layer format, several CPU counts), and the
#    arm64 frontend image answers `--call targets` on Docker 28.5.
#
# Needs root on a Debian host, like integration/test.sh.
#
# Environment:
#   MODELPACK_MULTIARCH_IMAGE  index to build, push and test
#                              (default 127.0.0.1:5000/modelpack-frontend:multi-test)
set -euo pipefail
cd "$(dirname "$0")/.."
export MODELPACK_MULTIARCH_IMAGE="${MODELPACK_MULTIARCH_IMAGE:-127.0.0.1:5000/modelpack-frontend:multi-test}"
started=$SECONDS
log() { printf '\n=== %s (%ss) ===\n' "$*" "$((SECONDS - started))"; }

log "engines"
integration/engine.sh
integration/engine-next.sh
integration/engine-store.sh
export CRANE="${CRANE:-/opt/modelpack-engine-28/usr/bin/crane}"

log "qemu-user-static and binfmt_misc"
missing=()
for p in qemu-user-static binfmt-support; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed' || missing+=("$p")
done
if [ ! -e /proc/sys/fs/binfmt_misc/status ]; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
fi
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  update-binfmts --enable qemu-aarch64
fi
cat /proc/sys/fs/binfmt_misc/qemu-aarch64

log "static binaries and the multi-arch image ($MODELPACK_MULTIARCH_IMAGE)"
IMAGE="$MODELPACK_MULTIARCH_IMAGE" integration/build-image-multiarch.sh

log "arm64 tests (cargo test -p integration --test arm64 -- --ignored)"
# The script installed what the tests need: a skip would be a false pass.
export CI=true
export MODELPACK_CLI="$PWD/dist/linux-amd64/modelpack-frontend"
export MODELPACK_ARM64_CLI="$PWD/dist/linux-arm64/modelpack-frontend"
cargo test --locked -p integration --test arm64 -- --ignored
log "arm64 tests passed"
