//! Errors by blame.
//!
//! Every way the pipeline can refuse an input is a [`Reason`] with a stable, machine-readable
//! code (it lands in records, notifications and metric dimensions) and a [`Blame`] that tells
//! the edge what to do with it: bad input and exceeded limits are final (recorded, notified,
//! never retried), a failed dependency may be retried, and an internal error is our bug.

use std::fmt;

/// Who is to blame for a failure. The Lambda edge maps this to "retry" or "record and stop".
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Blame {
    /// The input is malformed, unsupported or hostile. Final.
    BadInput,
    /// The input is well formed but exceeds a configured limit. Final.
    LimitExceeded,
    /// Something we depend on failed (an AWS API, the filesystem). May be retried.
    Dependency,
    /// A bug of ours. Final for this input, and worth an alarm.
    Internal,
}

/// Why an input was not turned into an output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// More bytes than `Limits::max_input_bytes`.
    TooLargeFile,
    /// The magic bytes are not JPEG, PNG or WebP.
    UnsupportedFormat,
    /// Width or height above `Limits::max_dimension` (read from the header).
    TooLargeDimensions,
    /// The file claims to be a supported format but its structure or data is broken.
    Corrupt,
    /// A JPEG coding process we do not decode (arithmetic, lossless, 12-bit, hierarchical).
    UnsupportedJpegVariant,
    /// The object key or file name cannot be mapped to a safe output name.
    InvalidKey,
    /// The sandboxed worker attempted a forbidden system call and was killed (SIGSYS).
    SandboxViolation,
    /// The sandboxed worker ran out of its address-space budget.
    MemoryLimit,
    /// The sandboxed worker exceeded its CPU or wall-clock budget.
    TimeLimit,
    /// A decoder panicked, aborted or died from a signal other than the ones above.
    DecoderCrash,
    /// The worker spoke out of protocol (bad frame, oversized frame, early close).
    ProtocolError,
    /// Reading or writing the object failed for a reason outside the input.
    DependencyFailure,
    /// A bug of ours: an invariant of the pipeline did not hold.
    Internal,
}

impl Reason {
    /// The stable code written to records and notifications.
    pub const fn code(self) -> &'static str {
        match self {
            Reason::TooLargeFile => "too-large-file",
            Reason::UnsupportedFormat => "unsupported-format",
            Reason::TooLargeDimensions => "too-large-dimensions",
            Reason::Corrupt => "corrupt",
            Reason::UnsupportedJpegVariant => "unsupported-jpeg-variant",
            Reason::InvalidKey => "invalid-key",
            Reason::SandboxViolation => "sandbox-violation",
            Reason::MemoryLimit => "memory-limit",
            Reason::TimeLimit => "time-limit",
            Reason::DecoderCrash => "decoder-crash",
            Reason::ProtocolError => "protocol-error",
            Reason::DependencyFailure => "dependency-failure",
            Reason::Internal => "internal",
        }
    }

    /// Every reason, for tests and documentation tables.
    pub const ALL: [Reason; 13] = [
        Reason::TooLargeFile,
        Reason::UnsupportedFormat,
        Reason::TooLargeDimensions,
        Reason::Corrupt,
        Reason::UnsupportedJpegVariant,
        Reason::InvalidKey,
        Reason::SandboxViolation,
        Reason::MemoryLimit,
        Reason::TimeLimit,
        Reason::DecoderCrash,
        Reason::ProtocolError,
        Reason::DependencyFailure,
        Reason::Internal,
    ];

    /// Parses a code written by [`Reason::code`].
    pub fn from_code(code: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.code() == code)
    }

    /// Who is to blame, which decides whether a retry can help.
    pub const fn blame(self) -> Blame {
        match self {
            Reason::UnsupportedFormat
            | Reason::Corrupt
            | Reason::UnsupportedJpegVariant
            | Reason::InvalidKey
            | Reason::SandboxViolation
            | Reason::DecoderCrash
            | Reason::ProtocolError => Blame::BadInput,
            Reason::TooLargeFile
            | Reason::TooLargeDimensions
            | Reason::MemoryLimit
            | Reason::TimeLimit => Blame::LimitExceeded,
            Reason::DependencyFailure => Blame::Dependency,
            Reason::Internal => Blame::Internal,
        }
    }

    /// Rejections that look like an attack rather than an accident: they also go to the
    /// security-alerts topic. A header that declares more than we allow, an input that made
    /// the sandbox act, or a decoder that crashed are all worth a human look.
    pub const fn is_hostile(self) -> bool {
        matches!(
            self,
            Reason::TooLargeDimensions
                | Reason::SandboxViolation
                | Reason::MemoryLimit
                | Reason::TimeLimit
                | Reason::DecoderCrash
                | Reason::ProtocolError
                | Reason::InvalidKey
        )
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A refusal: a reason code plus a human message. Never carries input bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[error("{reason}: {message}")]
pub struct Rejection {
    pub reason: Reason,
    pub message: String,
}

impl Rejection {
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Rejection {
            reason,
            message: message.into(),
        }
    }
    pub fn corrupt(message: impl Into<String>) -> Self {
        Rejection::new(Reason::Corrupt, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Rejection::new(Reason::Internal, message)
    }
    pub const fn blame(&self) -> Blame {
        self.reason.blame()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for r in Reason::ALL {
            assert!(seen.insert(r.code()), "duplicate code {}", r.code());
            assert_eq!(Reason::from_code(r.code()), Some(r));
        }
        assert_eq!(Reason::from_code("nope"), None);
    }

    #[test]
    fn blame_decides_retry() {
        assert_eq!(Reason::Corrupt.blame(), Blame::BadInput);
        assert_eq!(Reason::TooLargeFile.blame(), Blame::LimitExceeded);
        assert_eq!(Reason::DependencyFailure.blame(), Blame::Dependency);
        assert!(Reason::SandboxViolation.is_hostile());
        assert!(!Reason::UnsupportedFormat.is_hostile());
    }
}
