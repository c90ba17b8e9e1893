# Every input is typed, described and validated. Defaults are the secure choice unless a
# comment says why not; the two profiles in examples/ show the free-tier and the
# security-max settings.

# --- Where and what ---------------------------------------------------------------------

variable "region" {
  type        = string
  description = "AWS region to deploy into, e.g. eu-west-1."
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must look like an AWS region name, e.g. eu-west-1."
  }
}

variable "allowed_account_ids" {
  type        = list(string)
  description = "If non-empty, the only AWS account ids Terraform may act on (guards against a wrong profile). Empty means any."
  default     = []

  validation {
    condition     = alltrue([for id in var.allowed_account_ids : can(regex("^[0-9]{12}$", id))])
    error_message = "allowed_account_ids must contain 12-digit account ids only."
  }
}

variable "name_prefix" {
  type        = string
  description = "Prefix for every resource name. Lower-case letters, digits and hyphens; at most 20 characters so bucket names stay under 63."
  default     = "image-processor"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,18}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-20 characters of a-z, 0-9 and '-', start with a letter and not end with '-'."
  }
}

variable "extra_tags" {
  type        = map(string)
  description = "Extra tags added to every resource (the provider's default_tags)."
  default     = {}

  validation {
    condition     = length(var.extra_tags) <= 40
    error_message = "extra_tags may hold at most 40 tags (AWS allows 50 and we set a few ourselves)."
  }
}

# --- The function -----------------------------------------------------------------------

variable "lambda_zip_path" {
  type        = string
  description = "Path of the function zip made by scripts/build_lambda.sh. Empty means ../target/lambda/image-processor-lambda/bootstrap.zip relative to this directory."
  default     = ""

  validation {
    condition     = var.lambda_zip_path == "" || can(regex("\\.zip$", var.lambda_zip_path))
    error_message = "lambda_zip_path must be empty or end in .zip."
  }
}

variable "lambda_architecture" {
  type        = string
  description = "Instruction set of the function: arm64 (default, cheaper per GB-second) or x86_64 when scripts/build_lambda.sh had to fall back."
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.lambda_architecture)
    error_message = "lambda_architecture must be arm64 or x86_64."
  }
}

variable "lambda_memory_mb" {
  type = number
  # The default follows the measured peak RSS of one invocation with margin (BENCHMARKS.md):
  # the bench inputs peak at 90 MiB (4000x3000 lossy WebP, grayscale) and 78 MiB for the
  # 4096 x 4096 JPEG and PNG, but the worst legitimate input we found is a 4096 x 4096
  # progressive CMYK JPEG at 207 MiB (a progressive decode keeps every DCT coefficient:
  # 4096 x 4096 x 4 components x 2 bytes) and a progressive 4:4:4 RGB one at 155 MiB.
  # 512 MB holds that worst case about 2.4 times over, with the runtime, the SDK and the
  # parent process beside the worker; it also buys CPU, which Lambda allots in proportion
  # to memory, so the worker's wall-clock budget is reached less often.
  description = "Function memory in MB (128-10240). Default 512: the measured worst-case peak RSS (207 MiB) plus margin."
  default     = 512

  validation {
    condition     = var.lambda_memory_mb >= 128 && var.lambda_memory_mb <= 10240 && floor(var.lambda_memory_mb) == var.lambda_memory_mb
    error_message = "lambda_memory_mb must be a whole number between 128 and 10240."
  }
}

variable "lambda_timeout_seconds" {
  type        = number
  description = "Function timeout in seconds (3-300). Decoding is bounded by the limits, so a long timeout only helps an attacker hold capacity."
  default     = 30

  validation {
    condition     = var.lambda_timeout_seconds >= 3 && var.lambda_timeout_seconds <= 300 && floor(var.lambda_timeout_seconds) == var.lambda_timeout_seconds
    error_message = "lambda_timeout_seconds must be a whole number between 3 and 300."
  }
}

