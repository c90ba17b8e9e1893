#!/usr/bin/env bash
# Deploys the stack into the AWS account of the caller's credentials.
#
# Usage: scripts/deploy.sh [--yes] [TERRAFORM_PLAN_ARGS...]
#   e.g. scripts/deploy.sh -var-file=examples/free-tier.tfvars
#        (paths are relative to terraform/, where Terraform runs)
#
# Order: security scan -> build -> terraform init -> plan -> confirm -> apply.
# A failed scan stops everything: nothing is built or deployed. --yes skips the prompt (CI);
# the plan that is applied is always the one that was shown.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
for a in "$@"; do
  case "$a" in
    -h|--help) sed -n '2,/^[^#]/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
  esac
done

assume_yes=0
plan_args=()
for a in "$@"; do
  case "$a" in
    --yes) assume_yes=1 ;;
    *) plan_args+=("$a") ;;
  esac
done

command -v terraform >/dev/null || { echo "deploy.sh: terraform is not installed" >&2; exit 2; }
scripts/tools.sh scan aws

echo "==> security scan (scripts/security_scan.sh)"
if ! scripts/security_scan.sh; then
  echo "deploy.sh: the security scan failed; refusing to deploy. Fix the findings and run again." >&2
  exit 1
fi

echo "==> build"
scripts/build_lambda.sh
arch="$(cat target/lambda/image-processor-lambda/ARCH)"

echo "==> terraform init"
terraform -chdir=terraform init -input=false

echo "==> terraform plan"
plan_file="tfplan"
trap 'rm -f "$root/terraform/$plan_file"' EXIT
terraform -chdir=terraform plan -input=false -out="$plan_file" \
  -var "lambda_architecture=$arch" "${plan_args[@]}"

if [[ "$assume_yes" -ne 1 ]]; then
  read -r -p "Apply this plan? Type 'yes' to continue: " answer
  if [[ "$answer" != "yes" ]]; then
    echo "deploy.sh: not applied." >&2
    exit 1
  fi
fi

echo "==> terraform apply"
terraform -chdir=terraform apply -input=false "$plan_file"
terraform -chdir=terraform output
