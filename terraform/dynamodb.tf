# The records table: one item per processed object version (pk = "<bucket>/<key>",
# sk = S3 version id or event sequencer). The function writes it conditionally, so a
# replayed event cannot overwrite a record; items expire through TTL on expires_at
# (the function sets now + 90 days).
#
# Capacity: PROVISIONED with 5 RCU / 5 WCU by default, because the always-free tier covers
# 25 RCU and 25 WCU of provisioned capacity per account (on-demand has no free tier). A
# throttled write fails the invocation, which Lambda retries and finally sends to the DLQ,
# so nothing is lost at this size.
resource "aws_dynamodb_table" "records" {
  #checkov:skip=CKV2_AWS_16:Auto scaling is off on purpose: it creates four CloudWatch alarms per table (the free tier has 10) and could scale past the always-free 25 RCU/WCU; throttling is absorbed by Lambda retries and the DLQ.
  name                        = "${var.name_prefix}-records"
  billing_mode                = "PROVISIONED"
  read_capacity               = var.dynamodb_read_capacity
  write_capacity              = var.dynamodb_write_capacity
  hash_key                    = "pk"
  range_key                   = "sk"
  deletion_protection_enabled = false # destroy.sh must be able to remove the stack; PITR is the recovery path.

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = var.enable_point_in_time_recovery
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.main.arn
  }
}
