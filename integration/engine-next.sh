#!/usr/bin/env bash
# A second, newer engine beside the one integration/engine.sh starts: Docker
# 28 and buildx 0.29 from Debian sid, unpacked into a private root (never
# installed over Docker 26), with its own containerd, data, sockets and logs.
# Debian bookworm host, run as root, no systemd. Idempotent: every step is
# skipped when already done (packages unpacked, daemons answering).
#
#   apt source   : sid from this machine's own mirror, pinned at priority 1
#                  (/etc/apt/sources.list.d/modelpack-sid.sources), so apt
#                  never installs or upgrades anything from it
#   packages     : docker.io docker-cli docker-buildx containerd (sid),
#                  `apt-get download`ed into /var/cache/modelpack-engine-28 and
#                  `dpkg-deb -x`ed into /opt/modelpack-engine-28; runc is the
#                  host's (sid's runc needs a newer glibc than bookworm's)
#   containerd   : its own, /run/modelpack-d28/containerd/containerd.sock,
#                  root /var/lib/modelpack-docker28/containerd
#   dockerd      : unix:///run/modelpack-docker28.sock, --data-root
#                  /var/lib/modelpack-docker28, --exec-root /run/modelpack-d28,
#                  --bridge=none, no iptables, its own (empty) daemon.json
#   client       : /opt/modelpack-engine-28/usr/bin/docker with
#                  DOCKER_CONFIG=/opt/modelpack-engine-28/docker-config
#                  (cli-plugins/docker-buildx → the unpacked buildx 0.29)
#   logs         : /var/log/modelpack-docker28.log, /var/log/modelpack-containerd28.log
#
# Use it:
#   DOCKER_HOST=unix:///run/modelpack-docker28.sock \
#   DOCKER_CONFIG=/opt/modelpack-engine-28/docker-config \
#   /opt/modelpack-engine-28/usr/bin/docker buildx build …
# The e2e tests do this with MODELPACK_ENGINE=next (integration/src/engine.rs).
# It pulls the frontend image from 127.0.0.1:5000 (plain HTTP is allowed
# for loopback by default); it needs no other network.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

ROOT=/opt/modelpack-engine-28
CACHE=/var/cache/modelpack-engine-28
DATA=/var/lib/modelpack-docker28
EXEC=/run/modelpack-d28              # short: unix socket paths are limited to 108 bytes
SOCK=/run/modelpack-docker28.sock
CTR_SOCK=$EXEC/containerd/containerd.sock
CONF_DIR=/etc/modelpack-docker28
DOCKERD_LOG=/var/log/modelpack-docker28.log
CONTAINERD_LOG=/var/log/modelpack-containerd28.log
SID_SRC=/etc/apt/sources.list.d/modelpack-sid.sources
SID_PIN=/etc/apt/preferences.d/modelpack-sid-pin
PKGS=(docker.io docker-cli docker-buildx containerd crane)  # crane: an interop client for the registry tests
# Expected upstream major versions; the script fails loudly when sid moves on.
WANT_DOCKER=28.
WANT_BUILDX=0.29.

# The engine's own binaries first; runc from the host.
export PATH="$ROOT/usr/sbin:$ROOT/usr/bin:/usr/sbin:/usr/bin:/sbin:/bin"
export DOCKER_HOST="unix://$SOCK"
export DOCKER_CONFIG="$ROOT/docker-config"

log() { echo "engine-next.sh: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"

# shellcheck source=integration/engine-lib.sh
. "$(dirname "$0")/engine-lib.sh"

# --- 1. apt: sid source, pinned at 1 so nothing is ever installed from it ----
# shellcheck source=integration/debian-source.sh
. "$(dirname "$0")/debian-source.sh"
need_update=0
if [ ! -f "$SID_SRC" ]; then
  read -r mirror keyring < <(debian_archive_source | head -n 1) || true
  [ -n "${mirror:-}" ] || die "no Debian bookworm entry in /etc/apt/sources.list or sources.list.d; add one (or write $SID_SRC yourself)"
  [ "$keyring" != "-" ] || keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  log "adding sid from this machine's Debian mirror $mirror (keyring $keyring), pinned at 1"
  cat >"$SID_SRC" <<EOF
Types: deb
URIs: $mirror
Suites: sid
Components: main
Signed-By: $keyring
EOF
  need_update=1
fi
if [ ! -f "$SID_PIN" ]; then
  printf 'Package: *\nPin: release n=sid\nPin-Priority: 1\n' >"$SID_PIN"
fi

# --- 2. download and unpack (never install) ---------------------------------
if [ ! -x "$ROOT/usr/sbin/dockerd" ] || [ ! -x "$ROOT/usr/bin/containerd" ] \
  || [ ! -x "$ROOT/usr/bin/docker" ] || [ ! -x "$ROOT/usr/libexec/docker/cli-plugins/docker-buildx" ] \
  || [ ! -x "$ROOT/usr/bin/crane" ]; then
  if [ "$need_update" = 1 ] || ! apt-cache show docker.io/sid >/dev/null 2>&1; then
    apt-get update -q
  fi
  mkdir -p "$CACHE"
  # _apt cannot write to a root-owned dir; let it (the download is sandboxed).
  chown _apt "$CACHE" 2>/dev/null || true
  log "downloading ${PKGS[*]} from sid into $CACHE"
  (cd "$CACHE" && rm -f ./*.deb && apt-get download -q "${PKGS[@]/%//sid}")
  rm -rf "$ROOT.tmp" && mkdir -p "$ROOT.tmp"
  for deb in "$CACHE"/*.deb; do dpkg-deb -x "$deb" "$ROOT.tmp"; done
  rm -rf "$ROOT" && mv "$ROOT.tmp" "$ROOT"
  log "unpacked into $ROOT"
fi
mkdir -p "$DOCKER_CONFIG/cli-plugins"
ln -sfn "$ROOT/usr/libexec/docker/cli-plugins/docker-buildx" "$DOCKER_CONFIG/cli-plugins/docker-buildx"

v=$("$ROOT/usr/sbin/dockerd" --version) || die "the unpacked dockerd does not run: $ROOT/usr/sbin/dockerd"
case "$v" in "Docker version $WANT_DOCKER"*) ;; *) die "expected dockerd $WANT_DOCKER*, got: $v";; esac
command -v runc >/dev/null || die "no runc on PATH; install it (apt-get install runc) or run integration/engine.sh first"

# --- 3. containerd (its own; never Docker 26's) -----------------------------
write_containerd_config 3
start_containerd "$ROOT/usr/bin/containerd"

# --- 4. dockerd 28 -----------------------------------------------------------
# Its own daemon.json (empty), so /etc/docker/daemon.json of Docker 26 never
# applies here.
start_dockerd "$ROOT/usr/sbin/dockerd" "dockerd $(echo "$v" | awk "{print \$3}" | tr -d ,)"

# --- 5. summary --------------------------------------------------------------
dv=$(docker version --format 'client {{.Client.Version}} / server {{.Server.Version}}')
bv=$(docker buildx version | awk '{print $2}')
case "$bv" in "$WANT_BUILDX"*) ;; *) die "expected buildx $WANT_BUILDX*, got: $bv";; esac
bk=$(docker buildx inspect 2>/dev/null | awk -F': *' '/BuildKit/{print $2; exit}')
echo "next engine ready: docker $dv; buildx $bv; buildkit ${bk:-unknown}; DOCKER_HOST=$DOCKER_HOST DOCKER_CONFIG=$DOCKER_CONFIG"
