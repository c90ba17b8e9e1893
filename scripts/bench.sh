#!/usr/bin/env bash
# Memory and time benchmark of the CLI on the shared benchmark inputs.
#
# Usage: scripts/bench.sh [--no-write] [--peers | --cold-start]
#
#   --peers   instead of the table below, the side-by-side run against Pillow, libvips, sharp
#             and a naive image-rs baseline: ../shared/bench/run_bench.sh with this build as
#             the product, every process pinned to one CPU (BENCH_TASKSET, default 0: about a
#             1-vCPU Lambda), results in bench-results/ (ignored by git); then
#             scripts/bench_ratios.py writes the harness's table and the product's ratios
#             against each target into BENCHMARKS.md between the peers markers. The peers are
#             installed once per machine by `bash ../shared/bench/setup_peers.sh` (root; about
#             3 minutes); the run takes about 15 minutes on 2 cores.
#   --cold-start  instead of the table below, the Lambda binary's cold start: builds
#             image-processor-lambda (release, --features aws, this machine's architecture),
#             starts the AWS emulator (scripts/moto.sh) and runs scripts/cold_start.py, which
#             times process start to the binary's first request for an event on the Lambda
#             Runtime API, BENCH_COLD_RUNS times (default 20) per sandbox mode; writes the
#             table into BENCHMARKS.md between the coldstart markers.
#
# Builds the release binary, then runs
#   /usr/bin/time -v target/release/image-processor process --op OP IN -o OUT
# for every .jpg/.png/.webp in the inputs folder × every op, RUNS times each, and writes a
# markdown table (median wall time, max peak RSS, per input × op) into BENCHMARKS.md between
# the bench markers, with the date, the machine and the rustc version. --no-write prints the
# table only.
#
# Environment:
#   BENCH_INPUTS     folder of inputs (default: ../shared/bench-inputs beside the repo)
#   BENCH_OPS        ops to run (default: "fit thumb grayscale")
#   BENCH_RUNS       runs per input × op (default: 5)
#   BENCH_RSS_LIMIT  peak RSS limit in MiB for the 4096×4096 JPEG and PNG (default: 128,
#                    the smallest Lambda)
#   BENCH_SANDBOX    the CLI's --sandbox mode (default: the CLI's default)
#   BENCH_BATCH      images per batch for the sandbox-overhead and throughput part (default: 60)
#
# A second part measures the sandbox's own cost and the warm throughput: one `process` call
# on a batch of BENCH_BATCH small images (the bundled samples/, copied round-robin into a
# temporary folder), RUNS times with `--sandbox off` (decode in-process) and with
# `--sandbox strict` (a fresh worker per image), and reports images per second for each and
# the per-image overhead of the sandbox ((strict - off) / images: spawn, set-up, framing).
# The same is done for one call on every benchmark input (the large photos) with op fit.
#
# Exit status: 0 when every run succeeded and every 4096×4096 JPEG/PNG run stayed within
# BENCH_RSS_LIMIT; 1 otherwise (the table is written either way); 2 on usage errors.
#
# Peak RSS is /usr/bin/time's "Maximum resident set size": the largest peak of any single
# process of the run (the kernel's ru_maxrss), not the sum of the processes. With the sandbox
# that is the worker, which does the decoding; the CLI parent beside it holds about 5 MiB
# more (the input and output bytes and the binary), which the number leaves out.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

write=1
peers=0
cold=0
for arg in "$@"; do
  case "$arg" in
    --no-write) write=0 ;;
    --peers) peers=1 ;;
    --cold-start) cold=1 ;;
    -h|--help) sed -n '2,/^set -euo pipefail/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "bench.sh: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done

if [[ $peers -eq 1 && $cold -eq 1 ]]; then
  echo "bench.sh: --peers and --cold-start are two different runs: give one" >&2
  exit 2
fi

