# The dead-letter queue of the function's asynchronous invocations (the on-failure
# destination): an S3 event that failed every retry, or grew older than the maximum event
# age, lands here with its original payload, and the runbook re-drives it. 14 days is the
# longest SQS keeps a message.
resource "aws_sqs_queue" "dlq" {
  name                              = "${var.name_prefix}-dlq"
  message_retention_seconds         = 1209600
  kms_master_key_id                 = aws_kms_key.main.arn
  kms_data_key_reuse_period_seconds = 3600
}

data "aws_iam_policy_document" "dlq" {
  statement {
    sid       = "FunctionSendsFailures"
    effect    = "Allow"
    resources = [aws_sqs_queue.dlq.arn]
    actions   = ["sqs:SendMessage"]
    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.lambda.arn]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    resources = [aws_sqs_queue.dlq.arn]
    actions   = ["sqs:*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sqs_queue_policy" "dlq" {
  queue_url = aws_sqs_queue.dlq.id
  policy    = data.aws_iam_policy_document.dlq.json
}
