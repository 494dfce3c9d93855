#!/usr/bin/env bash
# Streamed publish bench (NOT run by CI, never by integration/test.sh): the
# bench repo (shards generated on the fly by the fake Hub, repo.json
# "generated") published to a docker-registry of its own (storage in the
# bench's work folder) by `push hf://… REF` (streamed: nothing on local
# disk) against today's `pack -o LAYOUT` + `push LAYOUT`, with the floors:
# the download alone (curl, every file at once, to /dev/null) and the upload
# alone (`push` of the packed layout to a fresh repository). Then an
# unchanged re-publish and a re-publish after a commit that changes one
# shard. Measures wall time, peak RSS (GNU time) and peak bytes on local
# disk (HOME, TMPDIR and the working folder of each run, polled with du).
# With an engine (BENCH_BUILDX=1, the default when Docker 26 answers), also
# a buildx build of the same repo pinned to its commit (output_mode=layout,
# -o type=local, raw) + `push` of the exported layout: the frontend's way
# (the engine's own disk is measured by integration/disk-bench.sh).
# Every run goes to a repository namespace of its own, so no run can mount
# another's blobs (push mounts from its namespace's repositories).
# Prints one table with ratios; append it to docs/bench-results.md by hand.
#
#   integration/stream-bench.sh                          # 4 x 1 GiB shards
#   BENCH_SHARD_MB=256 integration/stream-bench.sh       # a quick run
#
# Environment:
#   BENCH_SHARDS (4)          weight shards (LFS safetensors)
#   BENCH_SHARD_MB (1024)     size of each shard in MiB
#   BENCH_FORMATS ("raw tar+zstd")  layer formats of the streamed publish (tar
#                             formats with --compress-weights)
#   BENCH_CONNECTIONS (8)     --max-connections
#   MODELPACK_CLI             the binary (default dist/modelpack-frontend, from
#                             `ARCHES=amd64 integration/build-binaries.sh`)
#   BENCH_BUILDX (auto)       1: the buildx export + push row (fails without the
#                             engine); 0: skip it; auto: when the engine answers
#   MODELPACK_IMAGE           the frontend image of that row (default
#                             localhost:5000/modelpack-frontend:dev)
#   BENCH_DOCKER_HOST         its engine (default Docker 26,
#                             unix:///run/modelpack-docker26.sock)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SHARDS="${BENCH_SHARDS:-4}"
SHARD_MB="${BENCH_SHARD_MB:-1024}"
FORMATS="${BENCH_FORMATS:-raw tar+zstd}"
CONN="${BENCH_CONNECTIONS:-8}"
CLI="${MODELPACK_CLI:-$ROOT/dist/modelpack-frontend}"
[ -x "$CLI" ] || { echo "stream-bench: $CLI missing; run ARCHES=amd64 integration/build-binaries.sh" >&2; exit 1; }
command -v docker-registry >/dev/null || { echo "stream-bench: docker-registry missing" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "stream-bench: GNU time (/usr/bin/time) missing" >&2; exit 1; }

WORK="$(mktemp -d /tmp/modelpack-stream-bench.XXXXXX)"
NONCE="$(date +%s)-$$"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# ------------------------------------------------------------ the hub --
REPOS="$WORK/repos"; mkdir -p "$REPOS"
REPO="bench/stream-$NONCE"
CONFIG="$(python3 integration/fakehub/bench_repo.py "$WORK/files.json" "$SHARDS" "$SHARD_MB" "$NONCE" stream)"
python3 integration/fakehub/make_repo.py --repos "$REPOS" create "$REPO" --files-json "$WORK/files.json" --config "$CONFIG" >/dev/null
python3 integration/fakehub/fakehub.py --repos "$REPOS" --state-file "$WORK/hub.json" --quiet </dev/null &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$WORK/hub.json" ] && break; sleep 0.1; done
EP=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["endpoint"])' "$WORK/hub.json")
curl -fsS "$EP/api/models/$REPO/revision/main?blobs=true" >/dev/null   # the hub hashes the shards once

# ------------------------------------------------------- the registry --
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$WORK/registry"
cat >"$WORK/registry/config.yml" <<EOF
version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $WORK/registry/storage
http:
  addr: 127.0.0.1:$PORT
  secret: bench-$PORT
EOF
docker-registry serve "$WORK/registry/config.yml" >"$WORK/registry/log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$PORT/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
REG="127.0.0.1:$PORT"

