#!/usr/bin/env bash
# Disk bench (NOT run by CI, never by integration/test.sh): how many bytes
# each way of getting a model into a registry holds on disk, in the engine
# (its data root: BuildKit's cache, snapshots, content store, images) and on
# the client (the folder the docker client or the CLI runs in, HOME and
# TMPDIR included), for the bench repo of the fake Hub (generated shards,
# nothing stored on the hub side) pinned to its commit, raw layers:
#
#   layout+push    output_mode=layout, -o type=local, then the CLI's `push`
#   image          output_mode=image, -o type=image,push=true (the exporter's
#                  default compression, gzip)
#   image-uncomp   the same with compression=uncompressed
#   image-zstd     the same with compression=zstd,force-compression=true
#   stream         the CLI's `push hf://… REF` (no engine)
#
# Each engine run is a fresh repo (new bytes: cold, nothing cached). Two
# measures: the used bytes of the filesystem that holds the engines' data
# roots and the client's folders (`df`, every 0.2 s: cheap, so no peak
# of a second or more is missed; the registry's storage is on tmpfs, so
# it is not counted there; other writers on the machine add noise), which
# gives the peak of engine + client together; and `du -sb` of the
# engine's data root (slow on a big tree, so polled only before and after
# the build: what the build leaves in the engine's cache) and of the
# client's folder (polled, small). Every figure is less its value before
# the run. Then the run's images are removed and
# its build cache records pruned (only records whose description names
# the run's repo, by id, as memory-bench.sh does), so the next run starts
# from the same state. Pushes go to a docker-registry of the bench's own
# (storage in its work folder, emptied between runs); the pushed bytes
# are the registry's storage after the push.
#
#   integration/disk-bench.sh                         # 4 x 1 GiB shards
#   BENCH_SHARD_MB=256 integration/disk-bench.sh      # a quick run
#
# Environment:
#   BENCH_SHARDS (4), BENCH_SHARD_MB (1024)   the weight shards
#   DISK_BENCH_ENGINES ("26 28s")   26: Docker 26 (engine.sh, classic store);
#                                   28: Docker 28.5 classic (engine-next.sh);
#                                   28s: Docker 28.5 with the containerd store
#                                   (engine-store.sh)
#   DISK_BENCH_PATHS ("layout+push image image-uncomp image-zstd")
#   DISK_BENCH_PRUNE (run)   run: after each run remove only its own build
#                            cache records (by id) and image; all: prune the
#                            engine's whole build cache and unused images
#                            (`docker buildx prune -af`, `docker image prune
#                            -af`): on Docker 26 an image run leaves layers no
#                            record names (3 x the model), so a full bench
#                            needs `all` on a machine with less than about
#                            60 GiB free. Only on engines of your own.
#   MODELPACK_IMAGE   the frontend image (default localhost:5000/modelpack-frontend:dev)
#   MODELPACK_CLI     the CLI (default dist/modelpack-frontend)
# Needs root (du of the data roots), docker-registry. Disk: about 3 x the
# model size free on / and 1.5 x on /dev/shm (the registry), checked before
# each run.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SHARDS="${BENCH_SHARDS:-4}"
SHARD_MB="${BENCH_SHARD_MB:-1024}"
ENGINES="${DISK_BENCH_ENGINES-26 28s}"
PATHS="${DISK_BENCH_PATHS:-layout+push image image-uncomp image-zstd}"
PRUNE="${DISK_BENCH_PRUNE:-run}"
case "$PRUNE" in run|all) ;; *) echo "disk-bench: DISK_BENCH_PRUNE is run or all, not $PRUNE" >&2; exit 1 ;; esac
IMAGE="${MODELPACK_IMAGE:-localhost:5000/modelpack-frontend:dev}"
CLI="${MODELPACK_CLI:-$ROOT/dist/modelpack-frontend}"
NEXT_ROOT=/opt/modelpack-engine-28
[ "$(id -u)" = 0 ] || { echo "disk-bench: run as root (du of the engines' data roots)" >&2; exit 1; }
[ -x "$CLI" ] || { echo "disk-bench: $CLI missing; run ARCHES=amd64 integration/build-binaries.sh" >&2; exit 1; }
command -v docker-registry >/dev/null || { echo "disk-bench: docker-registry missing" >&2; exit 1; }
MODEL_BYTES=$((SHARDS * SHARD_MB * 1048576))

