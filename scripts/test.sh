#!/usr/bin/env bash
# Runs every test of the project: the README's test command, and what CI runs.
#
#   scripts/test.sh          all tests (Rust unit + integration incl. the sandbox and the
#                            ../shared/corpus walk, Terraform/HCL invariants, the incident
#                            runbook against moto, image quality against Pillow, and the
#                            Lambda against moto through the real AWS SDK)
#   scripts/test.sh --quick  everything except the AWS SDK build and the Lambda tests (the
#                            runbook's commands still run against moto)
#
# Installs what it needs itself (pinned venvs under .tools/, see scripts/tools.sh).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

quick=0
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "test.sh: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done

step() { printf '\n==> %s\n' "$*"; }

step "Rust: unit and integration tests (core, CLI, corpus, sandbox)"
cargo test --locked --features sandbox-test-hooks

step "Python tools (pinned venvs)"
scripts/tools.sh aws quality

step "Terraform invariants and the incident runbook's commands (pytest, moto)"
py_tests=()
for f in tests/py/test_*.py; do
  [[ "$(basename "$f")" == "test_quality.py" ]] || py_tests+=("$f")
done
.tools/aws/bin/pytest -q "${py_tests[@]}"

if [[ -f tests/py/test_quality.py ]]; then
  step "Image quality against Pillow (SSIM, metadata)"
  cargo build --locked --release --bin image-processor
  .tools/quality/bin/pytest -q tests/py/test_quality.py
fi

if [[ "$quick" -eq 0 && -x scripts/test_aws.sh ]]; then
  step "The Lambda against moto through the real AWS SDK"
  scripts/test_aws.sh
fi

step "All tests passed"
