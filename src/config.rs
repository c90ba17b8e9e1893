//! The Lambda's configuration: the one place that reads the environment.
//!
//! Two stages (ripgrep's low args → high args): [`RawConfig`] holds the strings exactly as
//! found, [`RawConfig::validate`] turns them into a [`Config`] or a list of
//! [`ConfigError`]s, each naming the variable and what is wrong with it. Only a validated
//! [`Config`] travels further; a cold start with any error stops before serving an event.
//!
//! Secrets arrive only as KMS ciphertext (`NOTIFY_HMAC_KEY_CIPHERTEXT`); this module checks
//! its shape and never holds the plaintext. The ciphertext is not secret, but `Debug` still
//! redacts it so that nobody learns to print config fields that might one day be.

use std::fmt;

use crate::core::limits::{MAX_DIMENSION, MAX_INPUT_BYTES};
use crate::core::naming::validate_key;
use crate::core::Limits;

/// Every environment variable the function reads, in one list (for docs and tests).
pub const VARS: [&str; 14] = [
    "IMAGES_BUCKET",
    "INPUT_PREFIX",
    "OUTPUT_PREFIX",
    "RECORDS_TABLE",
    "NOTIFICATIONS_TOPIC_ARN",
    "SECURITY_ALERTS_TOPIC_ARN",
    "KMS_KEY_ID",
    "EXPECTED_BUCKET_OWNER",
    "MAX_INPUT_BYTES",
    "MAX_DIMENSION",
    "SANDBOX_MODE",
    "LOG_LEVEL",
    "NOTIFY_HMAC_KEY_CIPHERTEXT",
    "AWS_LAMBDA_FUNCTION_NAME",
];

/// Default input prefix: S3 invokes the function for keys below it only.
pub const DEFAULT_INPUT_PREFIX: &str = "uploads/";
/// Default output prefix: outside the input prefix, so outputs never trigger the function.
pub const DEFAULT_OUTPUT_PREFIX: &str = "processed/";
/// How long a record is kept (DynamoDB TTL): long enough to answer "what happened to my
/// upload" and to deduplicate any late redelivery, short enough to hold no history forever.
pub const RECORD_TTL_DAYS: u32 = 90;
/// The largest KMS ciphertext blob is 6144 bytes; base64 makes it 8192 characters.
const MAX_CIPHERTEXT_B64: usize = 8192;

/// How the pipeline is isolated. Parsed and carried here; the runner decides what each
/// mode means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxMode {
    /// Every isolation layer or refuse to run.
    Strict,
    /// The layers the platform allows (Lambda refuses seccomp and no_new_privs).
    BestEffort,
    /// In this process (tests, local runs).
    Off,
}

impl SandboxMode {
    pub fn parse(s: &str) -> Option<SandboxMode> {
        match s {
            "strict" => Some(SandboxMode::Strict),
            "best-effort" => Some(SandboxMode::BestEffort),
            "off" => Some(SandboxMode::Off),
            _ => None,
        }
    }
    pub const fn name(self) -> &'static str {
        match self {
            SandboxMode::Strict => "strict",
            SandboxMode::BestEffort => "best-effort",
            SandboxMode::Off => "off",
        }
    }
}

/// Log verbosity, as `LOG_LEVEL` spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    pub fn parse(s: &str) -> Option<LogLevel> {
        match s.to_ascii_lowercase().as_str() {
            "error" => Some(LogLevel::Error),
            "warn" => Some(LogLevel::Warn),
            "info" => Some(LogLevel::Info),
            "debug" => Some(LogLevel::Debug),
            "trace" => Some(LogLevel::Trace),
            _ => None,
        }
    }
}

/// The environment as found: every value optional, nothing checked.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RawConfig {
    pub images_bucket: Option<String>,
    pub input_prefix: Option<String>,
    pub output_prefix: Option<String>,
    pub records_table: Option<String>,
    pub notifications_topic_arn: Option<String>,
    pub security_alerts_topic_arn: Option<String>,
    pub kms_key_id: Option<String>,
    pub expected_bucket_owner: Option<String>,
    pub max_input_bytes: Option<String>,
    pub max_dimension: Option<String>,
    pub sandbox_mode: Option<String>,
    pub log_level: Option<String>,
    pub notify_hmac_key_ciphertext: Option<String>,
    pub function_name: Option<String>,
}

