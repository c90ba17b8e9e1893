#!/usr/bin/env bash
# scan_selftest.sh - proves that every gate of scripts/security_scan.sh can FAIL.
#
# A scanner that never fails proves nothing. This script builds throwaway projects from
# tests/scan_selftest/ (files named *.fixture, so no tool in the real tree picks them up)
# in a temporary directory and checks that each tool, and security_scan.sh as a whole,
# rejects them:
#
#   bad/      a Cargo project that pins smallvec =1.6.0 (RUSTSEC-2021-0003, in the offline
#             advisory snapshot), depends on a path crate named `libwebp-sys` under
#             GPL-3.0-only (a banned C-codec name and a licence outside the allow-list) and
#             on a path crate outside the project; its lib.rs is badly formatted and has a
#             clippy warning; scripts/bad.sh has shellcheck findings; terraform/main.tf is
#             a public, unencrypted S3 bucket, badly formatted.
#   good/     the control: smallvec =1.6.1 (patched). cargo deny and cargo audit must PASS
#             on it with the same policy and database, so the failures above are caused by
#             what the fixtures contain and not by a broken setup.
#
# Expectations (each one counts as passed or failed):
#   cargo deny --offline check    fails, names RUSTSEC-2021-0003, bans libwebp-sys,
#                                 rejects the GPL licence            (bad)  / passes (good)
#   cargo audit --no-fetch --db   fails and names RUSTSEC-2021-0003  (bad)  / passes (good)
#   checkov                       fails with CKV_AWS_20 and CKV_AWS_145
#   terraform fmt -check          fails (only where terraform is installed; else skipped)
#   cargo fmt --check, clippy -D warnings, shellcheck   fail
#   security_scan.sh --dir bad/   exits non-zero with FAIL on every step row, and its deny
#                                 row reports the path dependency outside the project
#
# Offline: the advisory database is the ../shared snapshot (../shared/tools/advisory-db.sh);
# the fixture crates resolve smallvec through cargo's normal client, from the local cache
# when it is there (`cargo generate-lockfile --offline`, falling back to a normal resolve).
#
# Usage: scripts/scan_selftest.sh [-k|--keep]    (--keep leaves the temporary directory)
# The last line is "N passed, N failed"; the exit status is non-zero if any expectation
# failed.
set -uo pipefail

script_dir="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
repo_root="$(cd -- "$script_dir/.." && pwd -P)"
fixtures="$repo_root/tests/scan_selftest"
shared_dir="${SECURITY_SHARED_DIR:-$repo_root/../shared}"
advisory=RUSTSEC-2021-0003

keep=0
case "${1:-}" in
  -k|--keep) keep=1 ;;
  "") ;;
  *) echo "usage: scripts/scan_selftest.sh [--keep]" >&2; exit 2 ;;
esac

passed=0; failed=0; skipped=0
pass() { passed=$((passed + 1)); echo "PASS  $*"; }
fail() { failed=$((failed + 1)); echo "FAIL  $*"; }
skip() { skipped=$((skipped + 1)); echo "SKIP  $*"; }
finish() {
  echo
  echo "$passed passed, $failed failed, $skipped skipped"
  [[ $failed -eq 0 ]]
  exit $?
}

tmp="$(mktemp -d "${TMPDIR:-/tmp}/scan-selftest.XXXXXX")"
# shellcheck disable=SC2329 # invoked by the EXIT trap below.
cleanup() { if [[ $keep -eq 1 ]]; then echo "kept $tmp" >&2; else rm -rf -- "$tmp"; fi; }
trap cleanup EXIT
logs="$tmp/logs"
mkdir -p -- "$logs"

# run NAME CMD...: runs CMD quietly, output in $logs/NAME.log; sets RC and OUT (the log path).
RC=0; OUT=""
run() {
  local name="$1"; shift
  OUT="$logs/$name.log"
  "$@" > "$OUT" 2>&1
  RC=$?
}
# expect_fail WHAT [PATTERN...]: the last run exited non-zero and its output has each pattern.
expect_fail() {
  local what="$1" p missing=""; shift
  for p in "$@"; do grep -qE -- "$p" "$OUT" || missing="$missing $p"; done
  if [[ $RC -ne 0 && -z "$missing" ]]; then
    pass "$what (exit $RC${*:+, found: $*})"
  else
    fail "$what (exit $RC${missing:+, missing:$missing}; log: $OUT)"
    sed 's/^/      | /' "$OUT" | tail -n 15
  fi
}
expect_pass() {
  local what="$1"
  if [[ $RC -eq 0 ]]; then pass "$what (exit 0)"; else
    fail "$what (exit $RC; log: $OUT)"; sed 's/^/      | /' "$OUT" | tail -n 15
  fi
}

# --- setup -----------------------------------------------------------------------------
echo "scan_selftest.sh: working in $tmp"
if ! bash "$repo_root/scripts/tools.sh" scan; then
  fail "scripts/tools.sh scan could not install the pinned scanners"
  finish
fi
PATH="$repo_root/.tools/scan/bin:$PATH"
export PATH

if ! db_root=$("$shared_dir/tools/advisory-db.sh" "$repo_root/target/advisory-dbs"); then
  fail "could not prepare the offline advisory database from $shared_dir"
  finish
