#!/usr/bin/env bash
# The fuzz smoke CI runs: installs cargo-fuzz (scripts/tools.sh fuzz), seeds the corpora,
# builds every target and runs each one briefly, so a target that no longer builds or that
# crashes at once fails the build. Prints a summary table; exits non-zero if any target
# failed to build or found a crash (or a leak, a timeout, an out-of-memory).
#
# Usage: scripts/fuzz_smoke.sh [TARGET...]      (default: every target)
#   FUZZ_SECONDS   seconds per target (default 30)
#   FUZZ_RSS_MB    libFuzzer's -rss_limit_mb (default 2048)
#   FUZZ_TIMEOUT   seconds one input may take before it counts as a hang (default 120)
#   FUZZ_SEED      libFuzzer's -seed (default 1: the smoke explores the same mutations on
#                  every run, so a CI result can be reproduced; 0 lets libFuzzer pick one)
#   FUZZ_MAX_LEN   libFuzzer's -max_len (default: libFuzzer's own, the largest seed); a cap
#                  such as 16384 gives the decoding targets several times more executions
#   FUZZ_SANITIZER cargo-fuzz's --sanitizer (default address); `none` is for targets whose
#                  whole code path is safe Rust (decode_png, decode_webp: see fuzz/README.md)
#
# Long runs are not for CI: see fuzz/README.md (`cargo +nightly fuzz run decode`).
# cargo-fuzz needs a nightly compiler. When no `nightly` toolchain is installed, the stable
# one is used with RUSTC_BOOTSTRAP=1, which unlocks the same -Z sanitizer flags.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
for a in "$@"; do
  case "$a" in
    -h|--help) sed -n '2,/^[^#]/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
  esac
done

seconds="${FUZZ_SECONDS:-30}"
rss_mb="${FUZZ_RSS_MB:-2048}"
timeout_s="${FUZZ_TIMEOUT:-120}"
seed="${FUZZ_SEED:-1}"
sanitizer="${FUZZ_SANITIZER:-address}"
len_args=()
if [[ -n "${FUZZ_MAX_LEN:-}" ]]; then
  [[ "$FUZZ_MAX_LEN" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz_smoke.sh: FUZZ_MAX_LEN must be a positive integer" >&2; exit 2; }
  len_args=(-max_len="$FUZZ_MAX_LEN")
fi
all_targets=(decode probe decode_jpeg decode_png decode_webp encode_webp s3_event naming)
if [[ $# -gt 0 ]]; then
  targets=("$@")
else
  targets=("${all_targets[@]}")
fi

scripts/tools.sh fuzz
export PATH="$root/.tools/fuzz/bin:$PATH"

toolchain=()
if cargo +nightly --version >/dev/null 2>&1; then
  toolchain=(+nightly)
else
  echo "fuzz_smoke.sh: no nightly toolchain; using the stable one with RUSTC_BOOTSTRAP=1" >&2
  export RUSTC_BOOTSTRAP=1
fi

scripts/fuzz_seed.sh

logs="$root/fuzz/artifacts/smoke"
mkdir -p "$logs"

# One row per target: name, result, execs, exec/s, coverage, detail.
rows=()
failed=0

echo "==> building the fuzz targets"
if ! cargo "${toolchain[@]}" fuzz build --sanitizer "$sanitizer" >"$logs/build.log" 2>&1; then
  tail -n 40 "$logs/build.log" >&2
  for t in "${targets[@]}"; do
    rows+=("$t|BUILD FAILED|-|-|-|see $logs/build.log")
  done
  failed=1
else
  for t in "${targets[@]}"; do
    echo "==> fuzzing $t for ${seconds}s"
    log="$logs/$t.log"
    rc=0
    cargo "${toolchain[@]}" fuzz run --sanitizer "$sanitizer" "$t" -- \
      ${len_args[@]+"${len_args[@]}"} -max_total_time="$seconds" -rss_limit_mb="$rss_mb" -timeout="$timeout_s" -seed="$seed" \
      -print_final_stats=1 >"$log" 2>&1 || rc=$?
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
    speed="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)"
    cov="$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1 || true)"
    if [[ $rc -eq 0 ]]; then
      rows+=("$t|ok|${execs:--}|${speed:--}|${cov:--}|")
    else
      failed=1
      kind="$(grep -Eo 'ERROR: libFuzzer: [a-z-]+|panicked at [^ ]+|error\[E[0-9]+\]' "$log" | head -n 1 || true)"
      artifact="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)"
      rows+=("$t|FAILED (rc $rc)|${execs:--}|${speed:--}|${cov:--}|${kind:-see $log} ${artifact}")
      tail -n 40 "$log" >&2
    fi
  done
fi

echo
printf '%-12s  %-16s  %10s  %8s  %-22s  %s\n' target result execs exec/s coverage detail
printf '%-12s  %-16s  %10s  %8s  %-22s  %s\n' ------ ------ ----- ------ -------- ------
for row in "${rows[@]}"; do
  IFS='|' read -r t result execs speed cov detail <<<"$row"
  printf '%-12s  %-16s  %10s  %8s  %-22s  %s\n' "$t" "$result" "$execs" "$speed" "$cov" "$detail"
done
echo
if [[ $failed -ne 0 ]]; then
  echo "fuzz_smoke.sh: FAILED (logs in $logs)"
  exit 1
fi
echo "fuzz_smoke.sh: all ${#targets[@]} targets built and ran ${seconds}s without a crash"