impl fmt::Debug for RawConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawConfig")
            .field("images_bucket", &self.images_bucket)
            .field("records_table", &self.records_table)
            .field(
                "notify_hmac_key_ciphertext",
                &self
                    .notify_hmac_key_ciphertext
                    .as_ref()
                    .map(|_| "[redacted]"),
            )
            .finish_non_exhaustive()
    }
}

impl RawConfig {
    /// Reads the process environment. A variable that is set but not valid Unicode is kept
    /// as a marker that validation reports, rather than being taken as unset.
    pub fn from_env() -> RawConfig {
        RawConfig::from_lookup(|name| match std::env::var(name) {
            Ok(v) => Some(v),
            Err(std::env::VarError::NotPresent) => None,
            Err(std::env::VarError::NotUnicode(_)) => Some("\u{FFFD}".to_owned()),
        })
    }

    /// Reads through any lookup (tests pass a map). Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> RawConfig {
        let get = |name: &str| lookup(name).filter(|v| !v.is_empty());
        RawConfig {
            images_bucket: get("IMAGES_BUCKET"),
            input_prefix: get("INPUT_PREFIX"),
            output_prefix: get("OUTPUT_PREFIX"),
            records_table: get("RECORDS_TABLE"),
            notifications_topic_arn: get("NOTIFICATIONS_TOPIC_ARN"),
            security_alerts_topic_arn: get("SECURITY_ALERTS_TOPIC_ARN"),
            kms_key_id: get("KMS_KEY_ID"),
            expected_bucket_owner: get("EXPECTED_BUCKET_OWNER"),
            max_input_bytes: get("MAX_INPUT_BYTES"),
            max_dimension: get("MAX_DIMENSION"),
            sandbox_mode: get("SANDBOX_MODE"),
            log_level: get("LOG_LEVEL"),
            notify_hmac_key_ciphertext: get("NOTIFY_HMAC_KEY_CIPHERTEXT"),
            function_name: get("AWS_LAMBDA_FUNCTION_NAME"),
        }
    }

    /// Checks every value, reporting all problems at once.
    pub fn validate(&self) -> Result<Config, ConfigErrors> {
        let mut errs = Vec::new();
        let mut check = |var: &'static str, r: Result<(), String>| {
            if let Err(problem) = r {
                errs.push(ConfigError { var, problem });
            }
        };

        let images_bucket = required(&self.images_bucket);
        check("IMAGES_BUCKET", images_bucket.and_then(bucket_name));
        let input_prefix = self
            .input_prefix
            .clone()
            .unwrap_or_else(|| DEFAULT_INPUT_PREFIX.to_owned());
        check("INPUT_PREFIX", prefix(&input_prefix));
        let output_prefix = self
            .output_prefix
            .clone()
            .unwrap_or_else(|| DEFAULT_OUTPUT_PREFIX.to_owned());
        check("OUTPUT_PREFIX", prefix(&output_prefix));
        if input_prefix.starts_with(&output_prefix) || output_prefix.starts_with(&input_prefix) {
            check(
                "OUTPUT_PREFIX",
                Err(format!(
                    "'{output_prefix}' overlaps INPUT_PREFIX '{input_prefix}': outputs would trigger the function again"
                )),
            );
        }
        let records_table = required(&self.records_table);
        check("RECORDS_TABLE", records_table.and_then(table_name));
        let notifications = required(&self.notifications_topic_arn);
        check("NOTIFICATIONS_TOPIC_ARN", notifications.and_then(sns_arn));
        let alerts = required(&self.security_alerts_topic_arn);
        check("SECURITY_ALERTS_TOPIC_ARN", alerts.and_then(sns_arn));
        let kms_key_id = required(&self.kms_key_id);
        check("KMS_KEY_ID", kms_key_id.and_then(kms_key));
        if let Some(owner) = &self.expected_bucket_owner {
            check("EXPECTED_BUCKET_OWNER", account_id(owner));
        }
        let max_input_bytes = bounded_number(
            self.max_input_bytes.as_deref(),
            MAX_INPUT_BYTES as u64,
            1024,
        );
        check("MAX_INPUT_BYTES", max_input_bytes.clone().map(|_| ()));
        let max_dimension =
            bounded_number(self.max_dimension.as_deref(), u64::from(MAX_DIMENSION), 16);
        check("MAX_DIMENSION", max_dimension.clone().map(|_| ()));
        let sandbox_mode = match self.sandbox_mode.as_deref() {
            None => Ok(SandboxMode::BestEffort),
            Some(s) => SandboxMode::parse(s)
                .ok_or_else(|| format!("'{s}' is not one of strict, best-effort, off")),
        };
        check("SANDBOX_MODE", sandbox_mode.clone().map(|_| ()));
        let log_level = match self.log_level.as_deref() {
            None => Ok(LogLevel::Info),
            Some(s) => LogLevel::parse(s)
                .ok_or_else(|| format!("'{s}' is not one of error, warn, info, debug, trace")),
        };
        check("LOG_LEVEL", log_level.clone().map(|_| ()));
        if let Some(ct) = &self.notify_hmac_key_ciphertext {
            check("NOTIFY_HMAC_KEY_CIPHERTEXT", base64_shape(ct));
            // The ciphertext is bound to the function by the encryption context Lambda uses.
            check(
                "AWS_LAMBDA_FUNCTION_NAME",
                required(&self.function_name).map(|_| ()),
            );
        }

        if !errs.is_empty() {
            return Err(ConfigErrors(errs));
        }
        // Every value below was checked above; the fallbacks are unreachable.
        let or_empty = |v: &Option<String>| v.clone().unwrap_or_default();
        Ok(Config {
            images_bucket: or_empty(&self.images_bucket),
            input_prefix,
            output_prefix,
            records_table: or_empty(&self.records_table),
            notifications_topic_arn: or_empty(&self.notifications_topic_arn),
            security_alerts_topic_arn: or_empty(&self.security_alerts_topic_arn),
            kms_key_id: or_empty(&self.kms_key_id),
            expected_bucket_owner: self.expected_bucket_owner.clone(),
            limits: Limits {
                max_input_bytes: max_input_bytes
                    .ok()
                    .and_then(|n| usize::try_from(n).ok())
                    .unwrap_or(MAX_INPUT_BYTES),
                max_dimension: max_dimension
                    .ok()
                    .and_then(|n| u32::try_from(n).ok())
                    .unwrap_or(MAX_DIMENSION),
                ..Limits::default()
            },
            sandbox_mode: sandbox_mode.unwrap_or(SandboxMode::BestEffort),
            log_level: log_level.unwrap_or(LogLevel::Info),
            notify_hmac_key_ciphertext: self.notify_hmac_key_ciphertext.clone(),
            function_name: self.function_name.clone(),
        })
    }
}

