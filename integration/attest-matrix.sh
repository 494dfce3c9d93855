#!/usr/bin/env bash
# BuildKit's attestations with our results (NOT run by CI, never by
# integration/test.sh): for each engine, output mode, exporter and
# attestation flag set, builds examples/tiny-model's files (a context
# model, four files) and prints what BuildKit put where: the files beside
# a `-o type=local` export, the attestation manifests of `-o type=oci` and
# of `--push` (their in-toto predicate types, per manifest of the index),
# or the error. docs/trust.md has the table this gives.
#
#   integration/attest-matrix.sh
#
# Attestation flag sets (ATTEST_MATRIX_FLAGS, ";"-separated):
#   default                 none given: buildx asks for provenance mode=min,
#                           inline-only
#   prov-max                --provenance=mode=max
#   sbom                    --sbom=generator=<the stub of integration/sbom-stub/>
#   prov-max+sbom           both
# Environment:
#   ATTEST_MATRIX_ENGINES ("26 28 28s"), ATTEST_MATRIX_MODES ("layout files image"),
#   ATTEST_MATRIX_EXPORTERS ("local oci push")
#   MODELPACK_IMAGE  the frontend image (default localhost:5000/modelpack-frontend:dev)
#   CRANE            default /opt/modelpack-engine-28/usr/bin/crane
# Pushes go to localhost:5000/modelpack-attest-matrix/… (deleted afterwards
# with crane, best effort). The builds' cache records are tiny and stay.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ENGINES="${ATTEST_MATRIX_ENGINES:-26 28 28s}"
MODES="${ATTEST_MATRIX_MODES:-layout files image}"
EXPORTERS="${ATTEST_MATRIX_EXPORTERS:-local oci push}"
IMAGE="${MODELPACK_IMAGE:-localhost:5000/modelpack-frontend:dev}"
NEXT_ROOT=/opt/modelpack-engine-28
CRANE="${CRANE:-$NEXT_ROOT/usr/bin/crane}"
STUB=localhost:5000/modelpack-test/sbom-stub:1
[ -x "$CRANE" ] || { echo "attest-matrix: no crane at $CRANE" >&2; exit 1; }
integration/sbom-stub/build.sh "$STUB" >/dev/null
declare -A FLAGSETS=(
  [default]=""
  [prov-max]="--provenance=mode=max"
  [sbom]="--sbom=generator=$STUB"
  [prov-max+sbom]="--provenance=mode=max --sbom=generator=$STUB"
)
FLAGS="${ATTEST_MATRIX_FLAGS:-default;prov-max;sbom;prov-max+sbom}"

WORK="$(mktemp -d /tmp/modelpack-attest-matrix.XXXXXX)"
PUSHED=()
cleanup() {
  for r in "${PUSHED[@]}"; do "$CRANE" delete --insecure "$r" >/dev/null 2>&1 || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
RUN="$(date +%s)-$$"

# engine <name>: sets DOCKER and exports DOCKER_HOST (and DOCKER_CONFIG).
engine() {
  unset DOCKER_CONFIG
  case "$1" in
    26) DOCKER=/usr/bin/docker; export DOCKER_HOST=unix:///run/modelpack-docker26.sock ;;
    28) DOCKER=$NEXT_ROOT/usr/bin/docker; export DOCKER_HOST=unix:///run/modelpack-docker28.sock DOCKER_CONFIG=$NEXT_ROOT/docker-config ;;
    28s) DOCKER=$NEXT_ROOT/usr/bin/docker; export DOCKER_HOST=unix:///run/modelpack-docker28s.sock DOCKER_CONFIG=$NEXT_ROOT/docker-config ;;
    *) echo "attest-matrix: unknown engine $1 (26, 28, 28s)" >&2; exit 1 ;;
  esac
}

