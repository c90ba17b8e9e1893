# Account-level detection, each behind a toggle (see variables.tf for why they default off
# and docs/COST.md for what they cost).

# --- GuardDuty with S3 protection -------------------------------------------------------

resource "aws_guardduty_detector" "main" {
  #checkov:skip=CKV2_AWS_3:Organisation-wide GuardDuty (delegated admin, auto-enable for members) is configured from the organisation's management account, not from an application stack; this detector covers this account and region.
  count                        = var.enable_guardduty ? 1 : 0
  enable                       = true
  finding_publishing_frequency = "FIFTEEN_MINUTES"
}

resource "aws_guardduty_detector_feature" "s3" {
  count       = var.enable_guardduty ? 1 : 0
  detector_id = aws_guardduty_detector.main[0].id
  name        = "S3_DATA_EVENTS"
  status      = "ENABLED"
}

# --- Security Hub with the CIS AWS Foundations Benchmark --------------------------------

resource "aws_securityhub_account" "main" {
  count                    = var.enable_security_hub ? 1 : 0
  enable_default_standards = false
  auto_enable_controls     = true
}

resource "aws_securityhub_standards_subscription" "cis" {
  count         = var.enable_security_hub ? 1 : 0
  standards_arn = "arn:${local.partition}:securityhub:${local.region}::standards/cis-aws-foundations-benchmark/v/3.0.0"
  depends_on    = [aws_securityhub_account.main]
}

# --- AWS Config: a recorder scoped to this stack's resource types, and managed rules ----

resource "aws_config_configuration_recorder" "main" {
  #checkov:skip=CKV2_AWS_48:The recorder is scoped to the resource types of this stack to keep Config's per-item cost small; an organisation-wide recorder of all types belongs to the account baseline, not to this application.
  count    = var.enable_config ? 1 : 0
  name     = "${var.name_prefix}-recorder"
  role_arn = aws_iam_role.config[0].arn

  recording_group {
    all_supported                 = false
    include_global_resource_types = false
    resource_types = [
      "AWS::S3::Bucket",
      "AWS::Lambda::Function",
      "AWS::DynamoDB::Table",
      "AWS::KMS::Key",
      "AWS::SNS::Topic",
      "AWS::SQS::Queue",
      "AWS::IAM::Role",
      "AWS::IAM::Policy",
    ]
  }
}

resource "aws_config_delivery_channel" "main" {
  count          = var.enable_config ? 1 : 0
  name           = "${var.name_prefix}-delivery"
  s3_bucket_name = aws_s3_bucket.logs.id
  s3_key_prefix  = "config"
  s3_kms_key_arn = aws_kms_key.main.arn

  snapshot_delivery_properties {
    delivery_frequency = "TwentyFour_Hours"
  }

  depends_on = [aws_config_configuration_recorder.main, aws_iam_role_policy.config]
}

resource "aws_config_configuration_recorder_status" "main" {
  #checkov:skip=CKV2_AWS_45:The recorder is scoped to this stack's resource types on purpose (see CKV2_AWS_48 above); recording all supported types is the account baseline's job and billed per item.
  count      = var.enable_config ? 1 : 0
  name       = aws_config_configuration_recorder.main[0].name
  is_enabled = true
  depends_on = [aws_config_delivery_channel.main]
}

locals {
  # AWS managed rules that check the properties this stack promises.
  config_rules = {
    s3-ssl-requests-only        = "S3_BUCKET_SSL_REQUESTS_ONLY"
    s3-public-read-prohibited   = "S3_BUCKET_PUBLIC_READ_PROHIBITED"
    s3-public-write-prohibited  = "S3_BUCKET_PUBLIC_WRITE_PROHIBITED"
    s3-sse-enabled              = "S3_BUCKET_SERVER_SIDE_ENCRYPTION_ENABLED"
    lambda-public-prohibited    = "LAMBDA_FUNCTION_PUBLIC_ACCESS_PROHIBITED"
    kms-rotation-enabled        = "CMK_BACKING_KEY_ROTATION_ENABLED"
    dynamodb-encrypted-with-kms = "DYNAMODB_TABLE_ENCRYPTED_KMS"
  }
}

resource "aws_config_config_rule" "managed" {
  for_each = var.enable_config ? local.config_rules : {}
  name     = "${var.name_prefix}-${each.key}"

  source {
    owner             = "AWS"
    source_identifier = each.value
  }

  depends_on = [aws_config_configuration_recorder_status.main]
}

# --- CloudTrail ---------------------------------------------------------------------------

resource "aws_cloudtrail" "main" {
  #checkov:skip=CKV2_AWS_10:Sending the trail to CloudWatch Logs duplicates its storage cost; the trail files (KMS-encrypted, validated) in the logs bucket and the EventBridge rule on key changes are the detection path.
  #checkov:skip=CKV_AWS_252:Trail delivery notifications (one SNS message per log file) are noise for this stack; alerts come from EventBridge rules and alarms.
  count                         = var.enable_cloudtrail ? 1 : 0
  name                          = local.trail_name
  s3_bucket_name                = aws_s3_bucket.logs.id
  s3_key_prefix                 = "cloudtrail"
  is_multi_region_trail         = true
  include_global_service_events = true
  enable_log_file_validation    = true
  kms_key_id                    = aws_kms_key.main.arn

  event_selector {
    read_write_type           = "All"
    include_management_events = true

    dynamic "data_resource" {
      for_each = var.enable_cloudtrail_s3_data_events ? [1] : []
      content {
        type   = "AWS::S3::Object"
        values = ["${aws_s3_bucket.images.arn}/"]
      }
    }
  }

  depends_on = [aws_s3_bucket_policy.logs]
}
