#!/usr/bin/env bash
# Runs the AWS tests against moto, a local AWS API emulator: the handler through the real
# SDK adapters (tests/aws.rs) and the real Lambda binary through the Lambda Runtime API
# (tests/lambda_runtime.rs, with cargo-lambda), plus the AWS modules' unit tests.
#
# Usage: scripts/test_aws.sh [extra cargo test args...]
#
# Installs the pinned tools (scripts/tools.sh aws lambda), starts moto on a free loopback
# port (scripts/moto.sh) unless one is running already, and stops it on exit if it started
# it. The credentials below are dummies that only moto accepts: nothing here can reach AWS.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
for a in "$@"; do
  case "$a" in
    -h|--help) sed -n '2,/^[^#]/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
  esac
done

scripts/tools.sh aws lambda

started=0
if ! url="$(scripts/moto.sh url 2>/dev/null)"; then
  url="$(scripts/moto.sh start)"
  started=1
fi
cleanup() {
  if [[ "$started" == 1 ]]; then
    scripts/moto.sh stop
  fi
}
trap cleanup EXIT

export AWS_ENDPOINT_URL="$url"
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
unset AWS_PROFILE AWS_SESSION_TOKEN
export CARGO_LAMBDA="$root/.tools/lambda/bin/cargo-lambda"
[[ -x "$CARGO_LAMBDA" ]] || { echo "test_aws.sh: $CARGO_LAMBDA missing after tools.sh lambda" >&2; exit 1; }

echo "test_aws.sh: moto at $AWS_ENDPOINT_URL"
cargo test --features aws --lib "$@" -- aws:: telemetry:: config::
cargo test --features aws --test aws --test lambda_runtime "$@"
