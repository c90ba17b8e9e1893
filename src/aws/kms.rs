//! KMS at cold start: the data key must be usable, and secrets are decrypted once.

use aws_sdk_kms::error::DisplayErrorContext;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::KeyState;
use base64::Engine as _;
use secrecy::SecretString;

/// The encryption context key Lambda uses for environment variables it encrypts with a
/// customer key; ciphertexts made for this function are bound to its name under it.
pub const LAMBDA_CONTEXT_KEY: &str = "LambdaFunctionName";

/// A cold-start failure: the function must not serve events.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KmsError(pub String);

/// `DescribeKey`: the configured key must exist and be enabled (not disabled, not pending
/// deletion or import). Writing outputs under an unusable key would fail every event.
pub async fn check_key(client: &aws_sdk_kms::Client, key_id: &str) -> Result<(), KmsError> {
    let out = client
        .describe_key()
        .key_id(key_id)
        .send()
        .await
        .map_err(|e| {
            KmsError(format!(
                "KMS_KEY_ID: DescribeKey failed: {}",
                DisplayErrorContext(&e)
            ))
        })?;
    let meta = out
        .key_metadata()
        .ok_or_else(|| KmsError("KMS_KEY_ID: DescribeKey returned no key metadata".into()))?;
    match meta.key_state() {
        Some(KeyState::Enabled) if meta.enabled() => Ok(()),
        state => Err(KmsError(format!(
            "KMS_KEY_ID: key {} is not usable (state {}); outputs cannot be encrypted",
            meta.key_id(),
            state.map_or("unknown", KeyState::as_str)
        ))),
    }
}

/// Decrypts a base64 KMS ciphertext made with the encryption context
/// `LambdaFunctionName = <function name>`. The plaintext must be UTF-8 and is returned only
/// inside a [`SecretString`] (which never prints it).
pub async fn decrypt_secret(
    client: &aws_sdk_kms::Client,
    var: &str,
    ciphertext_b64: &str,
    function_name: &str,
) -> Result<SecretString, KmsError> {
    let blob = base64::engine::general_purpose::STANDARD
        .decode(ciphertext_b64.trim())
        .map_err(|_| KmsError(format!("{var}: is not valid base64")))?;
    let out = client
        .decrypt()
        .ciphertext_blob(Blob::new(blob))
        .encryption_context(LAMBDA_CONTEXT_KEY, function_name)
        .send()
        .await
        .map_err(|e| {
            KmsError(format!(
                "{var}: KMS Decrypt failed: {}",
                DisplayErrorContext(&e)
            ))
        })?;
    let plain = out
        .plaintext()
        .ok_or_else(|| KmsError(format!("{var}: KMS Decrypt returned no plaintext")))?;
    let text = String::from_utf8(plain.as_ref().to_vec())
        .map_err(|_| KmsError(format!("{var}: the decrypted value is not UTF-8")))?;
    if text.is_empty() {
        return Err(KmsError(format!("{var}: the decrypted value is empty")));
    }
    Ok(SecretString::from(text))
}
