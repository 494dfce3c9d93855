#!/usr/bin/env bash
# Captures BuildKit's error messages for failing fetches on both test
# engines, for the unit tests of frontend/src/buildkit_errors.rs. Run after
# an engine upgrade and compare with the messages in those tests:
#   IMAGE=localhost:5000/modelpack-frontend:dev integration/capture/capture.sh
# Needs integration/engine.sh, integration/engine-next.sh and a pushed image.
set -uo pipefail
cd "$(dirname "$0")"
IMAGE="${IMAGE:-localhost:5000/modelpack-frontend:dev}"
exec 3< <(python3 hostile_http.py)
read -r port <&3
ctx=$(mktemp -d)
trap 'kill %1 2>/dev/null; rm -rf "$ctx"' EXIT
base="http://127.0.0.1:$port"
run() {  # engine case url [extra build args]
  local engine=$1 case=$2 url=$3; shift 3
  local env=(DOCKER_HOST=unix:///run/modelpack-docker26.sock PATH=/usr/sbin:/usr/bin:$PATH) docker=docker
  if [ "$engine" = 28 ]; then
    env=(DOCKER_HOST=unix:///run/modelpack-docker28.sock DOCKER_CONFIG=/opt/modelpack-engine-28/docker-config)
    docker=/opt/modelpack-engine-28/usr/bin/docker
  fi
  local line
  line=$(env "${env[@]}" timeout "${CAPTURE_TIMEOUT:-90}" "$docker" buildx build --progress=plain \
    --build-arg "BUILDKIT_SYNTAX=$IMAGE" --target packager/modelpack --build-arg "source=$url" "$@" -f- "$ctx" </dev/null 2>&1 \
    | grep '^ERROR' | head -n 1)
  printf '%s\t%s\t%s\n' "$engine" "$case" "${line:-<no ERROR line: timed out?>}"
}
for engine in 26 28; do
  for n in 401 403 404 410 429 500 503; do run $engine "status $n" "$base/status/$n/m.bin"; done
  run $engine reset "$base/reset/m.bin"
  run $engine truncate "$base/truncate/m.bin"
  run $engine loop "$base/loop/m.bin"
  run $engine file "$base/file/m.bin"
  run $engine mismatch "$base/ok/m.bin" --build-arg "checksum=sha256:$(printf x | sha256sum | cut -d' ' -f1)"
  [ -n "${CAPTURE_STALL:-}" ] && run $engine stall "$base/stall/m.bin"
done
