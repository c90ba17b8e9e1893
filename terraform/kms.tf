# One customer-managed key encrypts everything this stack stores: objects, the records table,
# both topics, the dead-letter queue, the function's environment and its log group, and
# (when enabled) CloudTrail and Config files.

resource "aws_kms_key" "main" {
  description             = "${var.name_prefix}: encrypts images, records, topics, DLQ, logs and function environment"
  key_usage               = "ENCRYPT_DECRYPT"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = var.kms_deletion_window_days
  is_enabled              = true
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "main" {
  name          = "alias/${var.name_prefix}"
  target_key_id = aws_kms_key.main.key_id
}

# In a key policy "Resource" is always "*": it means "this key" and nothing else.
data "aws_iam_policy_document" "kms" {
  # Administration only, by the account root (that is, by IAM principals of this account
  # whose IAM policies allow it). No data-plane actions here: nobody can decrypt directly
  # just because they administer the key.
  statement {
    sid       = "KeyAdministrationByAccount"
    effect    = "Allow"
    resources = ["*"]
    actions = [
      "kms:CancelKeyDeletion",
      "kms:CreateAlias",
      "kms:DeleteAlias",
      "kms:DescribeKey",
      "kms:DisableKey",
      "kms:DisableKeyRotation",
      "kms:EnableKey",
      "kms:EnableKeyRotation",
      "kms:GetKeyPolicy",
      "kms:GetKeyRotationStatus",
      "kms:ListAliases",
      "kms:ListGrants",
      "kms:ListKeyPolicies",
      "kms:ListResourceTags",
      "kms:PutKeyPolicy",
      "kms:RevokeGrant",
      "kms:RotateKeyOnDemand",
      "kms:ScheduleKeyDeletion",
      "kms:TagResource",
      "kms:UntagResource",
      "kms:UpdateAlias",
      "kms:UpdateKeyDescription",
    ]
    principals {
      type        = "AWS"
      identifiers = [local.account_root]
    }
  }

  # Use by principals of this account, but only through our services (so an operator can
  # download a processed image or read the table, but cannot call kms:Decrypt directly).
  statement {
    sid       = "UseThroughStackServices"
    effect    = "Allow"
    resources = ["*"]
    actions = [
      "kms:Decrypt",
      "kms:DescribeKey",
      "kms:Encrypt",
      "kms:GenerateDataKey",
      "kms:GenerateDataKeyWithoutPlaintext",
      "kms:ReEncryptFrom",
      "kms:ReEncryptTo",
    ]
    principals {
      type        = "AWS"
      identifiers = [local.account_root]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = local.kms_via_services
    }
    condition {
      test     = "StringEquals"
      variable = "kms:CallerAccount"
      values   = [local.account_id]
    }
  }

  # The services above keep grants on the key (DynamoDB and Lambda do); only for AWS resources.
  statement {
    sid       = "GrantsForStackServices"
    effect    = "Allow"
    resources = ["*"]
    actions   = ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"]
    principals {
      type        = "AWS"
      identifiers = [local.account_root]
    }
    condition {
      test     = "Bool"
      variable = "kms:GrantIsForAWSResource"
      values   = ["true"]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = local.kms_via_services
    }
  }

  # The function's role: decrypt its environment and the optional HMAC key ciphertext
  # directly (those calls do not come through another service), and encrypt what it writes.
  statement {
    sid       = "FunctionRoleUse"
    effect    = "Allow"
    resources = ["*"]
    actions   = ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"]
    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.lambda.arn]
    }
  }

  # Operators make NOTIFY_HMAC_KEY_CIPHERTEXT with `aws kms encrypt`: allowed directly, but
  # only bound to this function's name (the context the function decrypts with).
  statement {
    sid       = "EncryptFunctionSecrets"
    effect    = "Allow"
    resources = ["*"]
    actions   = ["kms:Encrypt"]
    principals {
      type        = "AWS"
      identifiers = [local.account_root]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:LambdaFunctionName"
      values   = [local.function_name]
    }
  }

  # CloudWatch Logs encrypts only our function's log group with this key.
  statement {
    sid       = "CloudWatchLogsForFunctionLogGroup"
    effect    = "Allow"
    resources = ["*"]
    actions = [
      "kms:Decrypt",
      "kms:DescribeKey",
      "kms:Encrypt",
      "kms:GenerateDataKey",
      "kms:GenerateDataKeyWithoutPlaintext",
      "kms:ReEncryptFrom",
      "kms:ReEncryptTo",
    ]
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = [local.log_group_arn]
    }
  }

  # Publishers to our encrypted topics: CloudWatch alarms, EventBridge rules (GuardDuty
  # findings, key-state changes) and Budgets. Limited to this account's resources.
  statement {
    sid       = "AlarmAndEventPublishersToEncryptedTopics"
    effect    = "Allow"
    resources = ["*"]
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
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

  # CloudTrail encrypts the files of our trail only.
  statement {
    sid       = "CloudTrailEncryptTrailFiles"
    effect    = "Allow"
    resources = ["*"]
    actions   = ["kms:GenerateDataKey"]
    principals {
      type        = "Service"
      identifiers = ["cloudtrail.amazonaws.com"]
    }
    condition {
      test     = "StringLike"
      variable = "kms:EncryptionContext:aws:cloudtrail:arn"
      values   = ["arn:${local.partition}:cloudtrail:*:${local.account_id}:trail/*"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceArn"
      values   = [local.trail_arn]
    }
  }

  statement {
    sid       = "CloudTrailDescribeKey"
    effect    = "Allow"
    resources = ["*"]
    actions   = ["kms:DescribeKey"]
    principals {
      type        = "Service"
      identifiers = ["cloudtrail.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceArn"
      values   = [local.trail_arn]
    }
  }
}
