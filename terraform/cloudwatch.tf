# Logs, alarms and event rules. Seven CloudWatch alarms in total: the free tier covers ten,
# and tests/py/test_terraform.py keeps the count at ten or fewer.

resource "aws_cloudwatch_log_group" "lambda" {
  #checkov:skip=CKV_AWS_338:Retention is 30 days by design (var.log_retention_days): logs are for operations, stay within the free tier, and carry no image data; long-term audit evidence is CloudTrail in the logs bucket (365 days).
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

# KMS refusals seen by the function (key disabled, pending deletion, or policy broken) are
# counted from its logs: AWS publishes no metric for "the key is unusable". The function's
# cold-start check logs "KMS_KEY_ID: key ... is not usable (state ...)"; S3 and KMS calls
# refused for the key state carry the AWS error codes matched below.
resource "aws_cloudwatch_log_metric_filter" "kms_unusable" {
  name           = "${var.name_prefix}-kms-unusable"
  log_group_name = aws_cloudwatch_log_group.lambda.name
  pattern        = "?\"is not usable\" ?DisabledException ?KMSInvalidStateException ?\"KMS.DisabledException\" ?\"KMS.KMSInvalidStateException\""

  metric_transformation {
    name          = "KmsUnusable"
    namespace     = "ImageProcessor/${var.name_prefix}"
    value         = "1"
    default_value = "0"
    unit          = "Count"
  }
}

locals {
  lambda_dimensions = { FunctionName = aws_lambda_function.processor.function_name }
}

# 1. Any function error (decoder crash, dependency failure) -> notifications.
resource "aws_cloudwatch_metric_alarm" "lambda_errors" {
  alarm_name          = "${var.name_prefix}-lambda-errors"
  alarm_description   = "The function failed at least once in 5 minutes. Triage with INCIDENT_RESPONSE.md."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = local.lambda_dimensions
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.notifications.arn]
  ok_actions          = [aws_sns_topic.notifications.arn]
}

# 2. Throttles: uploads arrive faster than the reserved concurrency; a possible flood (DoS).
resource "aws_cloudwatch_metric_alarm" "lambda_throttles" {
  alarm_name          = "${var.name_prefix}-lambda-throttles"
  alarm_description   = "Invocations were throttled at the reserved concurrency: possible upload flood (DoS)."
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  dimensions          = local.lambda_dimensions
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.security_alerts.arn]
}

# 3. Duration close to the timeout: a decoder that runs long is the time-limit path.
resource "aws_cloudwatch_metric_alarm" "lambda_duration" {
  alarm_name          = "${var.name_prefix}-lambda-duration"
  alarm_description   = "Maximum duration above 80% of the timeout in 5 minutes."
  namespace           = "AWS/Lambda"
  metric_name         = "Duration"
  dimensions          = local.lambda_dimensions
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.lambda_timeout_seconds * 1000 * 0.8
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.notifications.arn]
}

# 4. Anything in the DLQ is an event that was not processed.
resource "aws_cloudwatch_metric_alarm" "dlq_depth" {
  alarm_name          = "${var.name_prefix}-dlq-depth"
  alarm_description   = "Events are waiting in the dead-letter queue. Recover with INCIDENT_RESPONSE.md (re-drive)."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.dlq.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.notifications.arn]
  ok_actions          = [aws_sns_topic.notifications.arn]
}

# 5. Rejection spike: the function publishes every hostile rejection to security-alerts,
# so that topic's publish count is the rejection rate (no log format is assumed).
resource "aws_cloudwatch_metric_alarm" "rejection_spike" {
  alarm_name          = "${var.name_prefix}-rejection-spike"
  alarm_description   = "Many hostile rejections in 5 minutes: someone is probing the decoders."
  namespace           = "AWS/SNS"
  metric_name         = "NumberOfMessagesPublished"
  dimensions          = { TopicName = aws_sns_topic.security_alerts.name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.rejection_alarm_threshold
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.security_alerts.arn]
}

# 6. Storage: the images bucket grows past the alarm size (abuse, or a lifecycle failure).
# S3 publishes this metric once a day.
resource "aws_cloudwatch_metric_alarm" "s3_storage" {
  alarm_name          = "${var.name_prefix}-s3-storage"
  alarm_description   = "Images bucket larger than var.storage_alarm_bytes (free tier is 5 GB)."
  namespace           = "AWS/S3"
  metric_name         = "BucketSizeBytes"
  dimensions          = { BucketName = aws_s3_bucket.images.id, StorageType = "StandardStorage" }
  statistic           = "Average"
  period              = 86400
  evaluation_periods  = 1
  threshold           = var.storage_alarm_bytes
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.security_alerts.arn]
}

# 7. The key is unusable (disabled, pending deletion): nothing can be read or written.
resource "aws_cloudwatch_metric_alarm" "kms_key_state" {
  alarm_name          = "${var.name_prefix}-kms-key-state"
  alarm_description   = "The function was refused by KMS (key disabled or pending deletion). Cancel the deletion / enable the key, then re-drive the DLQ."
  namespace           = "ImageProcessor/${var.name_prefix}"
  metric_name         = "KmsUnusable"
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.security_alerts.arn]

  depends_on = [aws_cloudwatch_log_metric_filter.kms_unusable]
}

# Key-state changes as they happen (needs a CloudTrail trail in the account, ours when
# enable_cloudtrail is on): DisableKey, ScheduleKeyDeletion, PutKeyPolicy on our key.
resource "aws_cloudwatch_event_rule" "kms_key_changes" {
  name        = "${var.name_prefix}-kms-key-changes"
  description = "Administrative changes to the stack key"
  event_pattern = jsonencode({
    source        = ["aws.kms"]
    "detail-type" = ["AWS API Call via CloudTrail"]
    detail = {
      eventSource = ["kms.amazonaws.com"]
      eventName   = ["DisableKey", "ScheduleKeyDeletion", "PutKeyPolicy", "DisableKeyRotation"]
      requestParameters = {
        keyId = [aws_kms_key.main.arn, aws_kms_key.main.key_id, aws_kms_alias.main.name, aws_kms_alias.main.arn]
      }
    }
  })
}

resource "aws_cloudwatch_event_target" "kms_key_changes" {
  rule = aws_cloudwatch_event_rule.kms_key_changes.name
  arn  = aws_sns_topic.security_alerts.arn
}

# GuardDuty findings of medium severity or higher (4.0+) go to security-alerts.
resource "aws_cloudwatch_event_rule" "guardduty_findings" {
  count       = var.enable_guardduty ? 1 : 0
  name        = "${var.name_prefix}-guardduty-findings"
  description = "GuardDuty findings of severity 4 or higher"
  event_pattern = jsonencode({
    source        = ["aws.guardduty"]
    "detail-type" = ["GuardDuty Finding"]
    detail = {
      severity = [{ numeric = [">=", 4] }]
    }
  })
}

resource "aws_cloudwatch_event_target" "guardduty_findings" {
  count = var.enable_guardduty ? 1 : 0
  rule  = aws_cloudwatch_event_rule.guardduty_findings[0].name
  arn   = aws_sns_topic.security_alerts.arn
}
