#!/usr/bin/env bash
# Performance bench (NOT run by CI, never by integration/test.sh): times our
# frontend against BuildKit's minimal graph and an AIKit-style download on a
# synthetic model served by the fake Hub on loopback, the layer writer alone
# against command-line pipelines, and a many-files repo. Prints one table.
#
#   integration/bench.sh                       # 4 x 1 GiB shards (the issue's default bench)
#   BENCH_SHARD_MB=256 BENCH_MANY=1000 integration/bench.sh   # a quick run
#
# Environment:
#   BENCH_SHARDS (4)       number of weight shards (LFS files)
#   BENCH_SHARD_MB (1024)  size of each shard in MiB
#   BENCH_SMALL (6)        small (non-LFS) files next to the shards
#   BENCH_MANY (10000)     files of the many-files repo (0 skips it)
#   BENCH_SKIP ("")        space-separated parts to skip: builds minimal aikit writer many
#   BENCH_FORMATS ("raw tar tar+zstd tar+gzip")  the layer formats of our builds
#   BENCH_LOGS ("")        a folder to keep every build's progress log in; the table is
#                          then followed by each cold build's slowest steps (BuildKit's
#                          own per-step times from --progress=plain)
#   MODELPACK_IMAGE        the frontend image (default localhost:5000/modelpack-frontend:dev)
#   DOCKER_HOST            the engine (default: the Docker 28 engine of engine-next.sh,
#                          unix:///run/modelpack-docker28.sock)
#   BENCH_DROP_CACHES (1)  sync and drop the page cache before each cold run (as root)
#   BENCH_PRUNE (0)        1: `docker builder prune -af` on DOCKER_HOST before each cold
#                          run. Only on an engine of your own: it empties that engine's
#                          whole build cache. By default cold runs use --no-cache instead
#                          (every step and every download runs again; nothing is pruned).
#
# The AIKit-style baseline follows the data path of AIKit's packager/modelpack
# (download exec -> copy to scratch -> an exec that runs `sha256sum` and `cp`
# into /layout/blobs/sha256 -> copy of /layout to scratch -> export), with a
# FROM-scratch image that holds only a static busybox (Debian's busybox-static
# package; no image is pulled) instead of AIKit's hf-cli and bash images. The
# download RUN fetches every file at once (as `hf download` does) and needs
# host networking to reach the loopback hub (--allow network.host).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export DOCKER_HOST="${DOCKER_HOST:-unix:///run/modelpack-docker28.sock}"
IMAGE="${MODELPACK_IMAGE:-localhost:5000/modelpack-frontend:dev}"
SHARDS="${BENCH_SHARDS:-4}"
SHARD_MB="${BENCH_SHARD_MB:-1024}"
SMALL="${BENCH_SMALL:-6}"
MANY="${BENCH_MANY:-10000}"
SKIP=" ${BENCH_SKIP:-} "
PRUNE="${BENCH_PRUNE:-0}"
FORMATS="${BENCH_FORMATS:-raw tar tar+zstd tar+gzip}"
LOGS="${BENCH_LOGS:-}"
DOCKER="${DOCKER:-docker}"

