# The function's execution role and exactly what it needs. No "*" action anywhere; "*" as a
# resource only for X-Ray, whose two write actions support no resource-level permissions.
#
# The sandboxed decoder (a child process) never sees these credentials: the worker starts
# with a cleared environment, so the role's session keys exist only in the parent.

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    sid     = "LambdaAssumesRole"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "lambda" {
  name                 = "${var.name_prefix}-lambda"
  description          = "Execution role of ${local.function_name}: read uploads/, write processed/, records, topics, DLQ"
  assume_role_policy   = data.aws_iam_policy_document.lambda_assume.json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "lambda" {
  # Read only the untrusted input. GetObjectVersion because the handler reads the exact
  # version named in the event (so a later overwrite cannot swap the bytes it processes).
  statement {
    sid       = "ReadUploadsOnly"
    effect    = "Allow"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${aws_s3_bucket.images.arn}/${local.input_prefix}*"]
  }

  # List key names under the input prefix only: without s3:ListBucket, S3 answers a read of a
  # missing object with 403 AccessDenied (it will not tell a caller who may not list whether
  # a key exists), which the function must treat as a failed dependency and retry until the
  # dead-letter queue. With it, an object deleted before processing is a 404 NoSuchKey, which
  # the function records as superseded (object-deleted) at once. S3 evaluates this check for
  # a GetObject with the requested key as the prefix, so the condition keeps it to uploads/:
  # the function cannot list processed/ or anything else, and listing reveals names only.
  statement {
    sid       = "ListUploadsOnly"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.images.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.input_prefix}*"]
    }
  }

  # Write only the output prefix, which the trigger does not watch: the function cannot
  # invoke itself through its own output.
  statement {
    sid       = "WriteProcessedOnly"
    effect    = "Allow"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.images.arn}/${local.output_prefix}*"]
  }

  statement {
    sid       = "RecordsTable"
    effect    = "Allow"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.records.arn]
  }

  statement {
    sid       = "PublishToStackTopics"
    effect    = "Allow"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.notifications.arn, aws_sns_topic.security_alerts.arn]
  }

  statement {
    sid       = "SendToDeadLetterQueue"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dlq.arn]
  }

  statement {
    sid       = "UseStackKey"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"]
    resources = [aws_kms_key.main.arn]
  }

  # Its own log group only; the group is created by Terraform, so no CreateLogGroup.
  statement {
    sid       = "OwnLogGroup"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.lambda.arn}:*"]
  }

  # X-Ray's PutTraceSegments and PutTelemetryRecords do not support resource-level
  # permissions; AWS requires "*" here (this is the only "*" resource in the role).
  statement {
    sid       = "XRayWrite"
    effect    = "Allow"
    actions   = ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "lambda" {
  name   = "${var.name_prefix}-lambda"
  role   = aws_iam_role.lambda.id
  policy = data.aws_iam_policy_document.lambda.json
}

# --- AWS Config's role (only when Config is enabled) ---------------------------------------

data "aws_iam_policy_document" "config_assume" {
  statement {
    sid     = "ConfigAssumesRole"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["config.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "config" {
  count              = var.enable_config ? 1 : 0
  name               = "${var.name_prefix}-config"
  description        = "AWS Config recorder of ${var.name_prefix}: reads resource configuration, writes to the logs bucket"
  assume_role_policy = data.aws_iam_policy_document.config_assume.json
}

# AWS's managed policy for the Config recorder (read-only describe/list/get of resources).
resource "aws_iam_role_policy_attachment" "config" {
  count      = var.enable_config ? 1 : 0
  role       = aws_iam_role.config[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AWS_ConfigRole"
}

data "aws_iam_policy_document" "config_delivery" {
  statement {
    sid       = "DeliverToLogsBucket"
    effect    = "Allow"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/config/AWSLogs/${local.account_id}/*"]
  }

  statement {
    sid       = "CheckLogsBucketAcl"
    effect    = "Allow"
    actions   = ["s3:GetBucketAcl"]
    resources = [aws_s3_bucket.logs.arn]
  }

  statement {
    sid       = "EncryptConfigFiles"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.main.arn]
  }
}

resource "aws_iam_role_policy" "config" {
  count  = var.enable_config ? 1 : 0
  name   = "${var.name_prefix}-config-delivery"
  role   = aws_iam_role.config[0].id
  policy = data.aws_iam_policy_document.config_delivery.json
}
