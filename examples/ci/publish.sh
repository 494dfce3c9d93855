#!/usr/bin/env bash
# Packages a model as a ModelPack OCI artifact with docker buildx and the
# modelpack frontend, then pushes it with the frontend's command line. The
# one script the example pipelines in this folder call (github-actions.yml,
# gitlab-ci.yml, docker-bake.hcl); copy it with them.
#
#   FRONTEND=ghcr.io/you/modelpack-frontend:v0.1.0 \
#   SOURCE=huggingface://sentence-transformers/all-MiniLM-L6-v2 \
#   REF=registry.example.com/models/minilm:v1 \
#   CACHE=registry examples/ci/publish.sh
#
#   MODE=bake FRONTEND=… MODELS="minilm=huggingface://sentence-transformers/all-MiniLM-L6-v2" \
#   FORMATS=raw,tar+zstd REGISTRY=registry.example.com/models TAG=v1 \
#   CACHE=registry examples/ci/publish.sh
#
# Prints one line per pushed artifact, `REF@sha256:…`, on stdout (progress
# goes to stderr).
#
# Environment (MODE=build, the default: one model, one format):
#   FRONTEND         the frontend image (BUILDKIT_SYNTAX); required
#   SOURCE           what to package: huggingface://org/name[@revision][/folder],
#                    a URL, or a folder of the build context (see docs/usage.md)
#   REF              where to push the artifact (host/repository:tag); empty:
#                    build only
#   LAYER_PACKAGING  raw (default), tar, tar+gzip or tar+zstd
#   OUT              where the OCI layout is written (default out/model)
#   CONTEXT          the build context (default: this folder, examples/ci)
#   SKIP_BUILD=1     push the layout already in OUT (the GitHub workflow builds
#                    it with docker/build-push-action first)
# Environment (MODE=bake: every model in every format, in one bake):
#   MODELS           space-separated NAME=SOURCE pairs
#   FORMATS          comma-separated layer formats (default raw)
#   REGISTRY         repository prefix: each artifact goes to REGISTRY/NAME:TAG-FORMAT
#                    (`+` in a format becomes `-`); empty: build only
#   TAG              default latest
#   OUT              the layouts go to OUT/<target> (default out)
#   BAKE_FILE        default: docker-bake.hcl in this folder
# Both modes:
#   CACHE            registry, local or none (default): where BuildKit's cache is
#                    exported to (--cache-to) and imported from (--cache-from)
#   CACHE_REF        the cache image for CACHE=registry (default: REF's repository,
#                    tag buildcache; in bake mode REGISTRY/buildcache, one tag per target)
#   CACHE_DIR        the cache folder for CACHE=local (default .buildcache)
#   CACHE_MODE       max (default) or min; min re-runs the steps the frontend reads,
#                    which download the weights again
#   CACHE_COMPRESSION  uncompressed (default), gzip or zstd (see docs/usage.md, In CI)
#   HF_ENDPOINT      another Hub (default: the frontend's, https://huggingface.co)
#   HF_TOKEN         a Hub token for gated or private repos, passed as the build
#                    secret hf-token (never as a build arg)
#   DOWNLOAD_NETWORK network of the download steps: default, or host on engines
#                    without a default network (adds --allow network.host)
#   BUILD_FLAGS      more docker buildx build/bake flags
#   DOCKER           the docker client (default docker)
#   MODELPACK_CLI    the frontend's command line (default: modelpack-frontend on PATH,
#                    else the binary inside FRONTEND, the same release, copied out of
#                    the image by a one-line `FROM` build for this machine's platform)
#   BUILDER          a buildx builder to use; BUILDER=docker-container creates one of
#                    that driver (named modelpack-ci) first, for a docker engine
#                    whose docker driver cannot export caches (the classic image
#                    store, e.g. GitLab's docker:dind)
#   PUSH_FLAGS       more `modelpack-frontend push` flags (e.g. --plain-http for a
#                    test registry; credentials come from docker's config.json)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
MODE="${MODE:-build}"
DOCKER="${DOCKER:-docker}"
CLI="${MODELPACK_CLI:-}"
CACHE="${CACHE:-none}"
CACHE_MODE="${CACHE_MODE:-max}"
CACHE_COMPRESSION="${CACHE_COMPRESSION:-uncompressed}"
DOWNLOAD_NETWORK="${DOWNLOAD_NETWORK:-default}"
FRONTEND="${FRONTEND:?FRONTEND is not set: the frontend image, e.g. ghcr.io/you/modelpack-frontend:v0.1.0}"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
log() { printf '[publish] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

case "$CACHE" in registry | local | none) ;; *) die "CACHE=$CACHE: use registry, local or none" ;; esac
case "$CACHE_MODE" in max | min) ;; *) die "CACHE_MODE=$CACHE_MODE: use max or min" ;; esac
case "$CACHE_COMPRESSION" in uncompressed | gzip | zstd) ;; *) die "CACHE_COMPRESSION=$CACHE_COMPRESSION: use uncompressed, gzip or zstd" ;; esac
case "$DOWNLOAD_NETWORK" in default | host) ;; *) die "DOWNLOAD_NETWORK=$DOWNLOAD_NETWORK: use default or host" ;; esac