need() { command -v "$1" >/dev/null 2>&1; }
apt_install() {
  need apt-get || { echo "bench: install $* first" >&2; exit 1; }
  ${SUDO:-} apt-get install -y --no-install-recommends "$@" >/dev/null
}
need pigz || apt_install pigz
need zstd || apt_install zstd
[ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -qx wget || apt_install busybox-static

WORK="$(mktemp -d /tmp/modelpack-bench.XXXXXX)"
HUB_PID=""
cleanup() { [ -n "$HUB_PID" ] && kill "$HUB_PID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
RESULTS="$WORK/results.tsv"
: >"$RESULTS"

now() { date +%s.%N; }
# record <name> <seconds> [note]
record() { printf '%s\t%s\t%s\n' "$1" "$2" "${3:-}" >>"$RESULTS"; printf '  %-44s %8.2fs %s\n' "$1" "$2" "${3:-}" >&2; }
# timed <name> <note> cmd… : runs cmd, records its wall time; its output goes to $WORK/<name>.log
timed() {
  local name="$1" note="$2"; shift 2
  local log="$WORK/$(echo "$name" | tr -c 'a-zA-Z0-9+.-' '_').log" s e
  s=$(now)
  if ! "$@" >"$log" 2>&1; then echo "bench: $name failed, see below" >&2; tail -30 "$log" >&2; exit 1; fi
  e=$(now)
  record "$name" "$(echo "$e - $s" | bc)" "$note"
  [ -z "$LOGS" ] || { mkdir -p "$LOGS"; cp "$log" "$LOGS/"; }
}
# Before each cold run: write back dirty pages and empty the page cache
# (root only; BENCH_DROP_CACHES=0 to skip), so a run does not pay for the
# writeback of the one before it: the export's speed moved between 8 and
# 17 s for the same 4.3 GB without it.
DROP="${BENCH_DROP_CACHES:-1}"
settle() { sync; if [ "$DROP" = 1 ] && [ -w /proc/sys/vm/drop_caches ]; then echo 3 >/proc/sys/vm/drop_caches; fi; }
cold_flag() { if [ "$PRUNE" = 1 ]; then $DOCKER builder prune -af >/dev/null; fi; settle; [ "$PRUNE" = 1 ] || echo "--no-cache"; }

# ---------------------------------------------------------------- model --
echo "bench: generating ${SHARDS} x ${SHARD_MB} MiB shards + ${SMALL} small files in $WORK" >&2
SRC="$WORK/model"; mkdir -p "$SRC"
python3 - "$SRC" "$SHARDS" "$SHARD_MB" "$SMALL" <<'EOF'
import json, os, random, sys
src, shards, mb, small = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
for i in range(shards):
    rng = random.Random(i)
    with open(os.path.join(src, f"model-{i+1:05d}-of-{shards:05d}.safetensors"), "wb") as f:
        header = json.dumps({"__metadata__": {"format": "pt"}}).encode()
        f.write(len(header).to_bytes(8, "little") + header)
        for _ in range(mb):
            f.write(rng.randbytes(1 << 20))
with open(os.path.join(src, "config.json"), "w") as f:
    json.dump({"architectures": ["BenchForCausalLM"], "hidden_size": 4096}, f)
for i in range(max(small - 1, 0)):
    with open(os.path.join(src, f"small-{i}.txt"), "w") as f:
        f.write(f"small file {i}\n" * 20)
with open(os.path.join(src, ".gitattributes"), "w") as f:
    f.write("*.safetensors filter=lfs diff=lfs merge=lfs -text\n")
EOF
REPOS="$WORK/repos"; mkdir -p "$REPOS"
COMMIT=$(python3 integration/fakehub/make_repo.py --repos "$REPOS" create bench/model --files-dir "$SRC" | python3 -c 'import json,sys; print(json.load(sys.stdin)["commit"])')
python3 integration/fakehub/fakehub.py --repos "$REPOS" --state-file "$WORK/hub.json" --quiet 2>"$WORK/hub.log" &
HUB_PID=$!
for _ in $(seq 100); do [ -s "$WORK/hub.json" ] && break; sleep 0.1; done
EP=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["endpoint"])' "$WORK/hub.json")
CTX="$WORK/ctx"; mkdir -p "$CTX"
# The fake hub hashes a repo's files on its first listing (the real Hub has
# the hashes stored): list once now, so no timed build pays for it.
curl -sf "$EP/api/models/bench/model/revision/$COMMIT?blobs=true" >/dev/null

hub_stats() { curl -s "$EP/_fake/stats" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["requests"]))'; }
hub_reset() { curl -s -X POST "$EP/_fake/reset-stats" >/dev/null; }

ours() { # <out> <extra docker args…>
  local out="$1"; shift
  rm -rf "$out"
  $DOCKER buildx build --progress=plain --build-arg BUILDKIT_SYNTAX="$IMAGE" --target packager/modelpack \
    --build-arg hf_endpoint="$EP" --build-arg download_network=host --allow network.host \
    -o "type=local,dest=$out" "$@" -f- "$CTX" </dev/null
}

