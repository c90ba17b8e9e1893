//! Logs and metrics for the Lambda.
//!
//! Logs are JSON lines through `tracing` (one object per event: level, message, request id,
//! key, status, reason, timings). Metrics are CloudWatch Embedded Metric Format lines on
//! stdout: CloudWatch Logs turns each into metric data points, with no API call and no
//! extra permission. Neither ever carries image bytes, secrets or URLs: the callers pass
//! codes, counts and keys only.

use crate::aws::handler::Outcome;
use crate::config::LogLevel;

/// The CloudWatch namespace of the function's own metrics.
pub const NAMESPACE: &str = "ImageProcessor";

/// Installs the JSON log subscriber at the configured level (once per process; a second
/// call is a no-op, which keeps tests that build several handlers simple).
pub fn init(level: LogLevel) {
    let level = match level {
        LogLevel::Error => tracing::Level::ERROR,
        LogLevel::Warn => tracing::Level::WARN,
        LogLevel::Info => tracing::Level::INFO,
        LogLevel::Debug => tracing::Level::DEBUG,
        LogLevel::Trace => tracing::Level::TRACE,
    };
    let _already_set = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_ansi(false)
        .with_max_level(level)
        .try_init();
}

/// The metric line for one finished record: `Processed` (with duration and bytes),
/// `Rejected` by `Reason`, or `Failed`.
pub fn outcome_line(o: &Outcome, timestamp_ms: u64) -> String {
    let (metric, dims): (&str, serde_json::Value) = match o.status {
        "processed" => ("Processed", serde_json::json!([[]])),
        "rejected" => ("Rejected", serde_json::json!([["Reason"]])),
        _ => ("Failed", serde_json::json!([["Reason"]])),
    };
    let mut line = serde_json::json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": dims,
                "Metrics": [
                    {"Name": metric, "Unit": "Count"},
                    {"Name": "DurationMs", "Unit": "Milliseconds"},
                    {"Name": "InputBytes", "Unit": "Bytes"},
                    {"Name": "OutputBytes", "Unit": "Bytes"},
                ],
            }],
        },
        metric: 1,
        "DurationMs": o.duration_ms,
        "InputBytes": o.bytes,
        "OutputBytes": o.out_bytes.unwrap_or(0),
    });
    if let (Some(reason), Some(map)) = (o.reason, line.as_object_mut()) {
        map.insert("Reason".to_owned(), serde_json::Value::from(reason));
    }
    line.to_string()
}

/// The metric line for a dependency failure (the invocation fails and is retried).
pub fn failed_line(operation: &str, timestamp_ms: u64) -> String {
    serde_json::json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Reason"]],
                "Metrics": [{"Name": "Failed", "Unit": "Count"}],
            }],
        },
        "Failed": 1,
        "Reason": "dependency-failure",
        "Operation": operation,
    })
    .to_string()
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Writes the outcome's metric line to stdout (where Lambda sends it to CloudWatch Logs).
pub fn emit_outcome(o: &Outcome) {
    println!("{}", outcome_line(o, now_ms()));
}

/// Writes a dependency-failure metric line to stdout.
pub fn emit_failed(operation: &str) {
    println!("{}", failed_line(operation, now_ms()));
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]
mod tests {
    use super::*;

    fn outcome(status: &'static str, reason: Option<&'static str>) -> Outcome {
        Outcome {
            pk: "b/uploads/a.jpg".into(),
            sk: "1".into(),
            bucket: "b".into(),
            key: "uploads/a.jpg".into(),
            version_id: None,
            status,
            reason,
            message: String::new(),
            op: "fit",
            format: None,
            out_format: None,
            width: None,
            height: None,
            out_width: None,
            out_height: None,
            bytes: 10,
            out_bytes: None,
            sha256: None,
            out_sha256: None,
            output_key: None,
            duration_ms: 5,
            request_id: "r".into(),
            sandbox_layers: vec![],
            sequencer: None,
            event_time: String::new(),
            expires_at: 0,
        }
    }

    #[test]
    fn emf_lines_declare_what_they_carry() {
        let v: serde_json::Value =
            serde_json::from_str(&outcome_line(&outcome("rejected", Some("corrupt")), 7)).unwrap();
        assert_eq!(v["_aws"]["Timestamp"], 7);
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], NAMESPACE);
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0][0],
            "Reason"
        );
        assert_eq!(v["Rejected"], 1);
        assert_eq!(v["Reason"], "corrupt");
        assert_eq!(v["InputBytes"], 10);
        // Every declared metric has a value and every declared dimension has one too.
        for m in v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
        {
            assert!(v.get(m["Name"].as_str().unwrap()).is_some());
        }
        let p: serde_json::Value =
            serde_json::from_str(&outcome_line(&outcome("processed", None), 7)).unwrap();
        assert_eq!(p["Processed"], 1);
        assert!(p.get("Reason").is_none());
        let f: serde_json::Value = serde_json::from_str(&failed_line("s3:GetObject", 7)).unwrap();
        assert_eq!(f["Failed"], 1);
    }
}
