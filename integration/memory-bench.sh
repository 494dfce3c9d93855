#!/usr/bin/env bash
# Memory bench (NOT run by CI, never by integration/test.sh): packages a big
# Hugging Face repo served by the fake Hub on loopback, whose weights are
# made on the fly (repo.json "generated": nothing is stored on the hub side),
# through docker buildx, and polls the peak RSS (VmHWM) of every process of
# the frontend image: the gateway frontend and every in-build step that
# re-executes it (scan, sizes, describe, pack-layer, …). Prints the peaks
# per format and fails when one is above the limit.
#
#   integration/memory-bench.sh                     # 20 GiB in 4 shards, raw and tar+zstd
#   MEM_BENCH_GIB=1 integration/memory-bench.sh     # a quick run
#
# Environment:
#   MEM_BENCH_GIB (20)              total size of the weight shards, GiB (decimals allowed: 0.5)
#   MEM_BENCH_SHARDS (4)            number of weight shards (safetensors, LFS)
#   MEM_BENCH_FORMATS ("raw tar+zstd")  layer_packaging values to build, one build each
#                                   (tar formats with compress_weights=true, so the weights
#                                   go through pack steps)
#   MEM_BENCH_LIMIT_MIB (64)        the bound: any process above it fails the bench
#   MEM_BENCH_POLL_SECS (0.01)      how often /proc is polled
#   MODELPACK_IMAGE                 the frontend image (default localhost:5000/modelpack-frontend:dev)
#   DOCKER_HOST                     the engine (default: the tests' Docker 26,
#                                   unix:///run/modelpack-docker26.sock)
#   MEM_BENCH_PRUNE (auto)          1: after each build, prune the build cache records of
#                                   this run (every one names the run's unique repo), so each
#                                   format starts cold and the disk is given back; auto: only
#                                   on the tests' own engines (their sockets); 0: never
#
# Needs root (it reads /proc/<pid>/status of BuildKit's containers) and the
# engine on this machine. Disk: during a build BuildKit holds the downloaded
# shards (the total size) plus what the build writes (raw: the layout, a
# copy of every shard, so twice the total: about 40 GiB free for the
# default; tar+zstd: the packed weights and their layout). Nothing is
# exported (-o type=cacheonly); the records are pruned after each build.
# Short-lived steps can end between two polls; their peak is then missed
# (the frontend and the pack steps live for the whole download or shard).
# Processes of other builds running on the same engine at the same time are
# counted too (their lines say which subcommand they ran): that can only
# raise the peaks, never hide one.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/sbin:/usr/bin:$PATH"   # Debian's docker, see engine.sh
export DOCKER_HOST="${DOCKER_HOST:-unix:///run/modelpack-docker26.sock}"
IMAGE="${MODELPACK_IMAGE:-localhost:5000/modelpack-frontend:dev}"
GIB="${MEM_BENCH_GIB:-20}"
SHARDS="${MEM_BENCH_SHARDS:-4}"
FORMATS="${MEM_BENCH_FORMATS:-raw tar+zstd}"
LIMIT_MIB="${MEM_BENCH_LIMIT_MIB:-64}"
POLL="${MEM_BENCH_POLL_SECS:-0.01}"
PRUNE="${MEM_BENCH_PRUNE:-auto}"
if [ "$PRUNE" = auto ]; then
  case "$DOCKER_HOST" in
    unix:///run/modelpack-docker26.sock|unix:///run/modelpack-docker28.sock) PRUNE=1 ;;
    *) PRUNE=0 ;;
  esac
fi
[ "$(id -u)" = 0 ] || { echo "memory-bench: run as root (reads /proc of BuildKit's containers)" >&2; exit 1; }
docker version >/dev/null 2>&1 || { echo "memory-bench: no engine answers on $DOCKER_HOST; run integration/engine.sh" >&2; exit 1; }