# engine <name>: sets DOCKER, DOCKER_HOST, DOCKER_CONFIG, DATA for it.
engine() {
  unset DOCKER_CONFIG
  case "$1" in
    26) DOCKER=/usr/bin/docker; export DOCKER_HOST=unix:///run/modelpack-docker26.sock; DATA=/var/lib/modelpack-docker26 ;;
    28) DOCKER=$NEXT_ROOT/usr/bin/docker; export DOCKER_HOST=unix:///run/modelpack-docker28.sock DOCKER_CONFIG=$NEXT_ROOT/docker-config; DATA=/var/lib/modelpack-docker28 ;;
    28s) DOCKER=$NEXT_ROOT/usr/bin/docker; export DOCKER_HOST=unix:///run/modelpack-docker28s.sock DOCKER_CONFIG=$NEXT_ROOT/docker-config; DATA=/var/lib/modelpack-docker28s ;;
    *) echo "disk-bench: unknown engine $1 (26, 28, 28s)" >&2; exit 1 ;;
  esac
  "$DOCKER" version >/dev/null 2>&1 || { echo "disk-bench: engine $1 does not answer on $DOCKER_HOST" >&2; exit 1; }
}

WORK="$(mktemp -d /tmp/modelpack-disk-bench.XXXXXX)"
# The registry's storage: on tmpfs, outside the filesystem measured.
REGWORK="$(mktemp -d /dev/shm/modelpack-disk-bench.XXXXXX)"
NONCE="$(date +%s)-$$"
PIDS=()
REG_PID=""
cleanup() {
  for p in "${PIDS[@]}" $REG_PID; do kill "$p" 2>/dev/null || true; done
  rm -rf "$WORK" "$REGWORK"
}
trap cleanup EXIT

# ------------------------------------------------------------ the hub --
# One repo per engine run ("disk-<nonce>-<n>"), shards generated from a
# seed of its own, so no run finds another's bytes in a cache.
REPOS="$WORK/repos"; mkdir -p "$REPOS"
declare -A COMMIT
# repo <n>: creates bench/disk-$NONCE-<n>; sets COMMIT[n].
repo() {
  local name="bench/disk-$NONCE-$1" config
  config="$(python3 integration/fakehub/bench_repo.py "$WORK/files-$1.json" "$SHARDS" "$SHARD_MB" "$NONCE-$1" disk --card-only)"
  COMMIT[$1]=$(python3 integration/fakehub/make_repo.py --repos "$REPOS" create "$name" --files-json "$WORK/files-$1.json" --config "$config" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["commit"])')
}
python3 integration/fakehub/fakehub.py --repos "$REPOS" --state-file "$WORK/hub.json" --quiet </dev/null 2>"$WORK/hub.log" &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$WORK/hub.json" ] && break; sleep 0.1; done
EP=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["endpoint"])' "$WORK/hub.json")

# ------------------------------------------------------- the registry --
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
REG="127.0.0.1:$PORT"
# registry_fresh: (re)starts the registry on an empty storage folder.
registry_fresh() {
  if [ -n "$REG_PID" ]; then kill "$REG_PID" 2>/dev/null || true; wait "$REG_PID" 2>/dev/null || true; fi
  rm -rf "$REGWORK/registry"; mkdir -p "$REGWORK/registry"
  cat >"$REGWORK/registry/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $REGWORK/registry/storage
http:
  addr: $REG
  secret: bench-$PORT
EOF
  docker-registry serve "$REGWORK/registry/config.yml" >"$WORK/registry.log" 2>&1 &
  REG_PID=$!
  for _ in $(seq 100); do curl -fsS "http://$REG/v2/" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "disk-bench: the registry did not start" >&2; exit 1
}
pushed_bytes() { du_b "$REGWORK/registry/storage"; }

# ------------------------------------------------------------ helpers --
# du_b PATH…: apparent bytes under the paths; never fails (files that go
# away while du walks them are simply not counted: under `set -e` a failed
# du once ended the bench silently in the middle of a build). `%.0f`, not
# `%d`: mawk's `%d` stops at 2^31 - 1 (every total above 2 GiB read 2047 MiB).
du_b() { { du -sb "$@" 2>/dev/null || true; } | awk '{s += $1} END {printf "%.0f\n", s}'; }
# used_b: used bytes of the filesystem of / (the data roots, the clients).
used_b() { df -B1 --output=used / | tail -1 | tr -d ' '; }
mib() { echo $(( $1 / 1048576 )); }
ratio() { printf '%.2f' "$(echo "$1 / $MODEL_BYTES" | bc -l)"; }
need_disk() {
  local avail; avail=$(df -B1 --output=avail / | tail -1)
  [ "$avail" -ge $((MODEL_BYTES * 3 + 15 * 1073741824)) ] ||
    { echo "disk-bench: only $(mib "$avail") MiB free on /: stopping (needs 3 x the model + 15 GiB)" >&2; exit 1; }
  avail=$(df -B1 --output=avail /dev/shm | tail -1)
  [ "$avail" -ge $((MODEL_BYTES * 3 / 2)) ] ||
    { echo "disk-bench: only $(mib "$avail") MiB free on /dev/shm: stopping (the registry needs 1.5 x the model)" >&2; exit 1; }
}