fi
if [[ ! -f "$shared_dir/advisory-db/crates/smallvec/$advisory.md" ]]; then
  fail "the advisory snapshot does not hold $advisory (pick another pinned crate)"
  finish
fi

# Materialise the fixtures: tests/scan_selftest/X.fixture -> $tmp/X.
while IFS= read -r -d '' f; do
  rel="${f#"$fixtures"/}"
  dest="$tmp/${rel%.fixture}"
  mkdir -p -- "$(dirname -- "$dest")"
  cp -- "$f" "$dest"
done < <(find "$fixtures" -type f -name '*.fixture' -print0)
chmod +x "$tmp/bad/scripts/bad.sh"
for p in bad good; do
  cp -- "$repo_root/deny.toml" "$tmp/$p/deny.toml"
  # Resolve from the local cache when possible; otherwise cargo's normal client.
  if ! (cd "$tmp/$p" && { cargo generate-lockfile --offline || cargo generate-lockfile; } \
          && cargo fetch) > "$logs/lock-$p.log" 2>&1; then
    fail "could not make the $p fixture's Cargo.lock (log: $logs/lock-$p.log)"
    finish
  fi
done
if grep -q 'name = "smallvec"' "$tmp/bad/Cargo.lock" && grep -q 'version = "1.6.0"' "$tmp/bad/Cargo.lock"; then
  pass "fixture Cargo.lock pins smallvec 1.6.0"
else
  fail "fixture Cargo.lock does not pin smallvec 1.6.0"
fi

# --- (a) the advisory gates, the bans and licence gates, and their control ---------------
cd -- "$tmp/bad" || exit 1
run deny-bad env ADVISORY_DB_ROOT="$db_root" cargo deny --offline check
expect_fail "cargo deny reports the advisory, the banned crate and the licence" \
  "$advisory" "error\[vulnerability\]" "error\[banned\].*libwebp-sys" "error\[rejected\]" "GPL-3.0"
run audit-bad cargo audit --no-fetch --db "$db_root/rustsec-advisory-db" --deny warnings
expect_fail "cargo audit reports the advisory" "$advisory" "smallvec"

cd -- "$tmp/good" || exit 1
run deny-good env ADVISORY_DB_ROOT="$db_root" cargo deny --offline check
expect_pass "control: cargo deny passes on patched smallvec 1.6.1"
run audit-good cargo audit --no-fetch --db "$db_root/rustsec-advisory-db" --deny warnings
expect_pass "control: cargo audit passes on patched smallvec 1.6.1"

# --- (b) the IaC gates -----------------------------------------------------------------
cd -- "$tmp/bad" || exit 1
run checkov checkov -d terraform --quiet --compact --skip-download
expect_fail "checkov fails the public unencrypted bucket" "CKV_AWS_20" "CKV_AWS_145" "Failed checks: [1-9]"
if command -v terraform >/dev/null 2>&1; then
  run tf-fmt terraform fmt -check -recursive terraform/
  expect_fail "terraform fmt -check fails the misformatted .tf" "main\.tf"
else
  skip "terraform fmt -check: terraform CLI not installed"
fi

# --- (c) formatting, lints, shell --------------------------------------------------------
run fmt cargo fmt --all -- --check
expect_fail "cargo fmt --check fails the misformatted lib.rs" "Diff in"
run clippy cargo clippy --all-targets --all-features -- -D warnings
expect_fail "cargo clippy -D warnings fails the needless return" "needless_return"
run shellcheck shellcheck scripts/bad.sh
expect_fail "shellcheck reports bad.sh" "SC2045" "SC2086"

# --- (d) the whole scan on the bad project -----------------------------------------------
cd -- "$repo_root" || exit 1
run scan-bad env SECURITY_SCAN_LOG_DIR="$tmp/scan-logs" bash "$repo_root/scripts/security_scan.sh" --dir "$tmp/bad"
expect_fail "security_scan.sh --dir bad/ exits non-zero" "security-scan: [0-9]+ passed, [1-9][0-9]* failed"
for step in fmt clippy deny audit tf-fmt checkov shellcheck; do
  if [[ "$step" == tf-fmt ]] && ! command -v terraform >/dev/null 2>&1; then
    if grep -qE "^tf-fmt +\| SKIP +\| terraform CLI not installed" "$OUT"; then
      pass "scan row tf-fmt is SKIP without terraform"
    else fail "scan row tf-fmt is not SKIP without terraform"; fi
    continue
  fi
  if grep -qE "^$step +\| FAIL " "$OUT"; then
    pass "scan row $step is FAIL: $(grep -E "^$step +\| FAIL " "$OUT" | cut -d'|' -f3 | sed 's/^ *//; s/ *$//')"
  else
    fail "scan row $step is not FAIL: $(grep -E "^$step +\|" "$OUT" || echo missing)"
  fi
done
if grep -qE '^deny +\| FAIL .*outside path deps' "$OUT"; then
  pass "scan deny row reports the path dependency outside the project"
else
  fail "scan deny row does not report the path dependency outside the project"
fi
if grep -q "$advisory" "$tmp/scan-logs/deny.log" && grep -q "$advisory" "$tmp/scan-logs/audit.log"; then
  pass "scan logs name $advisory in both deny and audit"
else
  fail "scan logs do not name $advisory in both deny and audit"
fi

finish
