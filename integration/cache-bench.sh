#!/usr/bin/env bash
# Remote-cache bench (NOT run by CI, never by integration/test.sh): what a
# registry build cache saves a CI runner, and what exporting it costs, for
# a synthetic model served by the fake Hub on loopback.
#
#   integration/cache-bench.sh                        # 2 x 256 MiB shards
#   CACHE_BENCH_SHARD_MB=1024 integration/cache-bench.sh
#
# Runs, all with `-o type=local` and layer_packaging=raw:
# - cold: Docker 28.5 with the containerd image store (Engine::Store of
#   the e2e tests, the exporter) with --no-cache, no cache export;
# - warm-local: the same build again (its own local cache);
# - for each --cache-to variant (mode=min|max x compression=gzip|zstd|
#   uncompressed): a fresh copy of the model (new bytes, so no engine has
#   seen it), built cold on the store engine with
#   --cache-to type=registry,ref=127.0.0.1:5000/…: its time (the export's
#   cost is the difference to the cold build) and the cache's size in the
#   registry (its manifest's config and layers); then built by Docker 28.5
#   with the classic store (integration/engine-next.sh), which has never
#   seen those bytes (an empty local cache for this model), with only
#   --cache-from that ref: the warm-from-remote-cache time and the Hub
#   requests that downloaded a file;
# - cold on Docker 28.5 classic too (--no-cache), the importer's baseline.
# Prints a table and the ratios. Nothing is pruned: every model is new
# bytes, and the cache images stay in the local registry (about
# 2 x model size per mode=max variant).
#
# Environment:
#   CACHE_BENCH_SHARDS (2), CACHE_BENCH_SHARD_MB (256)   the model's weights
#   CACHE_BENCH_VARIANTS ("max,uncompressed max,zstd max,gzip min,uncompressed min,zstd min,gzip")
#   MODELPACK_IMAGE       the frontend image (default localhost:5000/modelpack-frontend:dev)
#   CRANE                 default /opt/modelpack-engine-28/usr/bin/crane
#   BENCH_DROP_CACHES (1) sync and drop the page cache before each timed build (as root)
set -euo pipefail
cd "$(dirname "$0")/.."
NEXT_ROOT=/opt/modelpack-engine-28
DOCKER="$NEXT_ROOT/usr/bin/docker"
export DOCKER_CONFIG="$NEXT_ROOT/docker-config"
STORE=unix:///run/modelpack-docker28s.sock
CLASSIC=unix:///run/modelpack-docker28.sock
IMAGE="${MODELPACK_IMAGE:-localhost:5000/modelpack-frontend:dev}"
CRANE="${CRANE:-$NEXT_ROOT/usr/bin/crane}"
SHARDS="${CACHE_BENCH_SHARDS:-2}"
SHARD_MB="${CACHE_BENCH_SHARD_MB:-256}"
VARIANTS="${CACHE_BENCH_VARIANTS:-max,uncompressed max,zstd max,gzip min,uncompressed min,zstd min,gzip}"
REGISTRY=127.0.0.1:5000
RUN="cachebench-$(date +%s)"
DROP="${BENCH_DROP_CACHES:-1}"

for host in "$STORE" "$CLASSIC"; do
  DOCKER_HOST="$host" "$DOCKER" version >/dev/null 2>&1 ||
    { echo "cache-bench: no engine on $host: run integration/engine.sh, engine-next.sh, engine-store.sh" >&2; exit 1; }
done
[ -x "$CRANE" ] || { echo "cache-bench: no crane at $CRANE" >&2; exit 1; }

WORK="$(mktemp -d /tmp/modelpack-cache-bench.XXXXXX)"
HUB_PID=""
cleanup() { if [ -n "$HUB_PID" ]; then kill "$HUB_PID" 2>/dev/null || true; fi; rm -rf "$WORK"; }
trap cleanup EXIT
RESULTS="$WORK/results.tsv"
: >"$RESULTS"
record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RESULTS"; printf '  %-48s %10s %s\n' "$1" "$2" "$3" >&2; }
settle() { sync; if [ "$DROP" = 1 ] && [ -w /proc/sys/vm/drop_caches ]; then echo 3 >/proc/sys/vm/drop_caches; fi; }

REPOS="$WORK/repos"; mkdir -p "$REPOS"
# model <name> <seed>: a repo of SHARDS weights of SHARD_MB MiB (bytes from the
# seed) and a config; prints its commit.
model() {
  local src="$WORK/src-$1"
  python3 - "$src" "$SHARDS" "$SHARD_MB" "$2" <<'PY'
import json, os, random, sys
src, shards, mb, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
os.makedirs(src)
for i in range(shards):
    rng = random.Random(f"{seed}-{i}")
    with open(os.path.join(src, f"model-{i+1:05d}-of-{shards:05d}.safetensors"), "wb") as f:
        header = json.dumps({"__metadata__": {"format": "pt"}}).encode()
        f.write(len(header).to_bytes(8, "little") + header)
        for _ in range(mb):
            f.write(rng.randbytes(1 << 20))
with open(os.path.join(src, "config.json"), "w") as f:
    json.dump({"architectures": ["BenchForCausalLM"], "seed": seed}, f)
with open(os.path.join(src, ".gitattributes"), "w") as f:
    f.write("*.safetensors filter=lfs diff=lfs merge=lfs -text\n")
PY
  python3 integration/fakehub/make_repo.py --repos "$REPOS" create "bench/$1" --files-dir "$src" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["commit"])'
  rm -rf "$src"
}