# Replaces what lies between the lines START and END of BENCHMARKS.md with the file TABLE
# (the markers are appended first when the document lacks them).
write_section() {
  local start="$1" end="$2" table="$3" doc="$root/BENCHMARKS.md" tmp
  tmp="$(mktemp)"
  if [[ ! -f "$doc" ]] || ! grep -qF "$start" "$doc"; then
    {
      [[ -f "$doc" ]] && cat "$doc" && echo
      echo "$start"
      echo "$end"
    } > "$tmp"
    cp "$tmp" "$doc"
  fi
  awk -v start="$start" -v end="$end" -v tf="$table" '
    $0 == start { print; while ((getline line < tf) > 0) print line; skip = 1; next }
    $0 == end { skip = 0 }
    !skip { print }
  ' "$doc" > "$tmp"
  cp "$tmp" "$doc"
  rm -f "$tmp"
  echo "bench.sh: wrote $doc" >&2
}

if [[ $cold -eq 1 ]]; then
  cold_runs="${BENCH_COLD_RUNS:-20}"
  [[ "$cold_runs" =~ ^[1-9][0-9]*$ ]] || { echo "bench.sh: BENCH_COLD_RUNS must be a positive integer" >&2; exit 2; }
  scripts/tools.sh aws
  echo "bench.sh: building the Lambda binary (release, --features aws)" >&2
  cargo build --release --locked --features aws --bin image-processor-lambda >&2
  lambda_bin="${CARGO_TARGET_DIR:-$root/target}/release/image-processor-lambda"
  # Stop the emulator afterwards only if this run started it.
  if ! endpoint="$(scripts/moto.sh url 2>/dev/null)"; then
    endpoint="$(scripts/moto.sh start)"
    trap 'scripts/moto.sh stop >/dev/null' EXIT
  fi
  cold_table="$(mktemp)"
  {
    echo "Measured $(date -u +%Y-%m-%d) on $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), $(uname -m)), $(rustc --version | cut -d' ' -f1-2), by \`scripts/bench.sh --cold-start\`."
    echo
    "$root/.tools/aws/bin/python" "$root/scripts/cold_start.py" \
      --binary "$lambda_bin" --endpoint "$endpoint" --runs "$cold_runs"
  } > "$cold_table"
  cat "$cold_table"
  [[ $write -eq 1 ]] && write_section "<!-- coldstart:start -->" "<!-- coldstart:end -->" "$cold_table"
  rm -f "$cold_table"
  exit 0
fi

inputs_dir="${BENCH_INPUTS:-$root/../shared/bench-inputs}"
read -r -a ops <<< "${BENCH_OPS:-fit thumb grayscale}"
runs="${BENCH_RUNS:-5}"
batch="${BENCH_BATCH:-60}"
rss_limit="${BENCH_RSS_LIMIT:-128}"
sandbox_args=()
if [[ -n "${BENCH_SANDBOX:-}" ]]; then
  sandbox_args=(--sandbox "$BENCH_SANDBOX")
fi

[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "bench.sh: BENCH_RUNS must be a positive integer" >&2; exit 2; }
[[ "$batch" =~ ^[1-9][0-9]*$ ]] || { echo "bench.sh: BENCH_BATCH must be a positive integer" >&2; exit 2; }
[[ -d "$inputs_dir" ]] || { echo "bench.sh: no inputs folder $inputs_dir (set BENCH_INPUTS)" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "bench.sh: needs GNU time at /usr/bin/time (apt-get install time)" >&2; exit 2; }

