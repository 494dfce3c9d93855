#!/usr/bin/env bash
# Prepare a local Docker/BuildKit engine + OCI registry for integration tests.
# Debian bookworm host, run as root, no systemd. Idempotent: every step is
# skipped when already done (packages present, daemons answering).
#
#   containerd   : its own, /run/modelpack-d26/containerd/containerd.sock,
#                  root /var/lib/modelpack-docker26/containerd
#   dockerd      : Debian docker.io 26.x (from trixie) on
#                  unix:///run/modelpack-docker26.sock, --data-root
#                  /var/lib/modelpack-docker26, --exec-root /run/modelpack-d26,
#                  --bridge=none, no iptables, its own (empty) daemon.json;
#                  never the default /var/run/docker.sock, so a dockerd the
#                  machine already runs is left alone
#   registry     : docker-registry on 127.0.0.1:5000, no auth
#   logs         : /var/log/modelpack-docker26.log, /var/log/modelpack-containerd26.log,
#                  /var/log/modelpack-registry.log
#
# Use it: DOCKER_HOST=unix:///run/modelpack-docker26.sock docker buildx build …
#
# Docker client choice: this host also has a docker 28 client-only binary at
# /usr/local/bin/docker. We put /usr/bin and /usr/sbin first in PATH so that
# `docker`, `dockerd`, `containerd` and `runc` all resolve to the Debian
# packages, and the buildx plugin (/usr/libexec/docker/cli-plugins) belongs to
# the same install. Callers should do the same: `PATH=/usr/bin:$PATH` (or call
# /usr/bin/docker explicitly).
set -euo pipefail
export PATH="/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
export DEBIAN_FRONTEND=noninteractive

# The tests' own engine, beside any dockerd the machine runs on the default
# socket (which the tests never touch).
SOCK=/run/modelpack-docker26.sock
DATA=/var/lib/modelpack-docker26
EXEC=/run/modelpack-d26              # short: unix socket paths are limited to 108 bytes
CTR_SOCK=$EXEC/containerd/containerd.sock
CONF_DIR=/etc/modelpack-docker26
DOCKERD_LOG=/var/log/modelpack-docker26.log
CONTAINERD_LOG=/var/log/modelpack-containerd26.log
export DOCKER_HOST="unix://$SOCK"
REGISTRY_LOG=/var/log/modelpack-registry.log
REGISTRY_DIR=/var/lib/modelpack-registry
REGISTRY_CONF=/etc/docker/registry/modelpack-test.yml
REGISTRY_URL=http://127.0.0.1:5000/v2/

log() { echo "engine.sh: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"

# shellcheck source=integration/engine-lib.sh
. "$(dirname "$0")/engine-lib.sh"

# --- 1. apt: trixie source, pinned low so nothing upgrades by accident -------
need_update=0
TRIXIE_SRC=/etc/apt/sources.list.d/trixie.sources

# debian_archive_source: the machine's own Debian mirror and keyring.
# shellcheck source=integration/debian-source.sh
. "$(dirname "$0")/debian-source.sh"

if [ ! -f "$TRIXIE_SRC" ]; then
  read -r mirror keyring < <(debian_archive_source | head -n 1) || true
  [ -n "${mirror:-}" ] || die "no Debian bookworm entry in /etc/apt/sources.list or sources.list.d; add one (or write $TRIXIE_SRC yourself)"
  [ "$keyring" != "-" ] || keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  log "adding trixie from this machine's Debian mirror $mirror (keyring $keyring), pinned at 50"
  cat >"$TRIXIE_SRC" <<EOF
Types: deb
URIs: $mirror
Suites: trixie
Components: main
Signed-By: $keyring
EOF
  need_update=1
fi
PIN=/etc/apt/preferences.d/trixie-pin
if [ ! -f "$PIN" ]; then
  printf 'Package: *\nPin: release n=trixie\nPin-Priority: 50\n' >"$PIN"
fi

# --- 2. packages -------------------------------------------------------------
# NB: `apt-get install -t trixie ...` raises ALL of trixie to priority 990 and
# drags in ~105 upgrades. Selecting `pkg/trixie` per package with
# --no-install-recommends pulls only docker.io, docker-cli, docker-buildx, oras and
# containerd from trixie (and cosign, for the signing tests); every other dependency comes from bookworm.
TRIXIE_PKGS=(docker.io docker-cli docker-buildx oras cosign)  # oras, cosign: not in bookworm
BOOKWORM_PKGS=(docker-registry skopeo openssl busybox-static)  # openssl: CA and certs for the TLS registry tests; busybox-static: the bundle tests' app image
missing=()
for p in "${TRIXIE_PKGS[@]}" "${BOOKWORM_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed' \
    || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing: ${missing[*]}"
  if [ "$need_update" = 1 ] || ! apt-cache show docker-buildx/trixie >/dev/null 2>&1; then
    apt-get update -q
  fi
  # Never let package scripts auto-start daemons (we start them with our flags).
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get install -y -q --no-install-recommends \
    "${TRIXIE_PKGS[@]/%//trixie}" "${BOOKWORM_PKGS[@]}"
fi
docker buildx version >/dev/null || die "docker buildx plugin not usable"

# --- 3. containerd + dockerd 26 of the tests' own --------------------------
# Never the machine's default engine (/var/run/docker.sock, which may run
# other people's containers): our own containerd and dockerd with their own
# sockets, data, exec roots, pidfile and (empty) daemon.json. With
# --bridge=none, any step left on the default network fails with "network
# bridge not found": our frontend image carries the label
# moby.buildkit.frontend.network.none=true and every step we emit says its
# network mode (none, or host where a test needs loopback).
write_containerd_config 2
start_containerd containerd
start_dockerd dockerd "dockerd"

# --- 4. local registry -------------------------------------------------------
if ! curl -fsS "$REGISTRY_URL" >/dev/null 2>&1; then
  mkdir -p "$REGISTRY_DIR" "$(dirname "$REGISTRY_CONF")"
  cat >"$REGISTRY_CONF" <<EOF
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $REGISTRY_DIR
  delete:
    enabled: true
http:
  addr: 127.0.0.1:5000
EOF
  log "starting docker-registry (log: $REGISTRY_LOG)"
  nohup docker-registry serve "$REGISTRY_CONF" >>"$REGISTRY_LOG" 2>&1 </dev/null &
  wait_for 30 curl -fsS "$REGISTRY_URL" \
    || die "registry did not answer on $REGISTRY_URL within 30s; see $REGISTRY_LOG"
fi

# --- 5. summary --------------------------------------------------------------
dv=$(docker version --format 'client {{.Client.Version}} / server {{.Server.Version}}')
bv=$(docker buildx version | awk '{print $2}')
bk=$(docker buildx inspect 2>/dev/null | awk -F': *' '/BuildKit/{print $2; exit}')
echo "engine ready: docker $dv; buildx $bv; buildkit ${bk:-unknown}; DOCKER_HOST=$DOCKER_HOST; registry 127.0.0.1:5000"
