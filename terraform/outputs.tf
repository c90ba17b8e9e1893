# The runbook (INCIDENT_RESPONSE.md) sets its shell variables from these outputs.

output "s3_bucket_name" {
  description = "Images bucket: upload to uploads/, results appear under processed/."
  value       = aws_s3_bucket.images.id
}

output "access_logs_bucket_name" {
  description = "Bucket holding S3 access logs (s3-access/), CloudTrail (cloudtrail/) and Config (config/) files."
  value       = aws_s3_bucket.logs.id
}

output "notifications_topic" {
  description = "ARN of the notifications topic (per-object results; message attributes status and reason)."
  value       = aws_sns_topic.notifications.arn
}

output "security_alerts_topic" {
  description = "ARN of the security-alerts topic (hostile rejections, findings, security alarms, budget)."
  value       = aws_sns_topic.security_alerts.arn
}

output "records_table_name" {
  description = "DynamoDB table of processing records (pk = <bucket>/<key>, sk = version id or sequencer)."
  value       = aws_dynamodb_table.records.name
}

output "function_name" {
  description = "Name of the Lambda function."
  value       = aws_lambda_function.processor.function_name
}

output "log_group_name" {
  description = "CloudWatch Logs group of the function."
  value       = aws_cloudwatch_log_group.lambda.name
}

output "dlq_url" {
  description = "URL of the dead-letter queue of failed asynchronous invocations."
  value       = aws_sqs_queue.dlq.id
}

output "kms_key_arn" {
  description = "ARN of the stack's customer-managed KMS key."
  value       = aws_kms_key.main.arn
}

output "lambda_role_arn" {
  description = "ARN of the function's execution role."
  value       = aws_iam_role.lambda.arn
}