# measure <label> <client dir> <cmd…>: runs cmd with HOME/TMPDIR/cwd in
# <client dir>, polling the used bytes of / (less USED0, taken here) and
# du of <client dir>; sets T, ALL_PEAK (engine + client), CLI_PEAK.
measure() {
  local label=$1 dir=$2 pid start now u c n=0
  shift 2
  mkdir -p "$dir"
  ALL_PEAK=0 CLI_PEAK=0
  sync; USED0=$(used_b)
  start=$(date +%s.%N)
  ( cd "$dir" && HOME="$dir" TMPDIR="$dir" "$@" </dev/null >"$WORK/$label.out" 2>"$WORK/$label.err" ) &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    u=$(( $(used_b) - USED0 )); if [ "$u" -gt "$ALL_PEAK" ]; then ALL_PEAK=$u; fi
    n=$((n + 1))
    if [ $((n % 5)) = 0 ]; then c=$(du_b "$dir"); if [ "$c" -gt "$CLI_PEAK" ]; then CLI_PEAK=$c; fi; fi
    sleep 0.2
  done
  wait "$pid" || { echo "disk-bench: $label failed:" >&2; tail -30 "$WORK/$label.err" >&2; exit 1; }
  now=$(date +%s.%N)
  T=$(printf '%.1f' "$(echo "$now - $start" | bc)")
  sync
  u=$(( $(used_b) - USED0 )); if [ "$u" -gt "$ALL_PEAK" ]; then ALL_PEAK=$u; fi
  c=$(du_b "$dir"); if [ "$c" -gt "$CLI_PEAK" ]; then CLI_PEAK=$c; fi
  return 0
}

