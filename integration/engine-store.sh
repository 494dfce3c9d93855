#!/usr/bin/env bash
# A third engine: the Docker 28.5 that integration/engine-next.sh unpacked,
# started again with the containerd image store
# ("features": {"containerd-snapshotter": true} in its own daemon.json).
# This is the engine whose docker driver exports build caches
# (--cache-to type=registry|local), writes `-o type=oci` and offers MergeOp.
# Debian host, run as root, no systemd. Idempotent: skipped when the daemon
# already answers. Needs integration/engine-next.sh first (for the binaries).
#
#   containerd   : its own, /run/modelpack-d28s/containerd/containerd.sock,
#                  root /var/lib/modelpack-docker28s/containerd
#   dockerd      : unix:///run/modelpack-docker28s.sock, --data-root
#                  /var/lib/modelpack-docker28s, --exec-root /run/modelpack-d28s,
#                  --bridge=none, no iptables,
#                  /etc/modelpack-docker28s/daemon.json with the containerd store
#   client       : the same as engine-next.sh's (docker 28.5, buildx 0.29)
#   logs         : /var/log/modelpack-docker28s.log, /var/log/modelpack-containerd28s.log
#
# Use it:
#   DOCKER_HOST=unix:///run/modelpack-docker28s.sock \
#   DOCKER_CONFIG=/opt/modelpack-engine-28/docker-config \
#   /opt/modelpack-engine-28/usr/bin/docker buildx build …
# The e2e tests do this with Engine::Store (integration/src/engine.rs).
set -euo pipefail

ROOT=/opt/modelpack-engine-28
DATA=/var/lib/modelpack-docker28s
EXEC=/run/modelpack-d28s             # short: unix socket paths are limited to 108 bytes
SOCK=/run/modelpack-docker28s.sock
CTR_SOCK=$EXEC/containerd/containerd.sock
CONF_DIR=/etc/modelpack-docker28s
DOCKERD_LOG=/var/log/modelpack-docker28s.log
CONTAINERD_LOG=/var/log/modelpack-containerd28s.log

export PATH="$ROOT/usr/sbin:$ROOT/usr/bin:/usr/sbin:/usr/bin:/sbin:/bin"
export DOCKER_HOST="unix://$SOCK"
export DOCKER_CONFIG="$ROOT/docker-config"

log() { echo "engine-store.sh: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"
[ -x "$ROOT/usr/sbin/dockerd" ] || die "no $ROOT/usr/sbin/dockerd: run integration/engine-next.sh first"

# shellcheck source=integration/engine-lib.sh
. "$(dirname "$0")/engine-lib.sh"

write_containerd_config 3
echo '{"features": {"containerd-snapshotter": true}}' >"$CONF_DIR/daemon.json"
start_containerd "$ROOT/usr/bin/containerd"
v=$("$ROOT/usr/sbin/dockerd" --version)
start_dockerd "$ROOT/usr/sbin/dockerd" "dockerd $(echo "$v" | awk '{print $3}' | tr -d ,) (containerd image store)"

driver=$(docker info --format '{{.DriverStatus}}')
case "$driver" in *io.containerd.snapshotter*) ;; *) die "the daemon on $SOCK does not use the containerd image store (driver status: $driver); see $DOCKERD_LOG";; esac
echo "store engine ready: docker $(docker version --format '{{.Server.Version}}') with the containerd image store; DOCKER_HOST=$DOCKER_HOST DOCKER_CONFIG=$DOCKER_CONFIG"