echo "cache-bench: generating models of ${SHARDS} x ${SHARD_MB} MiB in $WORK" >&2
declare -A COMMIT
COMMIT[base]="$(model base "$RUN-base")"
i=0
for v in $VARIANTS; do
  i=$((i + 1))
  COMMIT[v$i]="$(model "v$i" "$RUN-v$i")"
done
python3 integration/fakehub/fakehub.py --repos "$REPOS" --state-file "$WORK/hub.json" --quiet 2>"$WORK/hub.log" &
HUB_PID=$!
for _ in $(seq 100); do [ -s "$WORK/hub.json" ] && break; sleep 0.1; done
EP=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["endpoint"])' "$WORK/hub.json")
CTX="$WORK/ctx"; mkdir -p "$CTX"
# The fake hub hashes a repo's files on its first listing: list each now.
for name in "${!COMMIT[@]}"; do
  curl -sf "$EP/api/models/bench/$name/revision/${COMMIT[$name]}?blobs=true" >/dev/null
done

hub_reset() { curl -s -X POST "$EP/_fake/reset-stats" >/dev/null; }
# Requests that sent a file's body (Hub resolve GETs and CDN GETs).
hub_downloads() {
  curl -s "$EP/_fake/stats" | python3 -c '
import json, sys
reqs = json.load(sys.stdin)["requests"]
print(sum(1 for r in reqs if r.get("method") == "GET" and r.get("status") in (200, 206)
          and (r.get("port") == "cdn" or "/resolve/" in r.get("path", "") or r.get("path", "").startswith("/api/resolve-cache/"))))'
}

# build <name> <host> <repo> <extra flags…>: one timed build to $WORK/out; records seconds.
build() {
  local name="$1" host="$2" repo="$3" s e
  shift 3
  rm -rf "$WORK/out"
  settle
  hub_reset
  s=$(date +%s.%N)
  if ! DOCKER_HOST="$host" "$DOCKER" buildx build --progress=plain --build-arg BUILDKIT_SYNTAX="$IMAGE" \
    --target packager/modelpack --build-arg source="hf://bench/$repo@${COMMIT[$repo]}" \
    --build-arg hf_endpoint="$EP" --build-arg download_network=host --allow network.host \
    -o "type=local,dest=$WORK/out" "$@" -f- "$CTX" </dev/null >"$WORK/$name.log" 2>&1; then
    echo "cache-bench: $name failed:" >&2; tail -30 "$WORK/$name.log" >&2; exit 1
  fi
  e=$(date +%s.%N)
  record "$name" "$(echo "$e - $s" | bc)" "s"
  record "$name: Hub file downloads" "$(hub_downloads)" "count"
}

# cache_size <ref>: bytes of the cache image (config and layers).
cache_size() {
  "$CRANE" manifest --insecure "$1" | python3 -c '
import json, sys
m = json.load(sys.stdin)
print(m["config"]["size"] + sum(l["size"] for l in m.get("layers", [])))'
}

echo "cache-bench: builds (hf://bench/*, raw, -o type=local)" >&2
build "store cold" "$STORE" base --no-cache
build "store warm-local" "$STORE" base
build "classic cold" "$CLASSIC" base --no-cache
i=0
for v in $VARIANTS; do
  i=$((i + 1))
  mode="${v%,*}" comp="${v#*,}"
  ref="$REGISTRY/modelpack-cache-bench/$RUN:v$i"
  build "store cold + cache-to mode=$mode,$comp" "$STORE" "v$i" --no-cache \
    --cache-to "type=registry,ref=$ref,mode=$mode,compression=$comp"
  record "cache size mode=$mode,$comp (MiB)" "$(echo "scale=1; $(cache_size "$ref") / 1048576" | bc)" "MiB"
  build "classic warm-remote from mode=$mode,$comp" "$CLASSIC" "v$i" --cache-from "type=registry,ref=$ref"
done

echo
echo "modelpack cache bench: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), ${SHARDS} x ${SHARD_MB} MiB raw, image $IMAGE"
python3 - "$RESULTS" "$(( SHARDS * SHARD_MB ))" <<'EOF'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
model_mib = float(sys.argv[2])
t = {r[0]: float(r[1]) for r in rows}
print(f"| {'measurement':<52} | {'value':>9} | unit |")
print(f"|{'-'*54}|{'-'*11}|------|")
for name, value, unit in rows:
    shown = f"{float(value):.0f}" if unit == "count" else f"{float(value):.1f}"
    print(f"| {name:<52} | {shown:>9} | {unit} |")
print()
print(f"| {'ratio':<52} | {'value':>9} |")
print(f"|{'-'*54}|{'-'*11}|")
def ratio(label, a, b):
    if a in t and b in t and t[b] > 0:
        print(f"| {label:<52} | {t[a]/t[b]:>9.2f} |")
ratio("store warm-local / store cold", "store warm-local", "store cold")
for name in t:
    if name.startswith("store cold + cache-to ") and not name.endswith("downloads"):
        v = name[len("store cold + cache-to "):]
        ratio(f"cold + cache-to {v} / cold", name, "store cold")
        ratio(f"classic warm-remote ({v}) / classic cold", f"classic warm-remote from {v}", "classic cold")
        size = f"cache size {v} (MiB)"
        if size in t:
            print(f"| {'cache size ' + v + ' / model size':<52} | {t[size]/model_mib:>9.2f} |")
EOF