shopt -s nullglob
inputs=("$inputs_dir"/*.jpg "$inputs_dir"/*.png "$inputs_dir"/*.webp)
shopt -u nullglob
[[ ${#inputs[@]} -gt 0 ]] || { echo "bench.sh: no .jpg/.png/.webp in $inputs_dir" >&2; exit 2; }

echo "bench.sh: building the release binary" >&2
cargo build --release --bin image-processor >&2
bin="$root/target/release/image-processor"
if [[ -n "${CARGO_TARGET_DIR:-}" ]]; then
  bin="$CARGO_TARGET_DIR/release/image-processor"
fi

if [[ $peers -eq 1 ]]; then
  harness="$root/../shared/bench/run_bench.sh"
  [[ -f "$harness" ]] || { echo "bench.sh: no side-by-side harness at $harness" >&2; exit 2; }
  [[ -x /tmp/bench-venv/bin/python ]] || {
    echo "bench.sh: the peers are not installed: run 'bash ../shared/bench/setup_peers.sh' first" >&2
    exit 2
  }
  export BENCH_OUT="$root/bench-results"
  bash "$harness" --taskset "${BENCH_TASKSET:-0}" \
    --product "$bin process --op {op} {in} -o {out}"
  ratio_args=("$BENCH_OUT/results_summary.tsv" --results "$BENCH_OUT/RESULTS.md")
  [[ $write -eq 1 ]] && ratio_args+=(--write "$root/BENCHMARKS.md")
  python3 "$root/scripts/bench_ratios.py" "${ratio_args[@]}"
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Median of integers given one per line.
median() {
  sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) { print 0 } else if (NR % 2) { print v[(NR + 1) / 2] } else { printf "%d\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 } }'
}

rows=()
failed=0
over=()
for input in "${inputs[@]}"; do
  name="$(basename "$input")"
  size="$(stat -c %s "$input")"
  for op in "${ops[@]}"; do
    walls=()
    max_kb=0
    status="ok"
    for ((i = 1; i <= runs; i++)); do
      out="$work/out-$name"
      rm -f "$out"
      set +e
      /usr/bin/time -v -o "$work/time.txt" \
        "$bin" process --op "$op" ${sandbox_args[@]+"${sandbox_args[@]}"} "$input" -o "$out" \
        > "$work/record.json" 2> "$work/stderr.txt"
      rc=$?
      set -e
      if [[ $rc -ne 0 ]]; then
        status="exit $rc"
        reason="$(sed -n 's/.*"reason":"\([^"]*\)".*/\1/p' "$work/record.json" | head -n 1)"
        [[ -n "$reason" ]] && status="exit $rc ($reason)"
        failed=1
        echo "bench.sh: $name $op run $i: $status" >&2
        sed -n '1,5p' "$work/stderr.txt" >&2
      fi
      wall="$(awk -F': ' '/Elapsed \(wall clock\)/ { print $2 }' "$work/time.txt")"
      # h:mm:ss or m:ss.ss → milliseconds.
      ms="$(awk -v t="$wall" 'BEGIN { n = split(t, p, ":"); s = 0; for (k = 1; k <= n; k++) s = s * 60 + p[k]; printf "%d\n", s * 1000 + 0.5 }')"
      kb="$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$work/time.txt")"
      walls+=("$ms")
      (( kb > max_kb )) && max_kb="$kb"
    done
    med="$(printf '%s\n' "${walls[@]}" | median)"
    mib="$(awk -v k="$max_kb" 'BEGIN { printf "%.1f", k / 1024 }')"
    if [[ "$name" == *4096x4096* && ( "$name" == *.jpg || "$name" == *.png ) ]]; then
      if awk -v m="$mib" -v l="$rss_limit" 'BEGIN { exit !(m > l) }'; then
        over+=("$name $op: $mib MiB (limit $rss_limit MiB, over by $(awk -v m="$mib" -v l="$rss_limit" 'BEGIN { printf "%.1f", m - l }') MiB)")
        status="OVER ${rss_limit} MiB"
      fi
    fi
    rows+=("| \`$name\` | $size | $op | $med | $mib | $status |")
    echo "bench.sh: $name $op: median ${med} ms, peak ${mib} MiB, $status" >&2
  done
done


# --- Sandbox overhead and warm throughput -------------------------------------------------
# Milliseconds since the epoch (GNU date).
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# batch_run LABEL MODE DIR...: one `process` call on every file of the folders, RUNS times;
# prints the median wall ms. A run that does not exit 0 fails the benchmark.
batch_run() {
  local label="$1" mode="$2"; shift 2
  local walls=() i t0 t1 rc
  for ((i = 1; i <= runs; i++)); do
    rm -rf "$work/batch-out"
    mkdir -p "$work/batch-out"
    t0="$(now_ms)"
    set +e
    "$bin" process --sandbox "$mode" "$@" --out-dir "$work/batch-out" > "$work/batch.json" 2> "$work/batch.err"
    rc=$?
    set -e
    t1="$(now_ms)"
    if [[ $rc -ne 0 ]]; then
      echo "bench.sh: batch $label --sandbox $mode run $i: exit $rc" >&2
      sed -n '1,5p' "$work/batch.err" >&2
      failed=1
    fi
    walls+=("$(( t1 - t0 ))")
  done
  printf '%s\n' "${walls[@]}" | median
}

