//! The pipe protocol between the parent and the worker: bounded, length-prefixed frames.
//!
//! Request (parent → worker stdin):  `IPW1` | u32 meta length | meta JSON | u64 input length | input
//! Response (worker → parent stdout): `IPR1` | u32 meta length | meta JSON | u64 output length | output
//!
//! Every length is checked against a bound before anything is allocated for it, on both sides:
//! the worker trusts the parent no more than the parent trusts the worker. Pixels never cross.

use std::io::{self, Read, Write};

use crate::core::error::Rejection;
use crate::core::naming::Op;
use crate::core::probe::Header;
use crate::core::{Format, Limits};

use super::policy::ResourceLimits;

pub const REQUEST_MAGIC: &[u8; 4] = b"IPW1";
pub const RESPONSE_MAGIC: &[u8; 4] = b"IPR1";
/// Metadata frames are a few hundred bytes of JSON.
pub const MAX_META_BYTES: u32 = 64 * 1024;
/// The largest output we accept back: a 4096×4096 RGBA PNG that does not compress at all,
/// plus container overhead.
pub const MAX_OUTPUT_BYTES: u64 = 4096 * 4096 * 4 + 16 * 1024 * 1024;

/// How strictly the worker must be isolated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SandboxMode {
    /// Refuse to process unless every layer is in place (CLI default on Linux).
    Strict,
    /// Process with the layers the platform allows (Lambda default: its own seccomp profile
    /// refuses a nested filter).
    BestEffort,
}

/// Hostile behaviours for the sandbox's own tests. Compiled only with the
/// `sandbox-test-hooks` feature and only settable by the parent's test API, never from input.
#[cfg(feature = "sandbox-test-hooks")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TestAction {
    OpenFile,
    OpenSocket,
    SpawnProcess,
    AllocateTooMuch,
    Spin,
    Panic,
    Abort,
    BadResponse,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RequestMeta {
    pub op: Op,
    pub limits: Limits,
    pub resources: ResourceLimits,
    pub mode: SandboxMode,
    #[cfg(feature = "sandbox-test-hooks")]
    #[serde(default)]
    pub test_action: Option<TestAction>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ResponseMeta {
    /// The layers the worker installed before reading its input.
    pub layers: Vec<String>,
    pub result: Result<OutputMeta, Rejection>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct OutputMeta {
    pub header: Header,
    pub op: Op,
    pub format: Format,
    pub width: u32,
    pub height: u32,
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn write_frame(w: &mut impl Write, magic: &[u8; 4], meta: &[u8], body: &[u8]) -> io::Result<()> {
    let meta_len = u32::try_from(meta.len()).map_err(|_| bad("meta too large"))?;
    if meta_len > MAX_META_BYTES {
        return Err(bad("meta too large"));
    }
    w.write_all(magic)?;
    w.write_all(&meta_len.to_le_bytes())?;
    w.write_all(meta)?;
    w.write_all(&(body.len() as u64).to_le_bytes())?;
    w.write_all(body)?;
    w.flush()
}

/// Reads one frame; `max_body` bounds the body before it is allocated.
fn read_frame(r: &mut impl Read, magic: &[u8; 4], max_body: u64) -> io::Result<(Vec<u8>, Vec<u8>)> {
    let mut m = [0u8; 4];
    r.read_exact(&mut m)?;
    if &m != magic {
        return Err(bad("bad frame magic"));
    }
    let mut len4 = [0u8; 4];
    r.read_exact(&mut len4)?;
    let meta_len = u32::from_le_bytes(len4);
    if meta_len > MAX_META_BYTES {
        return Err(bad(format!(
            "meta frame of {meta_len} bytes exceeds {MAX_META_BYTES}"
        )));
    }
    let mut meta = vec![0u8; meta_len as usize];
    r.read_exact(&mut meta)?;
    let mut len8 = [0u8; 8];
    r.read_exact(&mut len8)?;
    let body_len = u64::from_le_bytes(len8);
    if body_len > max_body {
        return Err(bad(format!(
            "body frame of {body_len} bytes exceeds {max_body}"
        )));
    }
    let mut body = Vec::new();
    let got = r.take(body_len).read_to_end(&mut body)?;
    if got as u64 != body_len {
        return Err(bad("body frame cut short"));
    }
    Ok((meta, body))
}

pub fn write_request(w: &mut impl Write, meta: &RequestMeta, input: &[u8]) -> io::Result<()> {
    let m = serde_json::to_vec(meta).map_err(|e| bad(e.to_string()))?;
    write_frame(w, REQUEST_MAGIC, &m, input)
}

pub fn read_request(r: &mut impl Read, max_input: u64) -> io::Result<(RequestMeta, Vec<u8>)> {
    let (m, body) = read_frame(r, REQUEST_MAGIC, max_input)?;
    let meta = serde_json::from_slice(&m).map_err(|e| bad(e.to_string()))?;
    Ok((meta, body))
}

pub fn write_response(w: &mut impl Write, meta: &ResponseMeta, output: &[u8]) -> io::Result<()> {
    let m = serde_json::to_vec(meta).map_err(|e| bad(e.to_string()))?;
    write_frame(w, RESPONSE_MAGIC, &m, output)
}

pub fn read_response(r: &mut impl Read) -> io::Result<(ResponseMeta, Vec<u8>)> {
    let (m, body) = read_frame(r, RESPONSE_MAGIC, MAX_OUTPUT_BYTES)?;
    let meta = serde_json::from_slice(&m).map_err(|e| bad(e.to_string()))?;
    Ok((meta, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_bounds_hold() {
        let meta = RequestMeta {
            op: Op::Thumb,
            limits: Limits::default(),
            resources: ResourceLimits::default(),
            mode: SandboxMode::Strict,
            #[cfg(feature = "sandbox-test-hooks")]
            test_action: None,
        };
        let mut buf = Vec::new();
        write_request(&mut buf, &meta, b"hello").unwrap();
        let (m, body) = read_request(&mut buf.as_slice(), 10).unwrap();
        assert_eq!(m.op, Op::Thumb);
        assert_eq!(body, b"hello");
        // A body over the bound is refused before allocation.
        assert!(read_request(&mut buf.as_slice(), 4).is_err());
        // A cut frame is an error, not a hang or a short read.
        assert!(read_request(&mut &buf[..buf.len() - 1], 10).is_err());
        // A huge declared meta length is refused.
        let mut evil = REQUEST_MAGIC.to_vec();
        evil.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(read_request(&mut evil.as_slice(), 10).is_err());
    }
}