# --------------------------------------------------------- our builds --
if [[ "$SKIP" != *" builds "* ]]; then
  echo "bench: our builds (hf://bench/model@$COMMIT)" >&2
  for fmt in $FORMATS; do
    args=(--build-arg source="hf://bench/model@$COMMIT" --build-arg layer_packaging="$fmt" --build-arg compress_weights=true)
    timed "ours $fmt cold" "" ours "$WORK/out" $(cold_flag) "${args[@]}"
    hub_reset
    timed "ours $fmt warm" "" ours "$WORK/out" "${args[@]}"
    record "ours $fmt warm: hub requests" "$(hub_stats)" "count, not seconds"
  done
fi

# ------------------------------------------------ BuildKit's minimal graph --
if [[ "$SKIP" != *" minimal "* ]]; then
  MIN="$WORK/minimal"; mkdir -p "$MIN"
  {
    echo "FROM scratch"
    for f in "$SRC"/*; do
      sha=$(sha256sum "$f" | cut -d' ' -f1)
      echo "ADD --checksum=sha256:$sha $EP/bench/model/resolve/$COMMIT/$(basename "$f") /blobs/sha256/$sha"
    done
  } >"$MIN/Dockerfile"
  timed "minimal graph cold" "ADD --checksum per file" \
    $DOCKER buildx build --progress=plain $(cold_flag) -o "type=local,dest=$WORK/out-min" "$MIN"
  timed "minimal graph warm" "" $DOCKER buildx build --progress=plain -o "type=local,dest=$WORK/out-min" "$MIN"
fi

# --------------------------------------------------- AIKit-style download --
if [[ "$SKIP" != *" aikit "* ]]; then
  AIK="$WORK/aikit"; mkdir -p "$AIK"
  cp /bin/busybox "$AIK/busybox"
  {
    echo 'set -e; mkdir -p /out; pids=""'
    for f in "$SRC"/*; do
      n=$(basename "$f")
      echo "wget -q -O '/out/$n' '$EP/bench/model/resolve/$COMMIT/$n' & pids=\"\$pids \$!\""
    done
    echo 'for p in $pids; do wait $p; done'
  } >"$AIK/download.sh"
  cat >"$AIK/assemble.sh" <<'SH'
set -e
mkdir -p /layout/blobs/sha256
for f in /src/* /src/.[!.]*; do
  [ -f "$f" ] || continue
  h=$(sha256sum "$f" | cut -d' ' -f1)
  cp "$f" "/layout/blobs/sha256/$h"
done
echo '{"imageLayoutVersion": "1.0.0"}' >/layout/oci-layout
SH
  cat >"$AIK/Dockerfile" <<'DF'
FROM scratch AS busybox
COPY busybox /bin/busybox
ENV PATH=/bin
RUN --network=none ["/bin/busybox", "--install", "-s", "/bin"]
FROM busybox AS download
COPY download.sh /download.sh
RUN --network=host ["/bin/sh", "/download.sh"]
FROM scratch AS model
COPY --from=download /out/ /
FROM busybox AS assemble
COPY assemble.sh /assemble.sh
RUN --network=none --mount=type=bind,from=model,target=/src ["/bin/sh", "/assemble.sh"]
FROM scratch
COPY --from=assemble /layout/ /
DF
  timed "aikit-style cold" "download, copy, sha256sum + cp, copy out" \
    $DOCKER buildx build --progress=plain --allow network.host $(cold_flag) -o "type=local,dest=$WORK/out-aik" "$AIK"
fi

# ---------------------------------------------- the writer vs pipelines --
if [[ "$SKIP" != *" writer "* ]]; then
  BIN="$ROOT/dist/modelpack-frontend"
  [ -x "$BIN" ] || { echo "bench: $BIN missing; run integration/build-image.sh first" >&2; exit 1; }
  shard=$(ls "$SRC"/*.safetensors | head -1)
  W="$WORK/writer"; mkdir -p "$W"
  # Each run starts alike: nothing left to write back, the shard in the
  # page cache (the writer and the pipelines read the same cached bytes).
  warm_input() { sync; cat "$shard" >/dev/null; }
  for fmt in tar tar+zstd tar+gzip; do
    warm_input
    timed "writer $fmt (1 shard)" "pack-layer" "$BIN" pack-layer "$fmt" model.safetensors 644 "$shard" "$W"
  done
  TARC=(tar -C "$SRC" --owner=0 --group=0 --numeric-owner --mtime=@0 -cf - "$(basename "$shard")")
  warm_input
  timed "pipeline tar|sha256sum" "" bash -c "$(printf '%q ' "${TARC[@]}") | sha256sum"
  warm_input
  timed "pipeline tar|tee(sha256sum)|zstd -T0 -3|sha256sum" "" \
    bash -c "$(printf '%q ' "${TARC[@]}") | tee >(sha256sum >$W/d1) | zstd -q -T0 -3 | sha256sum"
  warm_input
  timed "pipeline tar|tee(sha256sum)|pigz -n|sha256sum" "" \
    bash -c "$(printf '%q ' "${TARC[@]}") | tee >(sha256sum >$W/d2) | pigz -n | sha256sum"
  warm_input
  timed "pipeline tar|tee(sha256sum)|gzip -n|sha256sum" "" \
    bash -c "$(printf '%q ' "${TARC[@]}") | tee >(sha256sum >$W/d3) | gzip -n | sha256sum"
fi

# ------------------------------------------------------------ many files --
if [ "$MANY" -gt 0 ] && [[ "$SKIP" != *" many "* ]]; then
  MF="$WORK/many"; mkdir -p "$MF"
  python3 - "$MF" "$MANY" <<'EOF'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    sub = os.path.join(d, f"d{i // 500:03d}")
    os.makedirs(sub, exist_ok=True)
    with open(os.path.join(sub, f"f{i:05d}.txt"), "w") as f:
        f.write(f"file {i}\n")
EOF
  MCOMMIT=$(python3 integration/fakehub/make_repo.py --repos "$REPOS" create bench/many --files-dir "$MF" | python3 -c 'import json,sys; print(json.load(sys.stdin)["commit"])')
  curl -sf "$EP/api/models/bench/many/revision/$MCOMMIT?blobs=true" >/dev/null
  hub_reset
  # The frontend's peak RSS (VmHWM of the gateway process, argv = just
  # /modelpack-frontend) while the cold build runs, and the size of every
  # solve request it sends (debug_dump_llb lines in the daemon's log).
  TAG="bench-many-$$"
  python3 - "$WORK/frontend-hwm" "$WORK/stop-hwm" <<'PY' &
import os, sys, time
out, stop = sys.argv[1], sys.argv[2]
peak = 0
while not os.path.exists(stop):
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if open(f"/proc/{pid}/cmdline", "rb").read() != b"/modelpack-frontend\0":
                continue
            for line in open(f"/proc/{pid}/status"):
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except OSError:
            pass
    time.sleep(0.05)
open(out, "w").write(str(peak))
PY
  HWM_PID=$!
  timed "many files ($MANY) cold" "raw" ours "$WORK/out-many" $(cold_flag) --build-arg source="hf://bench/many@$MCOMMIT" \
    --build-arg debug_dump_llb="$TAG"
  touch "$WORK/stop-hwm"; wait "$HWM_PID" || true
  record "many files cold: hub requests" "$(hub_stats)" "count"
  record "many files cold: frontend peak RSS (MiB)" "$(echo "$(cat "$WORK/frontend-hwm") / 1024" | bc -l)" "count, MiB"
  LOG="${BENCH_DAEMON_LOG:-/var/log/modelpack-docker$([[ "$DOCKER_HOST" == *docker26* ]] && echo 26 || echo 28).log}"
  if [ -r "$LOG" ]; then
    # Lines: "modelpack-frontend: llb-dump <tag> <seq> <part>/<parts> <hex>".
    read -r BIGGEST SOLVES < <(python3 - "$LOG" "$TAG" <<'PY'
import collections, sys
log, tag = sys.argv[1], sys.argv[2]
key = f"modelpack-frontend: llb-dump {tag} "
sizes = collections.Counter()
for line in open(log, errors="replace"):
    i = line.find(key)
    if i < 0:
        continue
    parts = line[i + len(key):].split()
    if len(parts) == 3 and parts[0] != "end":
        sizes[parts[0]] += len(parts[2]) // 2
print(max(sizes.values(), default=0), len(sizes))
PY
)
    record "many files cold: largest solve request (MiB)" "$(echo "$BIGGEST / 1048576" | bc -l)" "count, MiB, of $SOLVES solves"
  fi
  hub_reset
  timed "many files ($MANY) warm" "raw" ours "$WORK/out-many" --build-arg source="hf://bench/many@$MCOMMIT"
  record "many files warm: hub requests" "$(hub_stats)" "count"
  # The same repo as tar layers: the small files are packed in one step.
  timed "many files ($MANY) cold, tar" "tar" ours "$WORK/out-many-tar" $(cold_flag) \
    --build-arg source="hf://bench/many@$MCOMMIT" --build-arg layer_packaging=tar
fi

# ---------------------------------------------------------------- table --
echo
echo "modelpack bench: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $(uname -m), ${SHARDS} x ${SHARD_MB} MiB + ${SMALL} small, many=${MANY}, engine $DOCKER_HOST"
python3 - "$RESULTS" <<'EOF'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
t = {r[0]: float(r[1]) for r in rows}
print(f"| {'measurement':<52} | {'value':>9} | note |")
print(f"|{'-'*54}|{'-'*11}|------|")
for name, value, note in rows:
    shown = f"{float(value):.2f}" if "MiB" in note else f"{int(float(value))}" if note.startswith("count") else f"{float(value):.2f}"
    print(f"| {name:<52} | {shown:>9} | {note} |")
def ratio(label, a, b, target):
    if a in t and b in t and t[b] > 0:
        print(f"| {label:<52} | {t[a]/t[b]:>9.2f} | {target} |")
print()
print(f"| {'ratio (cold runs)':<52} | {'value':>9} | target |")
print(f"|{'-'*54}|{'-'*11}|--------|")
ratio("raw / minimal graph", "ours raw cold", "minimal graph cold", "<= 0.8")
ratio("aikit-style / raw", "aikit-style cold", "ours raw cold", ">= 2.5")
ratio("tar / raw", "ours tar cold", "ours raw cold", "<= 1.1")
ratio("tar+zstd / raw", "ours tar+zstd cold", "ours raw cold", "<= 1.3")
ratio("tar+gzip / raw", "ours tar+gzip cold", "ours raw cold", "<= 2.5")
ratio("zstd pipeline / writer", "pipeline tar|tee(sha256sum)|zstd -T0 -3|sha256sum", "writer tar+zstd (1 shard)", ">= 1.5")
ratio("pigz pipeline / writer", "pipeline tar|tee(sha256sum)|pigz -n|sha256sum", "writer tar+gzip (1 shard)", ">= 1.5")
ratio("gzip pipeline / writer", "pipeline tar|tee(sha256sum)|gzip -n|sha256sum", "writer tar+gzip (1 shard)", "-")
EOF
if [ -n "$LOGS" ]; then
  echo
  echo "slowest steps of each cold build (BuildKit's own times, from $LOGS):"
  python3 - "$LOGS" <<'EOF'
import os, re, sys
logs = sys.argv[1]
for name in sorted(os.listdir(logs)):
    if "cold" not in name or not name.endswith(".log"):
        continue
    names, done = {}, {}
    for line in open(os.path.join(logs, name), errors="replace"):
        m = re.match(r"#(\d+) (DONE ([0-9.]+)s|CACHED|.*)$", line.rstrip())
        if not m:
            continue
        n = m.group(1)
        if m.group(3):
            done[n] = float(m.group(3))
        elif m.group(2) != "CACHED" and n not in names and not m.group(2)[:1].isdigit():
            names[n] = m.group(2)[:90]
    print(f"  {name[:-4]}:")
    for n, t in sorted(done.items(), key=lambda kv: -kv[1])[:8]:
        print(f"    {t:7.1f}s  {names.get(n, '#' + n)}")
EOF
fi
