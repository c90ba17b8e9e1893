# Free-tier profile: everything that costs nothing (or almost nothing) at low volume.
# What remains billed: the customer-managed KMS key (about 1 USD a month) and anything past
# the free-tier allowances; see docs/COST.md.
#
#   terraform plan -var-file=examples/free-tier.tfvars

region      = "eu-west-1"
name_prefix = "image-processor"

lambda_architecture    = "arm64"
lambda_memory_mb       = 512
lambda_timeout_seconds = 30
# New accounts have a total concurrency limit of 10, and AWS keeps 10 unreserved, so a
# reservation fails there. Use 5 once the account's limit has been raised.
reserved_concurrency = -1

log_retention_days            = 30
images_expiration_days        = 30
access_logs_expiration_days   = 365
enable_s3_versioning          = true
dynamodb_read_capacity        = 5
dynamodb_write_capacity       = 5
enable_point_in_time_recovery = false

enable_guardduty                 = false
enable_security_hub              = false
enable_config                    = false
enable_cloudtrail                = false
enable_cloudtrail_s3_data_events = false

monthly_budget_usd        = 2
rejection_alarm_threshold = 20
storage_alarm_bytes       = 4000000000
alert_email               = ""
