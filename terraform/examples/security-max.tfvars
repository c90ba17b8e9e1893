# Security-max profile: every detective control on. Billed: GuardDuty, Security Hub and
# Config after their trials, CloudTrail storage and S3 data events, PITR; see docs/COST.md.
# Turn a service off here if the account already has it from its organisation (a second
# GuardDuty detector or Config recorder cannot be created).
#
#   terraform plan -var-file=examples/security-max.tfvars

region              = "eu-west-1"
name_prefix         = "image-processor"
allowed_account_ids = ["123456789012"] # replace with your account id

lambda_architecture    = "arm64"
lambda_memory_mb       = 512
lambda_timeout_seconds = 30
reserved_concurrency   = 5
log_level              = "info"

log_retention_days            = 90
images_expiration_days        = 30
access_logs_expiration_days   = 365
enable_s3_versioning          = true
dynamodb_read_capacity        = 5
dynamodb_write_capacity       = 5
enable_point_in_time_recovery = true
kms_deletion_window_days      = 30

enable_guardduty                 = true
enable_security_hub              = true
enable_config                    = true
enable_cloudtrail                = true
enable_cloudtrail_s3_data_events = true

# code_signing_profile_version_arns = ["arn:aws:signer:eu-west-1:123456789012:/signing-profiles/imageprocessor/abcdefghij"]

monthly_budget_usd        = 50
rejection_alarm_threshold = 10
storage_alarm_bytes       = 4000000000
alert_email               = "security@example.com"