WORK="$(mktemp -d /tmp/modelpack-membench.XXXXXX)"
NONCE="$(date +%s)-$$"
HUB_PID=""
cleanup() {
  [ -n "$HUB_PID" ] && kill "$HUB_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# ---------------------------------------------------------------- repo --
# Placeholder files in the commit; repo.json "generated" gives the shards
# their size and bytes (seeds from the nonce: a cold cache on every run).
REPOS="$WORK/repos"; mkdir -p "$REPOS"
REPO="bench/mem-$NONCE"
SPEC="$WORK/files.json"
CONFIG="$(python3 - "$SPEC" "$GIB" "$SHARDS" "$NONCE" <<'EOF'
import hashlib, json, sys
spec, gib, shards, nonce = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
total = int(gib * (1 << 30))
files = {"config.json": {"text": json.dumps({"architectures": ["MemBenchForCausalLM"], "nonce": nonce})},
         "README.md": {"text": f"# memory bench {nonce}\n"}}
generated = {}
seed = int(hashlib.sha256(nonce.encode()).hexdigest()[:8], 16)
for i in range(shards):
    name = f"mem-{nonce}/model-{i + 1:05d}-of-{shards:05d}.safetensors"
    files[name] = {"text": "placeholder"}
    generated[name] = {"size": total // shards + (total % shards if i == 0 else 0), "seed": seed + i}
json.dump(files, open(spec, "w"))
print(json.dumps({"generated": generated}))
EOF
)"
python3 integration/fakehub/make_repo.py --repos "$REPOS" create "$REPO" --files-json "$SPEC" --config "$CONFIG" >/dev/null
python3 integration/fakehub/fakehub.py --repos "$REPOS" --state-file "$WORK/hub.json" --quiet </dev/null &
HUB_PID=$!
for _ in $(seq 100); do [ -s "$WORK/hub.json" ] && break; sleep 0.1; done
EP=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["endpoint"])' "$WORK/hub.json")
CDN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["cdn"])' "$WORK/hub.json")
echo "memory-bench: $GIB GiB in $SHARDS shards of hf://$REPO on $EP; formats: $FORMATS; limit $LIMIT_MIB MiB" >&2
# The first listing streams every shard once to hash it (about 1.5 s/GiB).
start=$SECONDS
curl -fsS "$EP/api/models/$REPO/revision/main?blobs=true" >/dev/null
echo "memory-bench: hub hashed the shards in $((SECONDS - start))s" >&2

# ----------------------------------------------------------- poller --
# Polls /proc for processes whose argv[0] is /modelpack-frontend until
# $WORK/stop exists; writes one JSON line per process: pid, label, VmHWM.
poll() { # <out file>
  python3 - "$1" "$WORK/stop" "$POLL" "$EP" <<'EOF'
import json, os, sys, time
out, stop, every, endpoint = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
seen = {}  # pid -> {"label", "hwm_kib"}
others = {}  # pid -> when first seen, for processes that are not ours (yet: runc's init
             # becomes the step's process by exec, so young ones are looked at again)
def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None
while True:
    last = os.path.exists(stop)
    now = time.monotonic()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        if pid not in seen:
            if now - others.get(pid, now) > 2:
                continue
            cmd = read(f"/proc/{name}/cmdline")
            if not cmd or not cmd.startswith(b"/modelpack-frontend\0"):
                others.setdefault(pid, now)
                continue
            args = [a.decode(errors="replace") for a in cmd.split(b"\0") if a]
            env = read(f"/proc/{name}/environ") or b""
            if len(args) == 1:
                label = "frontend (gateway)" + ("" if endpoint.encode() in env else " of another build")
            else:
                label = args[1] + "".join(f" {a}" for a in args[2:] if "/" in a and "model-" in a)[:120]
            seen[pid] = {"label": label, "hwm_kib": 0}
        status = read(f"/proc/{name}/status")
        if status is None:
            continue
        hwm = next((int(l.split()[1]) for l in status.decode().splitlines() if l.startswith("VmHWM:")), 0)
        seen[pid]["hwm_kib"] = max(seen[pid]["hwm_kib"], hwm)
    if last:
        break
    time.sleep(every)
with open(out, "w") as f:
    for pid, p in sorted(seen.items()):
        f.write(json.dumps({"pid": pid, **p}) + "\n")
EOF
}

