#!/usr/bin/env bash
# Checks a released frontend image against the released binaries:
#
#   integration/check-release-image.sh REPO@sha256:… dist/release
#
# - SHA256SUMS in the release folder matches every binary in it;
# - the reference is an image index with exactly one linux/<arch> manifest
#   per released binary (modelpack-frontend-linux-<arch>), and for each a
#   BuildKit attestation manifest carrying SLSA provenance;
# - each platform's image holds /modelpack-frontend byte for byte equal to
#   the released binary of its architecture (copied out by a `FROM` build
#   for that platform: nothing runs, so no emulation is needed).
#
# Uses docker buildx (imagetools and build) with DOCKER and DOCKER_HOST as
# integration/build-image-multiarch.sh picks them, and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
REF="${1:?usage: check-release-image.sh REPO@sha256:… RELEASE_DIR}"
DIR="${2:?usage: check-release-image.sh REPO@sha256:… RELEASE_DIR}"
# shellcheck source=integration/engine-lib.sh
. "$(dirname "$0")/engine-lib.sh"
use_store_engine_docker
log() { printf '[check-release-image] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

(cd "$DIR" && sha256sum --quiet -c SHA256SUMS) || die "SHA256SUMS does not match the binaries in $DIR"
arches="$(sed -n 's/^[0-9a-f]\{64\}  modelpack-frontend-linux-//p' "$DIR/SHA256SUMS" | sort | tr '\n' ' ')"
[ -n "$arches" ] || die "no modelpack-frontend-linux-<arch> in $DIR/SHA256SUMS"

"$DOCKER" buildx imagetools inspect --raw "$REF" >"$WORK/index.json"
repo="${REF%@*}"
# Each attestation manifest's predicate types, keyed by its digest.
python3 - "$WORK/index.json" >"$WORK/attestations" <<'PY'
import json, sys
index = json.load(open(sys.argv[1]))
for m in index.get("manifests", []):
    a = m.get("annotations", {})
    if a.get("vnd.docker.reference.type") == "attestation-manifest":
        print(m["digest"], a["vnd.docker.reference.digest"])
PY
while read -r att _; do
  "$DOCKER" buildx imagetools inspect --raw "$repo@$att" >"$WORK/att-${att#sha256:}.json"
done <"$WORK/attestations"
python3 - "$WORK" "$arches" <<'PY' >"$WORK/platforms"
import json, os, sys
work, want = sys.argv[1], sorted(sys.argv[2].split())
index = json.load(open(os.path.join(work, "index.json")))
assert index.get("mediaType") == "application/vnd.oci.image.index.v1+json", f"not an OCI image index: {index.get('mediaType')}"
images = {}
for m in index["manifests"]:
    p = m.get("platform", {})
    if p.get("os") == "linux":
        arch = p["architecture"]
        assert arch not in images, f"two linux/{arch} manifests"
        images[arch] = m["digest"]
assert sorted(images) == want, f"platforms {sorted(images)}, released binaries {want}"
provenance = set()
for m in index["manifests"]:
    a = m.get("annotations", {})
    if a.get("vnd.docker.reference.type") != "attestation-manifest":
        continue
    att = json.load(open(os.path.join(work, f"att-{m['digest'][7:]}.json")))
    types = [l.get("annotations", {}).get("in-toto.io/predicate-type", "") for l in att.get("layers", [])]
    if any("slsa.dev/provenance" in t for t in types):
        provenance.add(a["vnd.docker.reference.digest"])
for arch, digest in sorted(images.items()):
    assert digest in provenance, f"linux/{arch} ({digest}) has no SLSA provenance attestation"
    print(arch, digest)
PY
while read -r arch digest; do
  log "linux/$arch: $digest"
  mkdir -p "$WORK/$arch.ctx"
  echo "FROM $repo@$digest" | "$DOCKER" buildx build --progress=quiet --platform "linux/$arch" \
    -o "type=local,dest=$WORK/$arch" -f- "$WORK/$arch.ctx" >/dev/null
  want="$(sha256sum <"$DIR/modelpack-frontend-linux-$arch" | cut -d' ' -f1)"
  got="$(sha256sum <"$WORK/$arch/modelpack-frontend" | cut -d' ' -f1)"
  [ "$got" = "$want" ] || die "linux/$arch: the image's /modelpack-frontend ($got) is not the released binary ($want)"
done <"$WORK/platforms"
log "ok: $REF holds the released binaries (${arches% }) with provenance"