variable "reserved_concurrency" {
  type        = number
  description = "Reserved concurrency: the most copies that run at once, which caps cost and blast radius of an upload flood. -1 reserves nothing (needed on new accounts whose total limit is 10, because AWS keeps 10 unreserved)."
  default     = 5

  validation {
    condition     = var.reserved_concurrency == -1 || (var.reserved_concurrency >= 1 && var.reserved_concurrency <= 1000)
    error_message = "reserved_concurrency must be -1 (no reservation) or between 1 and 1000. Use the runbook's put-function-concurrency 0 to stop the function, not this variable."
  }
}

variable "async_max_retry_attempts" {
  type        = number
  description = "Retries of a failed asynchronous (S3) invocation before the event goes to the dead-letter queue (0-2)."
  default     = 2

  validation {
    condition     = contains([0, 1, 2], var.async_max_retry_attempts)
    error_message = "async_max_retry_attempts must be 0, 1 or 2."
  }
}

variable "async_max_event_age_seconds" {
  type        = number
  description = "Oldest age of a queued S3 event before it is sent to the dead-letter queue unprocessed (60-21600)."
  default     = 3600

  validation {
    condition     = var.async_max_event_age_seconds >= 60 && var.async_max_event_age_seconds <= 21600
    error_message = "async_max_event_age_seconds must be between 60 and 21600."
  }
}

variable "log_level" {
  type        = string
  description = "LOG_LEVEL of the function: error, warn, info, debug or trace. Logs never carry image bytes or secrets at any level."
  default     = "info"

  validation {
    condition     = contains(["error", "warn", "info", "debug", "trace"], var.log_level)
    error_message = "log_level must be one of error, warn, info, debug, trace."
  }
}

variable "max_input_bytes" {
  type        = number
  description = "MAX_INPUT_BYTES: largest upload the function reads (it reads at most one byte more). Default 10 MiB."
  default     = 10485760

  validation {
    condition     = var.max_input_bytes >= 1024 && var.max_input_bytes <= 10485760
    error_message = "max_input_bytes must be between 1 KiB and 10 MiB (the function refuses to raise its limits)."
  }
}

variable "max_dimension" {
  type        = number
  description = "MAX_DIMENSION: largest width or height accepted from an image header, checked before any pixel buffer exists. Default 4096."
  default     = 4096

  validation {
    condition     = var.max_dimension >= 16 && var.max_dimension <= 4096
    error_message = "max_dimension must be between 16 and 4096 (the function refuses to raise its limits)."
  }
}

variable "notify_hmac_key_ciphertext" {
  type        = string
  description = "Optional NOTIFY_HMAC_KEY_CIPHERTEXT: base64 ciphertext of the notification signing key, made with `aws kms encrypt` under this stack's key. Empty disables signing."
  default     = ""
  sensitive   = true

  validation {
    condition     = var.notify_hmac_key_ciphertext == "" || can(regex("^[A-Za-z0-9+/]+={0,2}$", var.notify_hmac_key_ciphertext))
    error_message = "notify_hmac_key_ciphertext must be empty or base64."
  }
}

variable "code_signing_profile_version_arns" {
  type        = list(string)
  description = "Optional AWS Signer signing-profile version ARNs. When set, the function only accepts code signed by them (enforced); empty disables code signing."
  default     = []

  validation {
    condition     = alltrue([for a in var.code_signing_profile_version_arns : can(regex("^arn:aws[a-z-]*:signer:", a))])
    error_message = "code_signing_profile_version_arns must contain AWS Signer profile version ARNs."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the function's log group in days (a value CloudWatch Logs accepts). Default 30, which keeps log storage inside the free tier."
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention period CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ... 3653)."
  }
}

# --- Storage ----------------------------------------------------------------------------

variable "enable_s3_versioning" {
  type        = bool
  description = "Versioning on the images bucket: keeps overwritten or deleted objects for forensics (noncurrent versions expire with the same lifecycle)."
  default     = true
}

variable "images_expiration_days" {
  type        = number
  description = "Days after which uploads/ and processed/ objects (and noncurrent versions) expire."
  default     = 30

  validation {
    condition     = var.images_expiration_days >= 1 && var.images_expiration_days <= 3650
    error_message = "images_expiration_days must be between 1 and 3650."
  }
}

variable "access_logs_expiration_days" {
  type        = number
  description = "Days after which S3 access logs, CloudTrail and Config files in the logs bucket expire."
  default     = 365

  validation {
    condition     = var.access_logs_expiration_days >= 90 && var.access_logs_expiration_days <= 3650
    error_message = "access_logs_expiration_days must be between 90 and 3650 (keep at least a quarter for investigations)."
  }
}