# ------------------------------------------------------------- prune --
# Only this run's records: every one names the run's repo or files
# (mem-$NONCE: downloads by URL, steps by their arguments, the layout by
# its name). buildx 0.13 passes filters as exact matches, so the records
# are listed first and pruned by id (children before parents: two passes).
prune_run() {
  [ "$PRUNE" = 1 ] || return 0
  local ids pass id
  for pass in 1 2; do
    ids=$(docker buildx du --verbose 2>/dev/null | python3 -c '
import sys
marker = sys.argv[1]
for rec in sys.stdin.read().split("\n\n"):
    fields = dict(l.split(":", 1) for l in rec.strip().splitlines() if ":" in l)
    if marker in fields.get("Description", ""):
        print(fields["ID"].strip())' "mem-$NONCE")
    for id in $ids; do docker buildx prune -f --filter "id=$id" >/dev/null 2>&1 || true; done
  done
  local left
  left=$(docker buildx du --verbose 2>/dev/null | grep -c "mem-$NONCE" || true)
  echo "memory-bench: pruned this run's build cache records ($left left)" >&2
}

# ------------------------------------------------------------ builds --
CTX="$WORK/ctx"; mkdir -p "$CTX"
failed=0
summary=()
for fmt in $FORMATS; do
  rm -f "$WORK/stop"
  peaks="$WORK/peaks-${fmt//+/_}.jsonl"
  poll "$peaks" &
  poller=$!
  start=$SECONDS
  log="$WORK/build-${fmt//+/_}.log"
  status=0
  docker buildx build --progress=plain --build-arg BUILDKIT_SYNTAX="$IMAGE" --target packager/modelpack \
    --build-arg source="hf://$REPO" --build-arg hf_endpoint="$EP" --build-arg name="mem-$NONCE" \
    --build-arg layer_packaging="$fmt" --build-arg compress_weights=true \
    -o type=cacheonly -f- "$CTX" </dev/null >"$log" 2>&1 || status=$?
  took=$((SECONDS - start))
  touch "$WORK/stop"
  wait "$poller"
  if [ "$status" != 0 ]; then
    echo "memory-bench: the $fmt build failed (exit $status):" >&2
    tail -30 "$log" >&2
    prune_run
    exit 1
  fi
  echo "memory-bench: $fmt built in ${took}s; peak RSS (VmHWM) per process of the frontend image:" >&2
  python3 - "$peaks" "$LIMIT_MIB" <<'EOF' >&2 || failed=1
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
limit = float(sys.argv[2])
if not rows:
    print("  no process of the frontend image was seen: nothing measured"); sys.exit(1)
over = False
for r in sorted(rows, key=lambda r: -r["hwm_kib"]):
    mib = r["hwm_kib"] / 1024
    flag = "  OVER THE LIMIT" if mib > limit else ""
    over |= mib > limit
    print(f"  {mib:8.1f} MiB  pid {r['pid']:<8} {r['label']}{flag}")
gateway = max((r["hwm_kib"] for r in rows if r["label"] == "frontend (gateway)"), default=0) / 1024
steps = [r["hwm_kib"] / 1024 for r in rows if not r["label"].startswith("frontend")]
shown = f"{max(steps):.1f} MiB (max)" if steps else "none seen (too short-lived for the poll)"
print(f"  => frontend {gateway:.1f} MiB, in-build steps {shown}, limit {limit:.0f} MiB")
sys.exit(1 if over else 0)
EOF
  prune_run
  summary+=("$fmt: $(python3 - "$peaks" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
g = max((r["hwm_kib"] for r in rows if r["label"] == "frontend (gateway)"), default=0) / 1024
s = [r["hwm_kib"] / 1024 for r in rows if not r["label"].startswith("frontend")]
print(f"frontend {g:.1f} MiB, in-build steps " + (f"{max(s):.1f} MiB" if s else "none seen"))
EOF
) (built in ${took}s)")
done

printf '\n=== memory bench: %s GiB in %s shards, limit %s MiB ===\n' "$GIB" "$SHARDS" "$LIMIT_MIB"
for line in "${summary[@]}"; do echo "  $line"; done
if [ "$failed" = 1 ]; then echo "FAILED: a process of the frontend image went over $LIMIT_MIB MiB (see above)"; exit 1; fi
echo "PASSED"
