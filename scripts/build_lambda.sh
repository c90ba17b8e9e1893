#!/usr/bin/env bash
# Builds the Lambda zip: target/lambda/image-processor-lambda/bootstrap.zip
#
# Usage: scripts/build_lambda.sh [--arch arm64|x86_64]     (default arm64)
#
# cargo-lambda comes pinned from scripts/tools.sh (it brings zig, which links against the
# glibc of Lambda's provided.al2023 runtime: the binary needs glibc 2.29 or later, so the
# older provided.al2 is not an option). If arm64 cannot be built here, the script builds
# x86_64 instead, says so loudly, and records the architecture next to the zip;
# scripts/deploy.sh passes it to Terraform as lambda_architecture.
#
# CARGO_TARGET_DIR is honoured for the compilation (a separate directory keeps this release
# cross-build from contending with debug builds and tests for target/); the zip always lands in
# target/lambda/, where scripts/deploy.sh and terraform/locals.tf look for it.
#
# Reproducibility: --locked (Cargo.lock decides every dependency), paths remapped out of the
# binary, SOURCE_DATE_EPOCH from the last commit. The zip's sha256 is printed in hex and in
# the base64 form that `aws lambda get-function` reports as CodeSha256, so a deployed
# function can be compared with a local build.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

arch="arm64"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --arch) arch="${2:-}"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo pipefail/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: scripts/build_lambda.sh [--arch arm64|x86_64]" >&2; exit 2 ;;
  esac
done
[[ "$arch" == "arm64" || "$arch" == "x86_64" ]] || { echo "build_lambda.sh: --arch must be arm64 or x86_64" >&2; exit 2; }

scripts/tools.sh lambda
export PATH="$root/.tools/lambda/bin:$PATH"
command -v cargo-lambda >/dev/null || { echo "build_lambda.sh: cargo-lambda missing after tools.sh lambda" >&2; exit 1; }

SOURCE_DATE_EPOCH="$(git log -1 --format=%ct 2>/dev/null || echo 0)"
export SOURCE_DATE_EPOCH
export RUSTFLAGS="${RUSTFLAGS:-} --remap-path-prefix=$root=/build --remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo"

lambda_dir="$root/target/lambda"
out_dir="$lambda_dir/image-processor-lambda"
zip="$out_dir/bootstrap.zip"

build() {
  local flag="$1"
  cargo lambda build --release "$flag" --features aws --bin image-processor-lambda \
    --output-format zip --lambda-dir "$lambda_dir" --locked
}

if [[ "$arch" == "arm64" ]]; then
  if rustup target add aarch64-unknown-linux-gnu && build --arm64; then
    built="arm64"
  else
    echo "" >&2
    echo "build_lambda.sh: *** arm64 build FAILED; falling back to x86_64. ***" >&2
    echo "build_lambda.sh: *** Deploy with lambda_architecture = \"x86_64\" (deploy.sh does this from $out_dir/ARCH). ***" >&2
    echo "" >&2
    rustup target add x86_64-unknown-linux-gnu
    build --x86-64
    built="x86_64"
  fi
else
  rustup target add x86_64-unknown-linux-gnu
  build --x86-64
  built="x86_64"
fi

[[ -f "$zip" ]] || { echo "build_lambda.sh: expected $zip was not produced" >&2; exit 1; }
echo "$built" >"$out_dir/ARCH"

hex="$(sha256sum "$zip" | cut -d' ' -f1)"
b64="$(openssl dgst -sha256 -binary "$zip" | base64)"
echo "built:        $zip"
echo "architecture: $built"
echo "sha256:       $hex"
echo "CodeSha256:   $b64  (compare with: aws lambda get-function --function-name NAME --query Configuration.CodeSha256)"
