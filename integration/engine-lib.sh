# Shell functions shared by integration/engine.sh, engine-next.sh and
# engine-store.sh, which
# source this file after setting: CONF_DIR, CTR_SOCK, CONTAINERD_LOG, SOCK,
# DATA, EXEC, DOCKERD_LOG, and defining log() and die(). DOCKER_HOST points
# at $SOCK, so `docker info` asks the engine being started. The scripts that
# build on the store engine (build-image-multiarch.sh, check-release-image.sh)
# source it for use_store_engine_docker only.

# Sets DOCKER (and DOCKER_CONFIG) to Docker 28.5's client when the caller
# gave none, and DOCKER_HOST to the containerd-store engine
# (integration/engine-store.sh) when it is running and none was given.
use_store_engine_docker() {
  local next_root=/opt/modelpack-engine-28
  if [ -z "${DOCKER:-}" ]; then
    if [ -x "$next_root/usr/bin/docker" ]; then
      DOCKER="$next_root/usr/bin/docker"
      export DOCKER_CONFIG="${DOCKER_CONFIG:-$next_root/docker-config}"
    else
      DOCKER=docker
    fi
  fi
  if [ -z "${DOCKER_HOST:-}" ] && [ -S /run/modelpack-docker28s.sock ]; then
    export DOCKER_HOST=unix:///run/modelpack-docker28s.sock
  fi
}

# Waits up to $1 seconds for command "${@:2}" to succeed.
wait_for() {
  local timeout=$1; shift
  for _ in $(seq "$timeout"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  return 1
}

# Starts containerd binary $1 with $CONF_DIR/containerd.toml unless one
# already answers on $CTR_SOCK.
start_containerd() {
  local bin=$1
  ctr --address "$CTR_SOCK" version >/dev/null 2>&1 && return 0
  log "starting containerd $("$bin" --version | awk '{print $3}') (log: $CONTAINERD_LOG)"
  nohup "$bin" --config "$CONF_DIR/containerd.toml" >>"$CONTAINERD_LOG" 2>&1 </dev/null &
  wait_for 30 ctr --address "$CTR_SOCK" version \
    || die "containerd did not answer on $CTR_SOCK within 30s; see $CONTAINERD_LOG"
}

# Starts dockerd binary $1 (named $2 in messages) on $SOCK with its own
# empty daemon.json, data root, exec root and pid file, on $CTR_SOCK, with
# no default bridge and no iptables, unless it already answers.
start_dockerd() {
  local bin=$1 name=$2
  [ -f "$CONF_DIR/daemon.json" ] || echo '{}' >"$CONF_DIR/daemon.json"
  docker info >/dev/null 2>&1 && return 0
  log "starting $name on $SOCK (log: $DOCKERD_LOG)"
  nohup "$bin" \
    --config-file "$CONF_DIR/daemon.json" \
    -H "unix://$SOCK" \
    --containerd "$CTR_SOCK" \
    --data-root "$DATA" \
    --exec-root "$EXEC" \
    --pidfile "$EXEC/dockerd.pid" \
    --bridge=none --iptables=false --ip6tables=false --ip-forward=false --userland-proxy=false \
    >>"$DOCKERD_LOG" 2>&1 </dev/null &
  wait_for 60 docker info \
    || die "$name did not come up on $SOCK within 60s; see $DOCKERD_LOG"
}

# Writes $CONF_DIR/containerd.toml for a containerd of the engine's own
# (root under $DATA, state and sockets under $EXEC, CRI off). $1: the
# config version, 2 (containerd 1.x) or 3 (containerd 2.x).
write_containerd_config() {
  local version=$1 disabled='"io.containerd.grpc.v1.cri"'
  [ "$version" = 3 ] && disabled="$disabled, \"io.containerd.cri.v1.images\", \"io.containerd.cri.v1.runtime\""
  mkdir -p "$CONF_DIR" "$DATA" "$EXEC/containerd"
  cat >"$CONF_DIR/containerd.toml" <<TOML
version = $version
root = "$DATA/containerd"
state = "$EXEC/containerd/state"
disabled_plugins = [$disabled]

[grpc]
  address = "$CTR_SOCK"

[ttrpc]
  address = "$CTR_SOCK.ttrpc"

[debug]
  address = "$EXEC/containerd/debug.sock"
TOML
}
