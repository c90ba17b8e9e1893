# The function: provided.al2023 (the binary needs glibc 2.29+), arm64 by default, the zip
# from scripts/build_lambda.sh.

resource "aws_lambda_code_signing_config" "processor" {
  count       = length(var.code_signing_profile_version_arns) > 0 ? 1 : 0
  description = "${var.name_prefix}: only code signed by the listed profiles may be deployed"

  allowed_publishers {
    signing_profile_version_arns = var.code_signing_profile_version_arns
  }

  policies {
    untrusted_artifact_on_deployment = "Enforce"
  }
}

resource "aws_lambda_function" "processor" {
  #checkov:skip=CKV_AWS_117:The function only talks to AWS APIs (S3, DynamoDB, SNS, KMS); a VPC would need NAT or five interface endpoints (billed hourly) and adds no isolation the IAM role does not already give.
  #checkov:skip=CKV_AWS_116:Failed asynchronous invocations go to the SQS DLQ through the on-failure destination (aws_lambda_function_event_invoke_config below), which keeps the original event plus the error; a dead_letter_config as well would enqueue each failure twice.
  #checkov:skip=CKV_AWS_272:Code signing is optional (var.code_signing_profile_version_arns) because it needs an AWS Signer profile; when set, the config below enforces it. The zip's sha256 is printed by build_lambda.sh and pinned through source_code_hash.
  function_name    = local.function_name
  description      = "Turns untrusted uploads/ images into safe processed/ images"
  role             = aws_iam_role.lambda.arn
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = [var.lambda_architecture]
  filename         = local.lambda_zip_path
  source_code_hash = filebase64sha256(local.lambda_zip_path)
  memory_size      = var.lambda_memory_mb
  timeout          = var.lambda_timeout_seconds
  package_type     = "Zip"

  reserved_concurrent_executions = var.reserved_concurrency
  kms_key_arn                    = aws_kms_key.main.arn
  code_signing_config_arn        = length(aws_lambda_code_signing_config.processor) > 0 ? aws_lambda_code_signing_config.processor[0].arn : null

  ephemeral_storage {
    size = 512
  }

  tracing_config {
    mode = "Active"
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.lambda.name
  }

  environment {
    variables = merge(
      {
        IMAGES_BUCKET             = aws_s3_bucket.images.id
        INPUT_PREFIX              = local.input_prefix
        OUTPUT_PREFIX             = local.output_prefix
        RECORDS_TABLE             = aws_dynamodb_table.records.name
        NOTIFICATIONS_TOPIC_ARN   = aws_sns_topic.notifications.arn
        SECURITY_ALERTS_TOPIC_ARN = aws_sns_topic.security_alerts.arn
        KMS_KEY_ID                = aws_kms_key.main.arn
        EXPECTED_BUCKET_OWNER     = local.account_id
        MAX_INPUT_BYTES           = tostring(var.max_input_bytes)
        MAX_DIMENSION             = tostring(var.max_dimension)
        # Lambda refuses no_new_privs/seccomp to the function, so the sandbox runs the layers
        # it can get (separate process, cleared environment, closed descriptors, rlimits)
        # and records which ones in each record's sandbox_layers.
        SANDBOX_MODE = "best-effort"
        LOG_LEVEL    = var.log_level
      },
      var.notify_hmac_key_ciphertext == "" ? {} : { NOTIFY_HMAC_KEY_CIPHERTEXT = var.notify_hmac_key_ciphertext },
    )
  }

  depends_on = [aws_iam_role_policy.lambda]
}

# Asynchronous invocation (every S3 event): bounded retries and age, then the DLQ.
resource "aws_lambda_function_event_invoke_config" "processor" {
  function_name                = aws_lambda_function.processor.function_name
  maximum_retry_attempts       = var.async_max_retry_attempts
  maximum_event_age_in_seconds = var.async_max_event_age_seconds

  destination_config {
    on_failure {
      destination = aws_sqs_queue.dlq.arn
    }
  }
}

# Stop any S3 -> Lambda -> S3 loop that a misconfiguration might create (Terminate is also
# AWS's default; it is set so a reviewer can see it).
resource "aws_lambda_function_recursion_config" "processor" {
  function_name  = aws_lambda_function.processor.function_name
  recursive_loop = "Terminate"
}

# Only our bucket, in our account, may invoke the function.
resource "aws_lambda_permission" "s3_invoke" {
  statement_id   = "AllowS3InvokeFromImagesBucket"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.processor.function_name
  principal      = "s3.amazonaws.com"
  source_arn     = aws_s3_bucket.images.arn
  source_account = local.account_id
}
