# A stub SBOM generator for the tests (integration/sbom-stub/build.sh), run
# by BuildKit as its SBOM scanner (`--sbom=generator=<this image>`)
# following BuildKit's SBOM scanner protocol (docs/attestations/
# sbom-protocol.md in moby/buildkit): it scans the read-only tree at
# $BUILDKIT_SCAN_SOURCE and writes one in-toto statement whose predicate is
# an SPDX 2.3 JSON document to
# $BUILDKIT_SCAN_DESTINATION/$(basename $BUILDKIT_SCAN_SOURCE).spdx.json.
# It lists every regular file with its size and SHA-256 (so it reads the
# whole tree once, as a real scanner that hashes files does) and names
# what it was given in the document's comment. No clock, no random id.
set -eu
# The image holds /bin/busybox only: its applets as functions.
for applet in basename cut find sed sha256sum sort stat; do
  eval "$applet() { /bin/busybox $applet \"\$@\"; }"
done
: "${BUILDKIT_SCAN_SOURCE:?BUILDKIT_SCAN_SOURCE is required}"
: "${BUILDKIT_SCAN_DESTINATION:?BUILDKIT_SCAN_DESTINATION is required}"
src=$BUILDKIT_SCAN_SOURCE
out="$BUILDKIT_SCAN_DESTINATION/$(basename "$src").spdx.json"
esc() { printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g'; }
{
  printf '{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://spdx.dev/Document","subject":[],'
  printf '"predicate":{"spdxVersion":"SPDX-2.3","dataLicense":"CC0-1.0","SPDXID":"SPDXRef-DOCUMENT",'
  printf '"name":"modelpack-sbom-stub","documentNamespace":"https://modelpack-frontend.dev/spdx/sbom-stub/%s",' "$(basename "$src")"
  printf '"creationInfo":{"created":"1970-01-01T00:00:00Z","creators":["Tool: modelpack-sbom-stub"]},'
  printf '"comment":"BUILDKIT_SCAN_SOURCE=%s BUILDKIT_SCAN_SOURCE_EXTRAS=%s",' "$(esc "$src")" "$(esc "${BUILDKIT_SCAN_SOURCE_EXTRAS:-}")"
  printf '"files":['
  n=0
  (cd "$src" && find . -type f | sort) | while IFS= read -r f; do
    n=$((n + 1))
    sum=$(sha256sum "$src/$f" | cut -d' ' -f1)
    size=$(stat -c %s "$src/$f")
    [ "$n" = 1 ] || printf ','
    printf '{"fileName":"%s","SPDXID":"SPDXRef-File-%s","checksums":[{"algorithm":"SHA256","checksumValue":"%s"}],"comment":"size %s"}' \
      "$(esc "$f")" "$n" "$sum" "$size"
  done
  printf ']}}\n'
} >"$out"
