//! Notifications through the SNS SDK, optionally signed with HMAC-SHA256.

use aws_sdk_sns::error::DisplayErrorContext;
use aws_sdk_sns::types::MessageAttributeValue;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use crate::ports::{Notification, Notifier, PortError, Topic};

/// SNS adapter for [`Notifier`].
pub struct SnsNotifier {
    client: aws_sdk_sns::Client,
    notifications_topic_arn: String,
    security_alerts_topic_arn: String,
    /// When set, every message carries `signature` = hex HMAC-SHA256 of the message body
    /// under this key, so subscribers holding the key can verify where it came from.
    signing_key: Option<SecretString>,
}

impl std::fmt::Debug for SnsNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnsNotifier")
            .field("notifications_topic_arn", &self.notifications_topic_arn)
            .field("security_alerts_topic_arn", &self.security_alerts_topic_arn)
            .field("signing", &self.signing_key.is_some())
            .finish_non_exhaustive()
    }
}

impl SnsNotifier {
    pub fn new(
        client: aws_sdk_sns::Client,
        notifications_topic_arn: String,
        security_alerts_topic_arn: String,
        signing_key: Option<SecretString>,
    ) -> SnsNotifier {
        SnsNotifier {
            client,
            notifications_topic_arn,
            security_alerts_topic_arn,
            signing_key,
        }
    }
}

/// Hex HMAC-SHA256 of `body` under `key` (what a subscriber recomputes to verify).
pub fn sign(key: &SecretString, body: &str) -> Result<String, PortError> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.expose_secret().as_bytes())
        .map_err(|_| PortError::new("sign", "the HMAC key was refused"))?;
    mac.update(body.as_bytes());
    let tag = mac.finalize().into_bytes();
    let mut hex = String::with_capacity(64);
    for b in tag {
        hex.push_str(&format!("{b:02x}"));
    }
    Ok(hex)
}

fn attribute(value: &str) -> Result<MessageAttributeValue, PortError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| PortError::new("sns:Publish", e.to_string()))
}

impl Notifier for SnsNotifier {
    async fn publish(&self, topic: Topic, note: &Notification) -> Result<(), PortError> {
        let arn = match topic {
            Topic::Notifications => &self.notifications_topic_arn,
            Topic::SecurityAlerts => &self.security_alerts_topic_arn,
        };
        let mut req = self
            .client
            .publish()
            .topic_arn(arn)
            .message(&note.body)
            .message_attributes("status", attribute(note.status)?)
            .message_attributes("reason", attribute(note.reason)?);
        if let Some(key) = &self.signing_key {
            req = req.message_attributes("signature", attribute(&sign(key, &note.body)?)?);
        }
        req.send()
            .await
            .map_err(|e| PortError::new("sns:Publish", DisplayErrorContext(&e).to_string()))?;
        Ok(())
    }
}