# prune_run <marker> <since>: this run's build cache records only, by id:
# those whose description names the run's repo, the records stacked on
# them (their descriptions do not name it) and the records under them
# created since <since> (epoch seconds: the run's downloads); children
# before parents, three passes.
prune_run() {
  local ids id
  for _ in 1 2 3; do
    ids=$({ "$DOCKER" buildx du --verbose 2>/dev/null || true; } | python3 -c '
import datetime, sys
marker, since = sys.argv[1], float(sys.argv[2])
recs = {}
for rec in sys.stdin.read().split("\n\n"):
    f = dict((k.strip(), v.strip()) for k, v in (l.split(":", 1) for l in rec.strip().splitlines() if ":" in l))
    if f.get("ID"):
        recs[f["ID"].rstrip("*")] = f
def created(f):
    t = f.get("Created at", "").split(" +")[0][:26]
    try:
        return datetime.datetime.strptime(t, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=datetime.timezone.utc).timestamp()
    except ValueError:
        return 0
mine = {i for i, f in recs.items() if marker in f.get("Description", "")}
changed = True
while changed:
    changed = False
    for i, f in recs.items():
        parent = f.get("Parent")
        if i not in mine and parent in mine:
            mine.add(i); changed = True
        if i in mine and parent in recs and parent not in mine and created(recs[parent]) >= since:
            mine.add(parent); changed = True
def depth(i):
    d = 0
    while recs.get(i, {}).get("Parent") in recs:
        i = recs[i]["Parent"]; d += 1
    return d
for i in sorted(mine, key=depth, reverse=True):
    print(i)' "$1" "$2")
    for id in $ids; do "$DOCKER" buildx prune -f --filter "id=$id" >/dev/null 2>&1 || true; done
  done
}

mkdir -p "$WORK/ctx"   # the build context: empty (the source is the Hub)
ROWS=()
row() { printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$@"; }
echo "disk-bench: $SHARDS x $SHARD_MB MiB (fake Hub $EP) to $REG; engines: $ENGINES; paths: $PATHS" >&2

n=0
for eng in $ENGINES; do
  engine "$eng"
  for path in $PATHS; do
    n=$((n + 1))
    need_disk
    repo "$n"
    src="hf://bench/disk-$NONCE-$n@${COMMIT[$n]}"
    curl -fsS "$EP/api/models/bench/disk-$NONCE-$n/revision/${COMMIT[$n]}?blobs=true" >/dev/null  # the hub hashes the shards once
    registry_fresh
    ref="$REG/disk/${path//+/-}:$eng"
    mode=image; output=""
    case "$path" in
      layout+push) mode=layout; output="type=local,dest=$WORK/client-$n/out" ;;
      image) output="type=image,name=$ref,push=true" ;;
      image-uncomp) output="type=image,name=$ref,push=true,compression=uncompressed" ;;
      image-zstd) output="type=image,name=$ref,push=true,compression=zstd,force-compression=true" ;;
      *) echo "disk-bench: unknown path $path" >&2; exit 1 ;;
    esac
    sync
    SINCE=$(date +%s)
    BASE=$(du_b "$DATA")
    USED_BEFORE=$(used_b)
    echo "disk-bench: engine $eng, $path (data root $(mib "$BASE") MiB before)" >&2
    measure "build-$n" "$WORK/client-$n" "$DOCKER" buildx build --progress=plain \
      --build-arg BUILDKIT_SYNTAX="$IMAGE" --target packager/modelpack \
      --build-arg source="$src" --build-arg hf_endpoint="$EP" --build-arg output_mode="$mode" \
      --build-arg download_network=host --allow network.host \
      -o "$output" -f- "$WORK/ctx"
    T_B=$T; A_PEAK=$ALL_PEAK; C_PEAK=$CLI_PEAK
    E_LEFT=$(( $(du_b "$DATA") - BASE ))
    note=""
    if [ "$path" = layout+push ]; then
      # The push starts from what the build left (engine cache + layout).
      HELD=$(( $(used_b) - USED_BEFORE ))
      measure "push-$n" "$WORK/client-$n" "$CLI" push "$WORK/client-$n/out" "$ref" --plain-http
      T_B="$T_B + $T"; if [ "$CLI_PEAK" -gt "$C_PEAK" ]; then C_PEAK=$CLI_PEAK; fi
      if [ $((HELD + ALL_PEAK)) -gt "$A_PEAK" ]; then A_PEAK=$((HELD + ALL_PEAK)); fi
      note="build, then push of the exported layout"
    fi
    PUSHED=$(pushed_bytes)
    ROWS+=("$(row "$eng" "$path" "$T_B" "$(mib "$A_PEAK") ($(ratio "$A_PEAK")x)" "$(mib "$E_LEFT") ($(ratio "$E_LEFT")x)" "$(mib "$C_PEAK") ($(ratio "$C_PEAK")x)" "$(mib "$PUSHED")" "$note")")
    printf '  %s\n' "${ROWS[-1]}" >&2
    # Give the disk back: the exported layout, the run's image, its records.
    rm -rf "$WORK/client-$n"
    "$DOCKER" image rm -f "$ref" >/dev/null 2>&1 || true
    if [ "$PRUNE" = all ]; then
      "$DOCKER" buildx prune -af >/dev/null 2>&1 || true
      "$DOCKER" image prune -af >/dev/null 2>&1 || true
    else
      prune_run "disk-$NONCE-$n" "$SINCE"
    fi
    echo "disk-bench: after clean-up the data root is $(( ($(du_b "$DATA") - BASE) / 1048576 )) MiB above its size before the run" >&2
  done
done

# The streamed publish: no engine, nothing on local disk.
need_disk
n=$((n + 1)); repo "$n"
curl -fsS "$EP/api/models/bench/disk-$NONCE-$n/revision/${COMMIT[$n]}?blobs=true" >/dev/null
registry_fresh
measure "stream" "$WORK/client-stream" "$CLI" push "hf://bench/disk-$NONCE-$n@${COMMIT[$n]}" "$REG/disk/stream:v1" --plain-http --hf-endpoint "$EP"
ROWS+=("$(row "-" "stream (push hf://… REF)" "$T" "$(mib "$ALL_PEAK") ($(ratio "$ALL_PEAK")x)" "-" "$(mib "$CLI_PEAK") ($(ratio "$CLI_PEAK")x)" "$(mib "$(pushed_bytes)")" "no engine")")

echo
echo "Disk bench, $SHARDS x $SHARD_MB MiB ($(mib "$MODEL_BYTES") MiB) raw from the fake Hub, $(nproc) CPUs, image $IMAGE, $(date -u +%Y-%m-%d):"
echo
row "engine" "path" "seconds" "disk peak, engine + client, MiB (x model)" "left in the engine after the build MiB (x model)" "client peak MiB (x model)" "pushed MiB" "notes"
echo "|---|---|---:|---:|---:|---:|---:|---|"
printf '%s\n' "${ROWS[@]}"
