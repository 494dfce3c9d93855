#!/usr/bin/env bash
# Branch vs pinned commit bench (NOT run by CI, never by integration/test.sh):
# the bench repo (shards generated on the fly by the fake Hub, repo.json
# "generated") built cold (--no-cache) as a branch (hf://REPO, one download
# step per LFS file keyed by its sha256) and pinned to its commit
# (hf://REPO@COMMIT, one download step for all), in each layer format, to
# an OCI layout (-o type=local). Prints each build's time and the ratios:
# branch / pinned per format, and each format / raw per kind of revision
# (issue 20's goal: every format within 1.1x of raw, for branches and
# commits alike). Append the table to docs/bench-results.md by hand.
#
#   integration/branch-bench.sh                       # 4 x 1 GiB shards
#   BENCH_SHARD_MB=256 integration/branch-bench.sh    # a quick run
#
# Every cold build leaves its results in the engine's build cache (about
# the model's size each); nothing is pruned.
#
# Environment:
#   BENCH_SHARDS (4), BENCH_SHARD_MB (1024)  the weight shards (LFS safetensors)
#   BENCH_FORMATS ("raw tar")   layer formats
#   BENCH_RUNS (1)              cold builds of each kind
#   MODELPACK_IMAGE             the frontend image (default localhost:5000/modelpack-frontend:dev)
#   DOCKER_HOST                 the engine (default Docker 26, unix:///run/modelpack-docker26.sock)
#   DOCKER                      its client (default docker)
#   BENCH_DROP_CACHES (1)       sync and drop the page cache before each build (as root)
set -euo pipefail
cd "$(dirname "$0")/.."
export DOCKER_HOST="${DOCKER_HOST:-unix:///run/modelpack-docker26.sock}"
DOCKER="${DOCKER:-docker}"
IMAGE="${MODELPACK_IMAGE:-localhost:5000/modelpack-frontend:dev}"
SHARDS="${BENCH_SHARDS:-4}"
SHARD_MB="${BENCH_SHARD_MB:-1024}"
FORMATS="${BENCH_FORMATS:-raw tar}"
RUNS="${BENCH_RUNS:-1}"
DROP="${BENCH_DROP_CACHES:-1}"
"$DOCKER" version >/dev/null 2>&1 || { echo "branch-bench: no engine on $DOCKER_HOST" >&2; exit 1; }

WORK="$(mktemp -d /tmp/modelpack-branch-bench.XXXXXX)"
NONCE="$(date +%s)-$$"
HUB_PID=""
cleanup() { if [ -n "$HUB_PID" ]; then kill "$HUB_PID" 2>/dev/null || true; fi; rm -rf "$WORK"; }
trap cleanup EXIT
RESULTS="$WORK/results.tsv"
: >"$RESULTS"
record() { printf '%s\t%s\n' "$1" "$2" >>"$RESULTS"; printf '  %-32s %8.2f s\n' "$1" "$2" >&2; }
settle() { sync; if [ "$DROP" = 1 ] && [ -w /proc/sys/vm/drop_caches ]; then echo 3 >/proc/sys/vm/drop_caches; fi; }

# ------------------------------------------------------------ the hub --
REPOS="$WORK/repos"; mkdir -p "$REPOS"
REPO="bench/branch-$NONCE"
CONFIG="$(python3 integration/fakehub/bench_repo.py "$WORK/files.json" "$SHARDS" "$SHARD_MB" "$NONCE" branch)"
COMMIT="$(python3 integration/fakehub/make_repo.py --repos "$REPOS" create "$REPO" --files-json "$WORK/files.json" --config "$CONFIG" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["commit"])')"
python3 integration/fakehub/fakehub.py --repos "$REPOS" --state-file "$WORK/hub.json" --quiet </dev/null 2>"$WORK/hub.log" &
HUB_PID=$!
for _ in $(seq 100); do [ -s "$WORK/hub.json" ] && break; sleep 0.1; done
EP=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["endpoint"])' "$WORK/hub.json")
curl -fsS "$EP/api/models/$REPO/revision/main?blobs=true" >/dev/null   # the hub hashes the shards once
CTX="$WORK/ctx"; mkdir -p "$CTX"

# build <name> <source> <format>: one cold build to a layout; records seconds.
build() {
  local name="$1" source="$2" format="$3" s e log="$WORK/build.log"
  rm -rf "$WORK/out"
  settle
  s=$(date +%s.%N)
  if ! "$DOCKER" buildx build --progress=plain --no-cache --build-arg BUILDKIT_SYNTAX="$IMAGE" \
    --target packager/modelpack --build-arg source="$source" --build-arg layer_packaging="$format" \
    --build-arg hf_endpoint="$EP" --build-arg download_network=host --allow network.host \
    -o "type=local,dest=$WORK/out" -f- "$CTX" </dev/null >"$log" 2>&1; then
    echo "branch-bench: $name failed:" >&2; tail -30 "$log" >&2; exit 1
  fi
  e=$(date +%s.%N)
  record "$name" "$(echo "$e - $s" | bc)"
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' "$WORK/out/index.json" >>"$WORK/digests-$format"
  rm -rf "$WORK/out"
}

echo "branch-bench: ${SHARDS} x ${SHARD_MB} MiB, formats: $FORMATS, $RUNS run(s) each, on $DOCKER_HOST" >&2
for run in $(seq "$RUNS"); do
  for format in $FORMATS; do
    build "branch $format #$run" "hf://$REPO" "$format"
    build "pinned $format #$run" "hf://$REPO@$COMMIT" "$format"
  done
done
for format in $FORMATS; do
  if [ "$(sort -u "$WORK/digests-$format" | wc -l)" != 1 ]; then
    echo "branch-bench: $format: the builds gave different manifests:" >&2; cat "$WORK/digests-$format" >&2; exit 1
  fi
done

echo
echo "modelpack branch bench: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), ${SHARDS} x ${SHARD_MB} MiB, $("$DOCKER" version -f '{{.Server.Version}}' 2>/dev/null || echo '?') on $DOCKER_HOST, image $IMAGE, same manifest for branch and pinned in every format"
python3 - "$RESULTS" "$FORMATS" <<'EOF'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
formats = sys.argv[2].split()
times = {}
for name, value in rows:
    kind, fmt, _ = name.split(" ")
    times.setdefault((kind, fmt), []).append(float(value))
print("| build | runs (s) | best (s) |")
print("|---|---|---|")
for (kind, fmt), ts in times.items():
    print(f"| {kind} {fmt} | {', '.join(f'{t:.1f}' for t in ts)} | {min(ts):.1f} |")
print()
print("| ratio (best of each) | value |")
print("|---|---|")
best = {k: min(v) for k, v in times.items()}
for fmt in formats:
    print(f"| branch {fmt} / pinned {fmt} | {best[('branch', fmt)] / best[('pinned', fmt)]:.2f} |")
for kind in ("branch", "pinned"):
    for fmt in formats:
        if fmt != "raw" and ("raw" in formats):
            print(f"| {kind} {fmt} / {kind} raw | {best[(kind, fmt)] / best[(kind, 'raw')]:.2f} |")
EOF
