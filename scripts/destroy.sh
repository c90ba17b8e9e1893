#!/usr/bin/env bash
# Removes the stack: empties both buckets (every object version and delete marker), then
# runs terraform destroy. The KMS key is not deleted at once: AWS schedules its deletion
# after kms_deletion_window_days (cancel with `aws kms cancel-key-deletion`).
#
# Usage: scripts/destroy.sh [--yes] [TERRAFORM_DESTROY_ARGS...]
#   e.g. scripts/destroy.sh -var-file=examples/free-tier.tfvars
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
for a in "$@"; do
  case "$a" in
    -h|--help) sed -n '2,/^[^#]/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
  esac
done

assume_yes=0
tf_args=()
for a in "$@"; do
  case "$a" in
    --yes) assume_yes=1 ;;
    *) tf_args+=("$a") ;;
  esac
done

command -v terraform >/dev/null || { echo "destroy.sh: terraform is not installed" >&2; exit 2; }
scripts/tools.sh aws
export PATH="$root/.tools/aws/bin:$PATH"

images_bucket="$(terraform -chdir=terraform output -raw s3_bucket_name)"
logs_bucket="$(terraform -chdir=terraform output -raw access_logs_bucket_name)"

echo "This deletes EVERY object and version in:"
echo "  $images_bucket"
echo "  $logs_bucket"
echo "and destroys the records table, topics, queue, function and (after its waiting period) the key."
if [[ "$assume_yes" -ne 1 ]]; then
  read -r -p "Type the images bucket name to confirm: " answer
  if [[ "$answer" != "$images_bucket" ]]; then
    echo "destroy.sh: names differ; nothing was deleted." >&2
    exit 1
  fi
fi

# Deletes every version and delete marker, 1000 at a time (the DeleteObjects maximum).
empty_bucket() {
  local bucket="$1" batch
  batch="$(mktemp)"
  while true; do
    # The backticks are JMESPath literals, not shell expansions.
    # shellcheck disable=SC2016
    aws s3api list-object-versions --bucket "$bucket" --max-items 1000 --output json \
      --query '{Objects: [Versions || `[]`, DeleteMarkers || `[]`][] | [:1000].{Key: Key, VersionId: VersionId}, Quiet: `true`}' \
      >"$batch"
    if grep -q '"Objects": \[\]' "$batch"; then
      break
    fi
    aws s3api delete-objects --bucket "$bucket" --delete "file://$batch" >/dev/null
  done
  rm -f "$batch"
  echo "emptied $bucket"
}

empty_bucket "$images_bucket"
empty_bucket "$logs_bucket"

if [[ "$assume_yes" -eq 1 ]]; then
  terraform -chdir=terraform destroy -input=false -auto-approve "${tf_args[@]}"
else
  terraform -chdir=terraform destroy -input=false "${tf_args[@]}"
fi
