#!/usr/bin/env bash
# Builds the static modelpack-frontend binaries, one per architecture, and
# checks each is a static executable for its machine:
#
#   dist/linux-amd64/modelpack-frontend   x86_64-unknown-linux-gnu, glibc linked statically
#   dist/linux-arm64/modelpack-frontend   aarch64-unknown-linux-musl, static by default
#
# The binary for this machine's architecture is also copied to
# dist/modelpack-frontend, the CLI the tests run (MODELPACK_CLI).
#
#   integration/build-binaries.sh              # both
#   ARCHES=arm64 integration/build-binaries.sh # only arm64 (amd64, arm64, or both)
#
# The arm64 build needs the Rust target (`rustup target add
# aarch64-unknown-linux-musl`) and a C cross compiler for the crates with C
# code (zstd-sys, ring): Debian's gcc-aarch64-linux-gnu, which also links,
# and the target's libc headers (libc6-dev-arm64-cross).
# All are installed when missing (the package with apt-get, through sudo
# when not root; nothing is installed when they are present).
# CARGO_TARGET_DIR is honoured.
set -euo pipefail
cd "$(dirname "$0")/.."
ARCHES="${ARCHES:-amd64 arm64}"
TARGET_DIR="${CARGO_TARGET_DIR:-target}"

log() { printf '[build-binaries] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Rust triple, ELF machine (as readelf -h names it) and C toolchain per arch.
triple() {
  case "$1" in
    amd64) echo x86_64-unknown-linux-gnu ;;
    arm64) echo aarch64-unknown-linux-musl ;;
    *) die "unknown arch $1 (amd64 or arm64)" ;;
  esac
}
machine() {
  case "$1" in
    amd64) echo 'Advanced Micro Devices X86-64' ;;
    arm64) echo 'AArch64' ;;
  esac
}

# Installs the Debian packages in "$@" that are missing (root only).
need_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed' \
      || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null \
      || die "missing packages ${missing[*]}: install them (as root: apt-get install ${missing[*]})"
    sudo=(sudo)
  fi
  log "installing: ${missing[*]}"
  "${sudo[@]}" apt-get update -q
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# Adds the Rust target when the active toolchain lacks it.
need_rust_target() {
  if ! rustup target list --installed 2>/dev/null | grep -qx "$1"; then
    log "adding Rust target $1"
    rustup target add "$1"
  fi
}

# Fails unless $1 is a static executable for arch $2: no program
# interpreter, no shared libraries needed, the right machine.
check_static() {
  local bin="$1" arch="$2" want
  want="$(machine "$arch")"
  readelf -h "$bin" | grep -q "Machine: *$want\$" \
    || die "$bin is not an $arch binary: $(readelf -h "$bin" | grep Machine)"
  if readelf -l "$bin" | grep -q 'Requesting program interpreter'; then
    die "$bin asks for a program interpreter (dynamically linked); it cannot run FROM scratch"
  fi
  if readelf -d "$bin" 2>/dev/null | grep -q '(NEEDED)'; then
    die "$bin needs shared libraries: $(readelf -d "$bin" | grep '(NEEDED)' | tr -s ' ')"
  fi
  log "$bin: static, $want"
}

command -v readelf >/dev/null || need_packages binutils
case "$(uname -m)" in
  x86_64) host_arch=amd64 ;;
  aarch64) host_arch=arm64 ;;
  *) host_arch="" ;;
esac
for arch in $ARCHES; do
  t="$(triple "$arch")"
  env=()
  case "$arch" in
    amd64)
      # glibc's static libc.a comes with the host's libc6-dev.
      env=(RUSTFLAGS="-C target-feature=+crt-static")
      if [ "$host_arch" != amd64 ]; then
        die "the amd64 build runs on an x86_64 host only"
      fi
      ;;
    arm64)
      need_rust_target "$t"
      if [ "$host_arch" = arm64 ]; then
        cc=gcc
        command -v "$cc" >/dev/null || need_packages gcc
      else
        cc=aarch64-linux-gnu-gcc
        command -v "$cc" >/dev/null || need_packages gcc-aarch64-linux-gnu
        # The C crates (ring, zstd-sys) need the target's libc headers, which
        # the compiler only recommends: without them gcc falls back to the
        # host's /usr/include and fails (bits/libc-header-start.h).
        [ -e /usr/aarch64-linux-gnu/include/stdint.h ] || need_packages libc6-dev-arm64-cross
      fi
      # musl targets link statically by default; the musl crt and libc come
      # with the Rust target (self-contained), gcc only drives the link.
      env=(
        RUSTFLAGS=
        CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER="$cc"
        CC_aarch64_unknown_linux_musl="$cc"
        AR_aarch64_unknown_linux_musl="${cc%gcc}ar"
      )
      ;;
  esac
  log "cargo build --release --target $t"
  started=$SECONDS
  env "${env[@]}" cargo build --release --locked --target "$t" -p modelpack-frontend
  log "$arch built in $((SECONDS - started))s"
  mkdir -p "dist/linux-$arch"
  cp "$TARGET_DIR/$t/release/modelpack-frontend" "dist/linux-$arch/modelpack-frontend"
  check_static "dist/linux-$arch/modelpack-frontend" "$arch"
  if [ "$arch" = "$host_arch" ]; then
    cp "dist/linux-$arch/modelpack-frontend" dist/modelpack-frontend
  fi
done