# ------------------------------------------------------------ helpers --
# run <label> <dir> <cmd...>: runs cmd with HOME/TMPDIR/cwd in <dir>, polling
# du of <dir>; prints "<seconds> <peak rss KiB> <peak disk bytes>".
run() {
  local label=$1 dir=$2; shift 2
  mkdir -p "$dir"
  local start end peak=0 pid now
  start=$(date +%s.%N)
  ( cd "$dir" && HOME="$dir" TMPDIR="$dir" /usr/bin/time -f '%M' -o "$WORK/$label.rss" "$@" >"$WORK/$label.out" 2>"$WORK/$label.err" ) &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    now=$(du -sb "$dir" 2>/dev/null | cut -f1); [ "${now:-0}" -gt "$peak" ] && peak=$now
    sleep 0.2
  done
  wait "$pid" || { echo "stream-bench: $label failed:" >&2; tail -20 "$WORK/$label.err" >&2; exit 1; }
  end=$(date +%s.%N)
  printf '%.1f %s %s\n' "$(echo "$end - $start" | bc)" "$(tail -1 "$WORK/$label.rss")" "$peak"
}
uploads() { grep -cE '"POST /v2/[^ ]+/blobs/uploads/' "$WORK/registry/log" || true; }
hub_stats() { curl -fsS -X POST "$EP/_fake/reset-stats" >/dev/null; }
hub_summary() { # requests to the hub, weight bytes served (full bodies), from /_fake/stats
  curl -fsS "$EP/_fake/stats" | python3 -c '
import json, sys
s = json.load(sys.stdin)
hub = sum(1 for r in s["requests"] if r["port"] == "hub")
full = sum(1 for r in s["requests"] if r["port"] == "cdn" and r["method"] == "GET" and r["status"] in (200, 206) and not r["range"])
print(hub, full)'
}
row() { printf '| %s | %s | %s | %s | %s |\n' "$@"; }
mib() { echo $(( $1 / 1048576 )); }
TOTAL_MB=$((SHARDS * SHARD_MB))
echo "stream-bench: $SHARDS x $SHARD_MB MiB (hf://$REPO on $EP) to $REG, --max-connections $CONN, $(nproc) CPUs" >&2

ROWS=()
# download alone: every file at once, to /dev/null
FILES=$(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1])).keys()))' "$WORK/files.json")
read -r T_DL RSS_DL _ < <(run download "$WORK/dl" bash -c "for f in $FILES; do curl -fsSL -o /dev/null -w '%{size_download}\n' '$EP/$REPO/resolve/main/'\$f & done; wait")
GOT=$(paste -sd+ "$WORK/download.out" | bc)
[ "$GOT" -ge $((SHARDS * SHARD_MB * 1048576)) ] || { echo "stream-bench: the download alone got $GOT bytes" >&2; exit 1; }
ROWS+=("$(row "download alone (curl, all files at once)" "$T_DL" "-" "0" "")")

# pack + push (today)
read -r T_PACK RSS_PACK DISK_PACK < <(run pack "$WORK/pack" "$CLI" pack "hf://$REPO" -o "$WORK/pack/layout" --hf-endpoint "$EP" --max-connections "$CONN")
read -r T_UP RSS_UP _ < <(run push-layout "$WORK/pushdir" "$CLI" push "$WORK/pack/layout" "$REG/floor/layout:v1" --plain-http)
PACK_DIGEST=$(awk '{print $2}' "$WORK/pack.out")
ROWS+=("$(row "pack (raw, to a layout)" "$T_PACK" "$(mib $((RSS_PACK * 1024)))" "$(mib "$DISK_PACK")" "")")
ROWS+=("$(row "push of that layout (= upload alone)" "$T_UP" "$(mib $((RSS_UP * 1024)))" "0" "")")
T_PP=$(echo "$T_PACK + $T_UP" | bc)
ROWS+=("$(row "pack + push" "$T_PP" "" "$(mib "$DISK_PACK")" "")")
rm -rf "$WORK/pack/layout"

# buildx export + push: the frontend on an engine, the layout exported to
# the client, then pushed (a cold build: the repo's bytes are new to the
# engine; pinned to the commit, so the weights go through one download step)
BUILDX="${BENCH_BUILDX:-auto}"
BX_HOST="${BENCH_DOCKER_HOST:-unix:///run/modelpack-docker26.sock}"
if [ "$BUILDX" = auto ]; then
  if DOCKER_HOST="$BX_HOST" /usr/bin/docker version >/dev/null 2>&1; then BUILDX=1; else BUILDX=0; fi
fi
if [ "$BUILDX" = 1 ]; then
  COMMIT=$(curl -fsS "$EP/api/models/$REPO/revision/main" | python3 -c 'import json,sys; print(json.load(sys.stdin)["sha"])')
  mkdir -p "$WORK/bx-ctx"
  read -r T_BX _ DISK_BX < <(run buildx "$WORK/bx" env DOCKER_HOST="$BX_HOST" PATH="/usr/sbin:/usr/bin:$PATH" docker buildx build --progress=plain \
    --build-arg BUILDKIT_SYNTAX="${MODELPACK_IMAGE:-localhost:5000/modelpack-frontend:dev}" --target packager/modelpack \
    --build-arg source="hf://$REPO@$COMMIT" --build-arg hf_endpoint="$EP" --build-arg download_network=host --allow network.host \
    -o "type=local,dest=$WORK/bx/layout" -f- "$WORK/bx-ctx")
  read -r T_BXU RSS_BXU _ < <(run push-bx "$WORK/bx" "$CLI" push "$WORK/bx/layout" "$REG/buildx/layout:v1" --plain-http)
  T_BXP=$(echo "$T_BX + $T_BXU" | bc)
  ROWS+=("$(row "buildx build (raw, -o type=local, pinned commit)" "$T_BX" "-" "$(mib "$DISK_BX")" "client side only: the engine holds its cache too (disk-bench.sh)")")
  ROWS+=("$(row "push of that layout" "$T_BXU" "$(mib $((RSS_BXU * 1024)))" "0" "")")
  ROWS+=("$(row "buildx export + push" "$T_BXP" "" "$(mib "$DISK_BX")" "")")
  rm -rf "$WORK/bx/layout"
