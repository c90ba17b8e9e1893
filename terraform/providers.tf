# Credentials come from the caller's environment (AWS_PROFILE, SSO, or the usual
# AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY); nothing here stores or reads a secret.
provider "aws" {
  region = var.region

  # Refuse to run against any account other than the one the operator named, so a stale
  # profile cannot deploy into (or destroy) the wrong account.
  allowed_account_ids = var.allowed_account_ids == [] ? null : var.allowed_account_ids

  default_tags {
    tags = merge(var.extra_tags, {
      Project   = "image-processor"
      Stack     = var.name_prefix
      ManagedBy = "terraform"
    })
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}