/// The validated configuration.
#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    pub images_bucket: String,
    pub input_prefix: String,
    pub output_prefix: String,
    pub records_table: String,
    pub notifications_topic_arn: String,
    pub security_alerts_topic_arn: String,
    pub kms_key_id: String,
    /// The account id that must own the bucket (S3 refuses the request otherwise).
    pub expected_bucket_owner: Option<String>,
    /// The pipeline limits: the product defaults, possibly lowered.
    pub limits: Limits,
    pub sandbox_mode: SandboxMode,
    pub log_level: LogLevel,
    /// KMS ciphertext (base64) of the key that signs notifications; decrypted at cold start.
    pub notify_hmac_key_ciphertext: Option<String>,
    /// `AWS_LAMBDA_FUNCTION_NAME`: the encryption context of the ciphertext above.
    pub function_name: Option<String>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("images_bucket", &self.images_bucket)
            .field("input_prefix", &self.input_prefix)
            .field("output_prefix", &self.output_prefix)
            .field("records_table", &self.records_table)
            .field("notifications_topic_arn", &self.notifications_topic_arn)
            .field("security_alerts_topic_arn", &self.security_alerts_topic_arn)
            .field("kms_key_id", &self.kms_key_id)
            .field("expected_bucket_owner", &self.expected_bucket_owner)
            .field("limits", &self.limits)
            .field("sandbox_mode", &self.sandbox_mode)
            .field("log_level", &self.log_level)
            .field(
                "notify_hmac_key_ciphertext",
                &self
                    .notify_hmac_key_ciphertext
                    .as_ref()
                    .map(|_| "[redacted]"),
            )
            .field("function_name", &self.function_name)
            .finish()
    }
}