# Flags shared by both modes.
common=(--progress=plain)
if [ "${BUILDER:-}" = docker-container ]; then
  "$DOCKER" buildx inspect modelpack-ci >/dev/null 2>&1 ||
    "$DOCKER" buildx create --name modelpack-ci --driver docker-container >/dev/null
  BUILDER=modelpack-ci
fi
[ -z "${BUILDER:-}" ] || common+=(--builder "$BUILDER")
[ "$DOWNLOAD_NETWORK" = host ] && common+=(--allow network.host)
# shellcheck disable=SC2206  # BUILD_FLAGS is a list of flags
common+=(${BUILD_FLAGS:-})

# The command line: MODELPACK_CLI, modelpack-frontend on PATH, or the one in
# the frontend image (a static binary at /modelpack-frontend).
cli() {
  if [ -z "$CLI" ]; then
    if command -v modelpack-frontend >/dev/null; then
      CLI=modelpack-frontend
    else
      log "copying the command line out of $FRONTEND"
      echo "FROM $FRONTEND" | "$DOCKER" buildx build "${common[@]}" -o "type=local,dest=$WORK/cli" -f- "$WORK" >&2
      CLI="$WORK/cli/modelpack-frontend"
    fi
  fi
  "$CLI" "$@"
}

# push <layout> <ref>: pushes the layout's manifest, prints REF@digest.
push() {
  local digest
  # shellcheck disable=SC2086  # PUSH_FLAGS is a list of flags
  digest="$(cli push "$1" "$2" ${PUSH_FLAGS:-})"
  echo "${2%%@*}@$digest"
}

# The cache attributes after the type: "<to attrs>|<from attrs>" for one key.
cache_attrs() {
  local key="$1" exp="mode=$CACHE_MODE,compression=$CACHE_COMPRESSION"
  case "$CACHE" in
    registry) echo "type=registry,ref=$key,$exp|type=registry,ref=$key" ;;
    local) echo "type=local,dest=$key,$exp|type=local,src=$key" ;;
  esac
}

