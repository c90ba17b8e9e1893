//! The AWS edge (behind the `aws` cargo feature): thin adapters from the SDK to the
//! [ports](crate::ports), the S3 event parsing, and the handler that holds the policy.
//!
//! - [`event`]: S3 event records → bucket, decoded key, pins (version, ETag), size, sequencer.
//! - [`handler`]: the per-record state machine (claim → latest-guard check → read → process
//!   → guard advance and write lock → output → notify → final record), generic over the
//!   ports; its module doc explains why retries converge and how out-of-order, replaced and
//!   deleted objects end (`superseded`).
//! - [`s3`], [`dynamodb`], [`sns`]: the port implementations (bounded pinned reads and
//!   SSE-KMS writes, conditional writes and the per-key "latest" guard, publish with
//!   attributes and an optional signature).
//! - [`kms`]: cold-start checks of the data key and decryption of secret configuration.
//!
//! [`cold_start`] builds everything once per execution environment from a validated
//! [`Config`]; a failure there stops the cold start with a message naming what is wrong.

pub mod dynamodb;
/// The S3 event parser lives at `crate::event` (the `events` feature, which `aws` turns on),
/// so that the fuzzer can build it without the SDK; it is the same module, re-exported here
/// rather than loaded a second time.
pub use crate::event;
pub mod handler;
pub mod kms;
pub mod s3;
pub mod sns;

use crate::config::Config;
use crate::runner::Runner;

pub use handler::{Disposition, Handler, Invocation, Settings, Summary};

/// The handler with the AWS adapters.
pub type AwsHandler = Handler<s3::S3Store, dynamodb::DynamoRecords, sns::SnsNotifier>;

/// Builds the SDK clients (once), checks the KMS key, decrypts the optional signing key and
/// returns the handler.
pub async fn cold_start(
    config: &Config,
    sdk: &aws_config::SdkConfig,
    runner: Runner,
) -> Result<AwsHandler, kms::KmsError> {
    let kms_client = aws_sdk_kms::Client::new(sdk);
    kms::check_key(&kms_client, &config.kms_key_id).await?;
    let signing_key = match (&config.notify_hmac_key_ciphertext, &config.function_name) {
        (Some(ct), Some(name)) => {
            Some(kms::decrypt_secret(&kms_client, "NOTIFY_HMAC_KEY_CIPHERTEXT", ct, name).await?)
        }
        (Some(_), None) => {
            return Err(kms::KmsError(
                "AWS_LAMBDA_FUNCTION_NAME: required to decrypt NOTIFY_HMAC_KEY_CIPHERTEXT".into(),
            ))
        }
        _ => None,
    };
    let objects = s3::S3Store::new(
        aws_sdk_s3::Client::new(sdk),
        config.images_bucket.clone(),
        config.kms_key_id.clone(),
        config.expected_bucket_owner.clone(),
    );
    let records = dynamodb::DynamoRecords::new(
        aws_sdk_dynamodb::Client::new(sdk),
        config.records_table.clone(),
    );
    let notifier = sns::SnsNotifier::new(
        aws_sdk_sns::Client::new(sdk),
        config.notifications_topic_arn.clone(),
        config.security_alerts_topic_arn.clone(),
        signing_key,
    );
    Ok(Handler::new(
        objects,
        records,
        notifier,
        runner,
        Settings {
            bucket: config.images_bucket.clone(),
            input_prefix: config.input_prefix.clone(),
            output_prefix: config.output_prefix.clone(),
        },
    ))
}