impl Config {
    /// Reads and validates the process environment.
    pub fn from_env() -> Result<Config, ConfigErrors> {
        RawConfig::from_env().validate()
    }
}

/// One bad or missing variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}: {problem}")]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
}

/// Every problem found, so one failed cold start shows them all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid configuration: ")?;
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

fn required(v: &Option<String>) -> Result<&str, String> {
    v.as_deref()
        .ok_or_else(|| "is required but not set".to_owned())
}

/// S3 bucket naming rules (3–63 lowercase letters, digits, dots and hyphens, starting and
/// ending with a letter or digit).
fn bucket_name(s: &str) -> Result<(), String> {
    let ok_chars = s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    let ends_ok = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if (3..=63).contains(&s.len())
        && ok_chars
        && ends_ok(s.bytes().next())
        && ends_ok(s.bytes().last())
    {
        Ok(())
    } else {
        Err(format!("'{s}' is not a valid S3 bucket name"))
    }
}

/// A key prefix: ends with `/`, and is itself a safe key (no `..`, no control characters).
fn prefix(s: &str) -> Result<(), String> {
    let Some(body) = s.strip_suffix('/') else {
        return Err(format!("'{s}' must end with '/'"));
    };
    validate_key(body).map_err(|r| format!("'{s}' is not a safe prefix: {}", r.message))
}

/// DynamoDB table names: 3–255 of `[A-Za-z0-9_.-]`.
fn table_name(s: &str) -> Result<(), String> {
    if (3..=255).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        Ok(())
    } else {
        Err(format!("'{s}' is not a valid DynamoDB table name"))
    }
}

/// `arn:<partition>:sns:<region>:<account>:<name>`.
fn sns_arn(s: &str) -> Result<(), String> {
    let parts: Vec<&str> = s.split(':').collect();
    let ok = matches!(parts.as_slice(), ["arn", partition, "sns", region, account, name]
        if !partition.is_empty() && !region.is_empty() && account_id(account).is_ok()
            && !name.is_empty() && name.len() <= 256
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'));
    if ok {
        Ok(())
    } else {
        Err(format!("'{s}' is not an SNS topic ARN"))
    }
}

/// A key id, key ARN, alias name or alias ARN: printable ASCII, no spaces, bounded.
fn kms_key(s: &str) -> Result<(), String> {
    if s.len() <= 2048 && s.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err("is not a KMS key id, key ARN or alias".to_owned())
    }
}

/// A 12-digit AWS account id.
fn account_id(s: &str) -> Result<(), String> {
    if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(format!("'{s}' is not a 12-digit account id"))
    }
}

/// A decimal number between `min` and `max` inclusive; unset means `max` (the product's
/// default). Configuration may lower a limit, never raise it above what the core affords.
fn bounded_number(v: Option<&str>, max: u64, min: u64) -> Result<u64, String> {
    let Some(s) = v else { return Ok(max) };
    let n: u64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a whole number"))?;
    if n < min || n > max {
        return Err(format!(
            "{n} is outside {min}..={max} (limits may be lowered, never raised)"
        ));
    }
    Ok(n)
}