fi
FLOOR=$(echo "if ($T_DL > $T_UP) $T_DL else $T_UP" | bc)

for fmt in $FORMATS; do
  extra=(); [ "$fmt" = raw ] || extra=(--layer-packaging "$fmt" --compress-weights)
  repo=$(echo "$fmt" | tr + -)
  read -r T_S RSS_S DISK_S < <(run "stream-$repo" "$WORK/jail-$repo" "$CLI" push "hf://$REPO" "$REG/stream-$repo/model:v1" --plain-http --hf-endpoint "$EP" --max-connections "$CONN" "${extra[@]}")
  D=$(cat "$WORK/stream-$repo.out")
  same=""
  if [ "$fmt" = raw ]; then
    [ "$D" = "$PACK_DIGEST" ] && same="digest = pack's" || same="DIGEST DIFFERS from pack's $PACK_DIGEST"
  fi
  bx=""; [ "$BUILDX" = 1 ] && bx=$(printf '; buildx export+push %.2fx it' "$(echo "$T_BXP / $T_S" | bc -l)")
  ROWS+=("$(row "streamed publish, $fmt" "$T_S" "$(mib $((RSS_S * 1024)))" "$(mib "$DISK_S")" "$(printf '%.2fx the floor; pack+push %.2fx it%s; %s' "$(echo "$T_S / $FLOOR" | bc -l)" "$(echo "$T_PP / $T_S" | bc -l)" "$bx" "$same")")")
  hub_stats; before=$(uploads)
  read -r T_R RSS_R DISK_R < <(run "again-$repo" "$WORK/jail-$repo" "$CLI" push "hf://$REPO" "$REG/stream-$repo/model:v1" --plain-http --hf-endpoint "$EP" --max-connections "$CONN" "${extra[@]}")
  read -r HUB_REQ FULL < <(hub_summary)
  ROWS+=("$(row "unchanged re-publish, $fmt" "$T_R" "$(mib $((RSS_R * 1024)))" "$(mib "$DISK_R")" "$HUB_REQ requests to the Hub, $FULL weight bodies, $(( $(uploads) - before )) blob uploads")")
done

# one changed shard (raw)
python3 integration/fakehub/make_repo.py --repos "$REPOS" commit "$REPO" --files "{\"model-00002-of-$(printf %05d "$SHARDS").safetensors\": {\"text\": \"seed+1\"}}" >/dev/null
curl -fsS "$EP/api/models/$REPO/revision/main?blobs=true" >/dev/null
hub_stats; before=$(uploads)
read -r T_C RSS_C DISK_C < <(run changed "$WORK/jail-raw" "$CLI" push "hf://$REPO" "$REG/stream-raw/model:v1" --plain-http --hf-endpoint "$EP" --max-connections "$CONN")
read -r HUB_REQ FULL < <(hub_summary)
ROWS+=("$(row "one changed shard, raw" "$T_C" "$(mib $((RSS_C * 1024)))" "$(mib "$DISK_C")" "$HUB_REQ requests to the Hub, $FULL weight bodies, $(( $(uploads) - before )) blob uploads (the shard, the config, the BOM and the provenance)")")

# the same model to a second repository of the namespace: mounted, not moved
read -r T_M RSS_M DISK_M < <(run mount "$WORK/jail-raw" "$CLI" push "hf://$REPO" "$REG/stream-raw/copy:v1" --plain-http --hf-endpoint "$EP" --max-connections "$CONN")
ROWS+=("$(row "same model to another repository of the namespace, raw" "$T_M" "$(mib $((RSS_M * 1024)))" "$(mib "$DISK_M")" "$(grep '^published' "$WORK/mount.err" | grep -o '[0-9]* mounted'), no --from")")

echo
echo "Streamed publish, $SHARDS x $SHARD_MB MiB ($TOTAL_MB MiB), $(nproc) CPUs, --max-connections $CONN, $(date -u +%Y-%m-%d):"
echo
row "run" "seconds" "peak RSS MiB" "peak disk MiB" "notes"
echo "|---|---:|---:|---:|---|"
printf '%s\n' "${ROWS[@]}"
echo
printf 'floor (slower of download alone and upload alone): %.1f s\n' "$FLOOR"
