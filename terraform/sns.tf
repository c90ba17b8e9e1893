# Two topics, both encrypted with the stack key:
# - notifications: one message per processed object (message attributes `status` and
#   `reason` for subscription filters), plus operational alarms (errors, DLQ depth, duration);
# - security-alerts: hostile rejections, GuardDuty findings, key-state changes, the budget
#   and the alarms that may mean an attack (throttles, rejection spikes, storage growth,
#   an unusable key).

resource "aws_sns_topic" "notifications" {
  name              = "${var.name_prefix}-notifications"
  kms_master_key_id = aws_kms_key.main.arn
}

resource "aws_sns_topic" "security_alerts" {
  name              = "${var.name_prefix}-security-alerts"
  kms_master_key_id = aws_kms_key.main.arn
}

resource "aws_sns_topic_subscription" "security_alerts_email" {
  count     = var.alert_email == "" ? 0 : 1
  topic_arn = aws_sns_topic.security_alerts.arn
  protocol  = "email"
  endpoint  = var.alert_email
}

# Topic policies: the account manages and subscribes, the function publishes, and the named
# AWS services publish only on behalf of this account. Everything over plain HTTP is denied.
data "aws_iam_policy_document" "topic" {
  for_each = {
    notifications   = aws_sns_topic.notifications.arn
    security_alerts = aws_sns_topic.security_alerts.arn
  }

  statement {
    sid       = "AccountManagesAndSubscribes"
    effect    = "Allow"
    resources = [each.value]
    actions = [
      "sns:GetTopicAttributes",
      "sns:ListSubscriptionsByTopic",
      "sns:SetTopicAttributes",
      "sns:Subscribe",
    ]
    principals {
      type        = "AWS"
      identifiers = [local.account_root]
    }
  }

  statement {
    sid       = "FunctionPublishes"
    effect    = "Allow"
    resources = [each.value]
    actions   = ["sns:Publish"]
    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.lambda.arn]
    }
  }

  statement {
    sid       = "AlarmsEventsBudgetsPublish"
    effect    = "Allow"
    resources = [each.value]
    actions   = ["sns:Publish"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com", "events.amazonaws.com", "budgets.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    resources = [each.value]
    actions   = ["sns:Publish", "sns:Subscribe"]
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

resource "aws_sns_topic_policy" "notifications" {
  arn    = aws_sns_topic.notifications.arn
  policy = data.aws_iam_policy_document.topic["notifications"].json
}

resource "aws_sns_topic_policy" "security_alerts" {
  arn    = aws_sns_topic.security_alerts.arn
  policy = data.aws_iam_policy_document.topic["security_alerts"].json
}
