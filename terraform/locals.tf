locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  # Bucket names are global, so they carry the account and region.
  images_bucket_name = "${var.name_prefix}-images-${local.account_id}-${local.region}"
  logs_bucket_name   = "${var.name_prefix}-logs-${local.account_id}-${local.region}"

  # The prefixes of the contract with the function. The trigger fires only for uploads/ and
  # the function may write only processed/, so its own output can never trigger it.
  input_prefix      = "uploads/"
  output_prefix     = "processed/"
  quarantine_prefix = "quarantine/"

  function_name  = "${var.name_prefix}-lambda"
  log_group_name = "/aws/lambda/${local.function_name}"
  trail_name     = "${var.name_prefix}-trail"

  # ARNs built from names (not from the resources) where a resource policy must name a
  # resource that itself depends on that policy.
  log_group_arn = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.log_group_name}"
  trail_arn     = "arn:${local.partition}:cloudtrail:${local.region}:${local.account_id}:trail/${local.trail_name}"
  account_root  = "arn:${local.partition}:iam::${local.account_id}:root"

  lambda_zip_path = var.lambda_zip_path != "" ? var.lambda_zip_path : "${path.module}/../target/lambda/image-processor-lambda/bootstrap.zip"

  # Services that may use the key on behalf of principals of this account (kms:ViaService).
  kms_via_services = [for s in ["s3", "dynamodb", "sns", "sqs", "lambda"] : "${s}.${local.region}.amazonaws.com"]
}