build_one() {
  local out="${OUT:-out/model}" ref="${REF:-}" context="${CONTEXT:-$HERE}"
  if [ "${SKIP_BUILD:-}" != 1 ]; then
    [ -n "${SOURCE:-}" ] || die "SOURCE is not set, e.g. huggingface://org/name"
    local flags=("${common[@]}" --target packager/modelpack
      --build-arg "BUILDKIT_SYNTAX=$FRONTEND"
      --build-arg "source=$SOURCE"
      --build-arg "layer_packaging=${LAYER_PACKAGING:-raw}"
      --build-arg "download_network=$DOWNLOAD_NETWORK")
    [ -z "${HF_ENDPOINT:-}" ] || flags+=(--build-arg "hf_endpoint=$HF_ENDPOINT")
    [ -z "${HF_TOKEN:-}" ] || flags+=(--secret "id=hf-token,env=HF_TOKEN")
    if [ "$CACHE" != none ]; then
      local key attrs
      if [ "$CACHE" = registry ]; then
        key="${CACHE_REF:-}"
        if [ -z "$key" ]; then
          [ -n "$ref" ] || die "CACHE=registry needs CACHE_REF or REF"
          key="$(repository "$ref"):buildcache"
        fi
      else
        key="${CACHE_DIR:-.buildcache}"
      fi
      attrs="$(cache_attrs "$key")"
      flags+=(--cache-to "${attrs%|*}" --cache-from "${attrs#*|}")
    fi
    log "building $SOURCE (${LAYER_PACKAGING:-raw}) into $out, cache: $CACHE"
    rm -rf "$out"
    # No Dockerfile: the build args say what to package (an empty recipe).
    "$DOCKER" buildx build "${flags[@]}" -o "type=local,dest=$out" -f- "$context" </dev/null >&2
  fi
  [ -f "$out/index.json" ] || die "no OCI layout in $out"
  if [ -n "$ref" ]; then
    log "pushing $out to $ref"
    push "$out" "$ref"
  fi
}

# repository <ref>: the reference without its tag and digest.
repository() {
  local r="${1%%@*}" last
  last="${r##*/}"
  case "$last" in *:*) r="${r%:*}" ;; esac
  echo "$r"
}

build_bake() {
  local file="${BAKE_FILE:-$HERE/docker-bake.hcl}" out="${OUT:-out}" registry="${REGISTRY:-}"
  [ -n "${MODELS:-}" ] || die "MODELS is not set: space-separated NAME=SOURCE pairs"
  export FRONTEND MODELS OUT="$out" FORMATS="${FORMATS:-raw}" DOWNLOAD_NETWORK
  export HF_ENDPOINT="${HF_ENDPOINT:-https://huggingface.co}"
  export CONTEXT="${CONTEXT:-$HERE}" REGISTRY="$registry" TAG="${TAG:-latest}"
  export CACHE_TO="" CACHE_FROM="" HF_TOKEN="${HF_TOKEN:-}"
  if [ "$CACHE" != none ]; then
    local key
    if [ "$CACHE" = registry ]; then
      key="${CACHE_REF:-}"
      if [ -z "$key" ]; then
        [ -n "$registry" ] || die "CACHE=registry needs CACHE_REF or REGISTRY"
        key="$registry/buildcache"
      fi
    else
      key="${CACHE_DIR:-.buildcache}"
    fi
    # The bake file appends ":<target>" (registry) or "/<target>" (local).
    local attrs
    attrs="$(cache_attrs "@KEY@")"
    export CACHE_KIND="$CACHE" CACHE_KEY="$key" CACHE_TO="${attrs%|*}" CACHE_FROM="${attrs#*|}"
  fi
  log "baking $MODELS ($FORMATS) into $out/<target>, cache: $CACHE"
  local plan="$WORK/plan.json"
  "$DOCKER" buildx bake -f "$file" --print >"$plan"
  # Paths outside the working directory: no fs entitlement prompts.
  BUILDX_BAKE_ENTITLEMENTS_FS=0 "$DOCKER" buildx bake -f "$file" "${common[@]}" >&2
  [ -n "$registry" ] || return 0
  # Each target's layout and where it goes, from the bake file itself.
  python3 - "$plan" <<'PY' | while read -r dest ref; do
import json, sys
plan = json.load(open(sys.argv[1]))
for name, t in sorted(plan["target"].items()):
    # Outputs are objects in buildx >= 0.20's --print, "type=…,dest=…" strings before.
    outs = [o if isinstance(o, dict) else dict(kv.split("=", 1) for kv in o.split(",")) for o in t["output"]]
    dest = next(o["dest"] for o in outs if o.get("type") == "local")
    print(dest, t["tags"][0])
PY
    log "pushing $dest to $ref"
    push "$dest" "$ref"
  done
}

case "$MODE" in
  build) build_one ;;
  bake) build_bake ;;
  *) die "MODE=$MODE: use build or bake" ;;
esac
