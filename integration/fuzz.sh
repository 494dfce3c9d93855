#!/usr/bin/env bash
# Fuzzes every parser that reads untrusted input (fuzz/fuzz_targets/*.rs)
# with cargo-fuzz (libFuzzer + AddressSanitizer) on the nightly toolchain.
#
#   integration/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# SECONDS_PER_TARGET defaults to 10; CI runs it with a few seconds per
# target. Each run starts from the seeds in fuzz/seeds/<target>/ plus the
# test fixtures, and keeps what it finds in fuzz/corpus/<target>/
# (git-ignored). Limits make a length-driven allocation or a hang a
# failure: -rss_limit_mb=1024, -malloc_limit_mb=256, -timeout=10.
# Installs the nightly toolchain (minimal profile) and cargo-fuzz when
# missing. A crash leaves its input in fuzz/artifacts/<target>/ and fails.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-10}"
shift || true

if ! rustc +nightly --version >/dev/null 2>&1; then
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

cd fuzz
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi
cargo +nightly fuzz build --release
for t in "${targets[@]}"; do
  corpus="corpus/$t"
  mkdir -p "$corpus"
  [ -d "seeds/$t" ] && cp -n seeds/"$t"/* "$corpus"/ 2>/dev/null || true
  fixtures=../modelpack/tests/fixtures/describe
  case "$t" in
    safetensors_header) cp -n "$fixtures"/*.safetensors "$fixtures"/sharded/* "$corpus"/ 2>/dev/null || true ;;
    gguf_header) cp -n "$fixtures"/*.gguf "$corpus"/ 2>/dev/null || true ;;
    model_card) cp -n "$fixtures"/README_*.md "$fixtures"/config_*.json "$corpus"/ 2>/dev/null || true ;;
  esac
  echo "fuzz: $t for ${secs}s"
  log="$(mktemp)"
  if ! cargo +nightly fuzz run --release "$t" "$corpus" -- \
      -max_total_time="$secs" -rss_limit_mb=1024 -malloc_limit_mb=256 -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
    grep -E "^(==|SUMMARY|thread|panicked|ERROR|Test unit)" "$log" | head -20 >&2 || true
    echo "fuzz: $t FAILED; the input is in fuzz/artifacts/$t/ (full log: $log)" >&2
    exit 1
  fi
  echo "fuzz: $t: $(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}') executions, no crash"
  rm -f "$log"
done
echo "fuzz: ${#targets[@]} targets ran ${secs}s each without a crash"