variable "dynamodb_read_capacity" {
  type        = number
  description = "Provisioned read capacity of the records table. The always-free tier covers 25 RCU per account."
  default     = 5

  validation {
    condition     = var.dynamodb_read_capacity >= 1 && var.dynamodb_read_capacity <= 1000
    error_message = "dynamodb_read_capacity must be between 1 and 1000."
  }
}

variable "dynamodb_write_capacity" {
  type        = number
  description = "Provisioned write capacity of the records table. The always-free tier covers 25 WCU per account."
  default     = 5

  validation {
    condition     = var.dynamodb_write_capacity >= 1 && var.dynamodb_write_capacity <= 1000
    error_message = "dynamodb_write_capacity must be between 1 and 1000."
  }
}

variable "enable_point_in_time_recovery" {
  type        = bool
  description = "Point-in-time recovery on the records table (billed per GB-month of table size, pennies for this table)."
  default     = true
}

variable "kms_deletion_window_days" {
  type        = number
  description = "Waiting period before a scheduled deletion of the key takes effect (7-30 days). The longest window gives the most time to notice and cancel."
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "kms_deletion_window_days must be between 7 and 30."
  }
}

# --- Account-level security services (billed after their trials) ------------------------
# These are off by default for one reason: each is a per-account (or per-region)
# singleton, and many accounts already have them from their organisation; creating a second
# GuardDuty detector or Config recorder fails. Turn them on where the account has none
# (examples/security-max.tfvars).

variable "enable_guardduty" {
  type        = bool
  description = "Create a GuardDuty detector with S3 protection (billed after a 30-day trial). Leave false if the account already has one."
  default     = false
}

variable "enable_security_hub" {
  type        = bool
  description = "Enable Security Hub with the CIS AWS Foundations standard (billed per check after a 30-day trial). Leave false if already enabled."
  default     = false
}

variable "enable_config" {
  type        = bool
  description = "Create an AWS Config recorder (scoped to this stack's resource types) and a few managed rules (billed per item and rule evaluation). Leave false if a recorder exists."
  default     = false
}

variable "enable_cloudtrail" {
  type        = bool
  description = "Create a multi-region CloudTrail trail with log file validation and KMS encryption (the first management-event trail is free; storage is billed)."
  default     = false
}

variable "enable_cloudtrail_s3_data_events" {
  type        = bool
  description = "Also record S3 object-level (data) events on the images bucket in the trail (billed per 100,000 events). Needs enable_cloudtrail."
  default     = false
}

# --- Alerting and cost ------------------------------------------------------------------

variable "alert_email" {
  type        = string
  description = "Optional e-mail address subscribed to the security-alerts topic (AWS sends a confirmation mail). Empty means no subscription."
  default     = ""

  validation {
    condition     = var.alert_email == "" || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alert_email))
    error_message = "alert_email must be empty or an e-mail address."
  }
}

variable "monthly_budget_usd" {
  type        = number
  description = "Monthly cost budget in USD for the whole account; alerts at 80% actual and 100% forecast go to the security-alerts topic."
  default     = 5

  validation {
    condition     = var.monthly_budget_usd >= 1 && var.monthly_budget_usd <= 100000
    error_message = "monthly_budget_usd must be between 1 and 100000."
  }
}

variable "rejection_alarm_threshold" {
  type        = number
  description = "Security alerts published in 5 minutes (hostile rejections) that raise the rejection-spike alarm."
  default     = 20

  validation {
    condition     = var.rejection_alarm_threshold >= 1 && var.rejection_alarm_threshold <= 100000
    error_message = "rejection_alarm_threshold must be between 1 and 100000."
  }
}

variable "storage_alarm_bytes" {
  type        = number
  description = "Images bucket size in bytes that raises the storage alarm. Default 4 GB, below the 5 GB of S3 storage in the free tier."
  default     = 4000000000

  validation {
    condition     = var.storage_alarm_bytes >= 1000000
    error_message = "storage_alarm_bytes must be at least 1 MB."
  }
}
