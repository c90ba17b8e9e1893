# Pinned versions. Terraform 1.10+ for the S3 backend's native lock file (use_lockfile,
# below); the AWS provider 5.x line is the one this configuration was written and scanned
# against (aws_lambda_function_recursion_config needs 5.76 or later). Commit the
# .terraform.lock.hcl that `terraform init` writes, so every apply uses the same provider build.
terraform {
  required_version = ">= 1.10.0, < 2.0.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.80"
    }
  }

  # Remote state (recommended for teams): state holds resource ARNs and the function's
  # environment, so keep it in an encrypted, versioned bucket with locking. Create that
  # bucket once by hand, then uncomment and run `terraform init -migrate-state`:
  #
  # backend "s3" {
  #   bucket       = "my-terraform-state-123456789012"
  #   key          = "image-processor/terraform.tfstate"
  #   region       = "eu-west-1"
  #   encrypt      = true
  #   use_lockfile = true
  # }
  #
  # Without a backend block the state is local (terraform/terraform.tfstate, ignored by git).
}