# summary <kind> <where>: one line saying what BuildKit added.
#   local DIR: the top-level files that are in-toto statements
#     (provenance.json, sbom.spdx.json), with their predicate types and
#     subject counts; oci DIR / push REF: per manifest of the index, its
#     platform and, for attestation manifests, their layers' predicate types.
summary() {
  python3 - "$1" "$2" "$CRANE" <<'EOF'
import json, os, subprocess, sys
kind, where, crane = sys.argv[1:4]
def blob_local(d):
    return json.load(open(os.path.join(where, "blobs", *d.split(":"))))
def blob_remote(d):
    repo = where.rsplit(":", 1)[0] if "@" not in where else where.split("@")[0]
    out = subprocess.run([crane, "manifest", "--insecure", f"{repo}@{d}"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)
if kind == "local":
    parts = []
    for e in sorted(os.listdir(where)):
        p = os.path.join(where, e)
        if not os.path.isfile(p) or not e.endswith(".json"):
            continue
        try:
            s = json.load(open(p))
        except Exception:
            continue
        if isinstance(s, dict) and "predicateType" in s:
            parts.append(f"{e} ({s['predicateType'].replace('https://', '')}, {len(s.get('subject', []))} subjects)")
    print("adds " + ", ".join(parts) if parts else "nothing added")
    sys.exit()
if kind == "oci":
    top = json.load(open(os.path.join(where, "index.json")))
    get = blob_local
else:
    out = subprocess.run([crane, "manifest", "--insecure", where], capture_output=True, text=True, check=True)
    top = {"manifests": [{"digest": "top", "_doc": json.loads(out.stdout)}]}
    get = blob_remote
def walk(desc, depth=0):
    doc = desc.get("_doc") or get(desc["digest"])
    mt = doc.get("mediaType", "")
    if "manifests" in doc:
        return [x for m in doc["manifests"] for x in walk(m, depth + 1)]
    plat = desc.get("platform", {})
    p = f"{plat.get('os', '?')}/{plat.get('architecture', '?')}"
    ann = desc.get("annotations", {})
    if ann.get("vnd.docker.reference.type") == "attestation-manifest":
        types = [l.get("annotations", {}).get("in-toto.io/predicate-type", "?").replace("https://", "") for l in doc.get("layers", [])]
        return [f"attestation {p}: {', '.join(types)}"]
    return [f"{mt.split('.')[-1] or 'manifest'} {p} ({len(doc.get('layers', []))} layers)"]
items = [x for m in top["manifests"] for x in walk(m)]
print("; ".join(items))
EOF
}

CTX="$ROOT/examples/tiny-model"
ROWS=()
for eng in $ENGINES; do
  engine "$eng"
  for mode in $MODES; do
    for exp in $EXPORTERS; do
      IFS=';' read -ra sets <<<"$FLAGS"
      for set in "${sets[@]}"; do
        tag="$eng-$mode-$exp-${set//+/-}"
        dest="$WORK/$tag"
        ref="localhost:5000/modelpack-attest-matrix/$RUN:$tag"
        case "$exp" in
          local) out="type=local,dest=$dest" ;;
          oci) out="type=oci,tar=false,dest=$dest" ;;
          push) out="type=image,name=$ref,push=true"; PUSHED+=("$ref") ;;
        esac
        # shellcheck disable=SC2086 # the flag set is words
        if "$DOCKER" buildx build --progress=plain --build-arg BUILDKIT_SYNTAX="$IMAGE" \
          --target packager/modelpack --build-arg source=. --build-arg output_mode="$mode" \
          ${FLAGSETS[$set]} -o "$out" -f- "$CTX" </dev/null >"$WORK/$tag.log" 2>&1; then
          what=$(summary "$exp" "$([ "$exp" = push ] && echo "$ref" || echo "$dest")" 2>&1 | tail -1)
        else
          what="FAILS: $(grep -E 'ERROR|error:' "$WORK/$tag.log" | tail -1 | cut -c1-160)"
        fi
        ROWS+=("| $eng | $mode | $exp | $set | $what |")
        printf '%s\n' "${ROWS[-1]}" >&2
        rm -rf "$dest"
      done
    done
  done
done

echo
echo "BuildKit attestations per engine, output mode, exporter and flags ($(date -u +%Y-%m-%d), image $IMAGE):"
echo
echo "| engine | output_mode | exporter | flags | what BuildKit adds |"
echo "|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