/// Standard base64 of a bounded length (the decode itself happens where KMS is called).
fn base64_shape(s: &str) -> Result<(), String> {
    let body = s.trim_end_matches('=');
    let pad = s.len().saturating_sub(body.len());
    if s.len() <= MAX_CIPHERTEXT_B64
        && s.len().is_multiple_of(4)
        && pad <= 2
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    {
        Ok(())
    } else {
        Err("is not standard base64 of at most 8192 characters (KMS ciphertext)".to_owned())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> RawConfig {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        RawConfig::from_lookup(|k| m.get(k).cloned())
    }

    const GOOD: &[(&str, &str)] = &[
        ("IMAGES_BUCKET", "my-images-123"),
        ("RECORDS_TABLE", "records"),
        (
            "NOTIFICATIONS_TOPIC_ARN",
            "arn:aws:sns:eu-west-1:123456789012:notes",
        ),
        (
            "SECURITY_ALERTS_TOPIC_ARN",
            "arn:aws:sns:eu-west-1:123456789012:alerts",
        ),
        ("KMS_KEY_ID", "arn:aws:kms:eu-west-1:123456789012:key/abcd"),
    ];

    #[test]
    fn defaults() {
        let c = env(GOOD).validate().unwrap();
        assert_eq!(c.input_prefix, "uploads/");
        assert_eq!(c.output_prefix, "processed/");
        assert_eq!(c.limits, Limits::default());
        assert_eq!(c.sandbox_mode, SandboxMode::BestEffort);
        assert_eq!(c.log_level, LogLevel::Info);
        assert_eq!(c.expected_bucket_owner, None);
    }

    #[test]
    fn missing_values_are_named() {
        let e = env(&[]).validate().unwrap_err();
        let vars: Vec<&str> = e.0.iter().map(|e| e.var).collect();
        for v in [
            "IMAGES_BUCKET",
            "RECORDS_TABLE",
            "NOTIFICATIONS_TOPIC_ARN",
            "SECURITY_ALERTS_TOPIC_ARN",
            "KMS_KEY_ID",
        ] {
            assert!(vars.contains(&v), "{v} not reported in {e}");
        }
        assert!(e.to_string().contains("IMAGES_BUCKET: is required"));
    }

    #[test]
    fn limits_may_only_be_lowered() {
        let mut p = GOOD.to_vec();
        p.push(("MAX_INPUT_BYTES", "65536"));
        p.push(("MAX_DIMENSION", "1024"));
        let c = env(&p).validate().unwrap();
        assert_eq!(c.limits.max_input_bytes, 65536);
        assert_eq!(c.limits.max_dimension, 1024);
        for (var, val) in [
            ("MAX_INPUT_BYTES", "10485761"),
            ("MAX_INPUT_BYTES", "ten"),
            ("MAX_INPUT_BYTES", "0"),
            ("MAX_DIMENSION", "4097"),
            ("MAX_DIMENSION", "-1"),
        ] {
            let mut p = GOOD.to_vec();
            p.push((var, val));
            let e = env(&p).validate().unwrap_err();
            assert_eq!(e.0[0].var, var, "{val}");
        }
    }

    #[test]
    fn malformed_values_are_named() {
        for (var, val) in [
            ("IMAGES_BUCKET", "Bad_Bucket"),
            ("INPUT_PREFIX", "uploads"),
            ("INPUT_PREFIX", "../"),
            ("OUTPUT_PREFIX", "uploads/x/"),
            ("RECORDS_TABLE", "a b"),
            (
                "NOTIFICATIONS_TOPIC_ARN",
                "arn:aws:sqs:eu-west-1:123456789012:q",
            ),
            ("SECURITY_ALERTS_TOPIC_ARN", "nope"),
            ("KMS_KEY_ID", "key with space"),
            ("EXPECTED_BUCKET_OWNER", "12345"),
            ("SANDBOX_MODE", "maybe"),
            ("LOG_LEVEL", "loud"),
            ("NOTIFY_HMAC_KEY_CIPHERTEXT", "not base64!"),
        ] {
            let mut p = GOOD.to_vec();
            p.push((var, val));
            p.push(("AWS_LAMBDA_FUNCTION_NAME", "fn"));
            let e = env(&p).validate().unwrap_err();
            assert_eq!(e.0[0].var, var, "{val}: {e}");
        }
    }

    #[test]
    fn ciphertext_needs_the_function_name_and_is_never_printed() {
        let mut p = GOOD.to_vec();
        p.push(("NOTIFY_HMAC_KEY_CIPHERTEXT", "c2VjcmV0LWJsb2I="));
        let e = env(&p).validate().unwrap_err();
        assert_eq!(e.0[0].var, "AWS_LAMBDA_FUNCTION_NAME");
        p.push(("AWS_LAMBDA_FUNCTION_NAME", "fn"));
        let c = env(&p).validate().unwrap();
        assert!(!format!("{c:?}").contains("c2VjcmV0"));
        assert!(!format!("{:?}", env(&p)).contains("c2VjcmV0"));
    }

    #[test]
    fn sandbox_modes() {
        for (s, m) in [
            ("strict", SandboxMode::Strict),
            ("best-effort", SandboxMode::BestEffort),
            ("off", SandboxMode::Off),
        ] {
            let mut p = GOOD.to_vec();
            p.push(("SANDBOX_MODE", s));
            assert_eq!(env(&p).validate().unwrap().sandbox_mode, m);
            assert_eq!(m.name(), s);
        }
    }
}
