//! The outcome record: one JSON object per input, the same shape in the CLI's output and
//! (with AWS fields added) in the Lambda's DynamoDB item and SNS message.

use sha2::{Digest, Sha256};

use super::error::{Blame, Reason, Rejection};
use super::naming::Op;
use super::pipeline::Output;
use super::probe::Header;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Processed,
    Rejected,
    Failed,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Record {
    pub input: String,
    pub status: Status,
    pub reason: Option<&'static str>,
    /// Who is to blame when the input was not processed: `bad-input` and `limit-exceeded` are
    /// final, `dependency` (a read or write failed) may succeed on a retry.
    pub blame: Option<Blame>,
    pub message: String,
    pub format: Option<&'static str>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub frames: Option<u32>,
    pub bytes: u64,
    pub op: &'static str,
    pub output: Option<String>,
    pub out_width: Option<u32>,
    pub out_height: Option<u32>,
    pub out_bytes: Option<u64>,
    /// The SHA-256 of the whole input; `None` when the input was larger than the limit, since
    /// only the first limit + 1 bytes are ever read (a hash of those would match nothing).
    pub sha256: Option<String>,
    pub out_sha256: Option<String>,
    pub duration_ms: f64,
    /// The sandbox layers that were active for this input (empty when run in-process).
    pub sandbox: Vec<String>,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in d {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

impl Record {
    pub fn processed(
        input: &str,
        input_bytes: &[u8],
        out: &Output,
        output: Option<String>,
    ) -> Record {
        Record {
            input: input.to_owned(),
            status: Status::Processed,
            reason: None,
            blame: None,
            message: format!(
                "{} {}x{} -> {} {}x{}",
                out.header.format.name(),
                out.header.width,
                out.header.height,
                out.op.name(),
                out.width,
                out.height
            ),
            format: Some(out.header.format.name()),
            width: Some(out.header.width),
            height: Some(out.header.height),
            frames: Some(out.header.frames),
            bytes: input_bytes.len() as u64,
            op: out.op.name(),
            output,
            out_width: Some(out.width),
            out_height: Some(out.height),
            out_bytes: Some(out.bytes.len() as u64),
            sha256: Some(sha256_hex(input_bytes)),
            out_sha256: Some(sha256_hex(&out.bytes)),
            duration_ms: 0.0,
            sandbox: Vec::new(),
        }
    }

    /// A rejected input. `header` is whatever the probe could read, for the record only.
    pub fn rejected(
        input: &str,
        input_bytes: &[u8],
        op: Op,
        r: &Rejection,
        header: Option<&Header>,
    ) -> Record {
        Record {
            input: input.to_owned(),
            status: Status::Rejected,
            reason: Some(r.reason.code()),
            blame: Some(r.blame()),
            message: r.message.clone(),
            format: header.map(|h| h.format.name()),
            width: header.map(|h| h.width),
            height: header.map(|h| h.height),
            frames: header.map(|h| h.frames),
            bytes: input_bytes.len() as u64,
            op: op.name(),
            output: None,
            out_width: None,
            out_height: None,
            out_bytes: None,
            sha256: (r.reason != Reason::TooLargeFile).then(|| sha256_hex(input_bytes)),
            out_sha256: None,
            duration_ms: 0.0,
            sandbox: Vec::new(),
        }
    }

    /// An input that could not be handled for a reason outside its bytes: it could not be
    /// read, its output could not be written, or its output would overwrite an input or
    /// another input's output. Nothing was written for it.
    pub fn failed(input: &str, op: Op, reason: Reason, message: String) -> Record {
        Record {
            input: input.to_owned(),
            status: Status::Failed,
            reason: Some(reason.code()),
            blame: Some(reason.blame()),
            message,
            format: None,
            width: None,
            height: None,
            frames: None,
            bytes: 0,
            op: op.name(),
            output: None,
            out_width: None,
            out_height: None,
            out_bytes: None,
            sha256: None,
            out_sha256: None,
            duration_ms: 0.0,
            sandbox: Vec::new(),
        }
    }
}