# The small batch: the bundled samples (never the hostile ones), copied round-robin.
shopt -s nullglob
samples=("$root"/samples/*.jpg "$root"/samples/*.png "$root"/samples/*.webp)
shopt -u nullglob
mkdir -p "$work/small"
for ((i = 0; i < batch; i++)); do
  s="${samples[$(( i % ${#samples[@]} ))]}"
  cp "$s" "$work/small/$(printf '%03d' "$i")-$(basename "$s")"
done
mkdir -p "$work/large"
for input in "${inputs[@]}"; do
  cp "$input" "$work/large/$(basename "$input")"
done

sandbox_rows=()
for set in small large; do
  n="$(find "$work/$set" -type f | wc -l)"
  if [[ "$set" == small ]]; then
    what="$n small samples (\`samples/\`, $(du -sb "$work/small" | cut -f1) bytes in all), ops from their names"
  else
    what="the $n benchmark inputs above, op fit"
  fi
  extra=()
  [[ "$set" == large ]] && extra=(--op fit)
  off_ms="$(batch_run "$set" off ${extra[@]+"${extra[@]}"} "$work/$set"/*)"
  strict_ms="$(batch_run "$set" strict ${extra[@]+"${extra[@]}"} "$work/$set"/*)"
  read -r off_ips strict_ips per_image <<< "$(awk -v n="$n" -v a="$off_ms" -v b="$strict_ms" 'BEGIN {
    printf "%.1f %.1f %.2f\n", (a > 0 ? n * 1000 / a : 0), (b > 0 ? n * 1000 / b : 0), (b - a) / n }')"
  sandbox_rows+=("| $what | $off_ms | $strict_ms | $off_ips | $strict_ips | $per_image |")
  echo "bench.sh: batch $set: off ${off_ms} ms, strict ${strict_ms} ms, sandbox ${per_image} ms/image" >&2
done

cpu="$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)"
table="$(
  echo "Measured $(date -u +%Y-%m-%d) on $(nproc) of $(nproc --all) CPUs (${cpu:-unknown CPU}), $(rustc --version)."
  echo "Each cell: ${runs} runs of \`image-processor process --op OP IN -o OUT\` (release build,"
  echo "sandbox ${BENCH_SANDBOX:-default}); wall time is the median, peak RSS the maximum over the runs."
  echo
  echo "| input | bytes | op | median wall ms | peak RSS MiB | status |"
  echo "|---|---:|---|---:|---:|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Sandbox cost and warm throughput: one \`process\` call on a whole batch, median of ${runs}"
  echo "runs, with \`--sandbox off\` (in-process) and \`--sandbox strict\` (a fresh worker per image)."
  echo "Overhead per image = (strict - off) / images: worker spawn, isolation set-up, framing."
  echo
  echo "| batch | off ms | strict ms | off images/s | strict images/s | sandbox ms/image |"
  echo "|---|---:|---:|---:|---:|---:|"
  printf '%s\n' "${sandbox_rows[@]}"
)"
echo "$table"

if [[ $write -eq 1 ]]; then
  printf '%s\n' "$table" > "$work/table.md"
  write_section "<!-- bench:start -->" "<!-- bench:end -->" "$work/table.md"
fi

if [[ ${#over[@]} -gt 0 ]]; then
  echo "bench.sh: peak RSS over the limit:" >&2
  printf '  %s\n' "${over[@]}" >&2
  exit 1
fi
if [[ $failed -ne 0 ]]; then
  echo "bench.sh: some runs failed (see the status column)" >&2
  exit 1
fi
