//! What the Lambda handler needs from the outside world, and nothing more.
//!
//! The handler (`aws::handler`) is generic over these three traits; the AWS
//! adapters in [`crate::aws`] implement them with the SDK (and the integration tests drive
//! those real adapters against an AWS API emulator). The traits carry no SDK types, so the
//! policy in the handler reads the same whatever is behind them.
//!
//! Every method returns `impl Future + Send` so that the handler's future can be sent
//! across the Lambda runtime's worker threads.

use std::future::Future;

/// A failure of something we depend on (an AWS API, the network). The handler never
/// swallows one: it makes the invocation fail so that Lambda retries it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation} failed: {message}")]
pub struct PortError {
    /// What we were doing, e.g. `s3:GetObject`.
    pub operation: &'static str,
    /// What the service said (error code and message; never data or secrets).
    pub message: String,
}

impl PortError {
    pub fn new(operation: &'static str, message: impl Into<String>) -> PortError {
        PortError {
            operation,
            message: message.into(),
        }
    }
}

/// The uploaded object one event names, pinned to what the event saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    /// The decoded key.
    pub key: String,
    /// The version the event announced (versioned buckets).
    pub version_id: Option<String>,
    /// The ETag the event announced: a read fails rather than return different content.
    pub etag: Option<String>,
}

/// What a bounded read found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// The body: at most `limit + 1` bytes, so a body longer than the limit shows as one
    /// byte too many, whatever its Content-Length said.
    Body(Vec<u8>),
    /// The object (or the pinned version) does not exist any more: S3 answered 404
    /// (`NoSuchKey`, `NoSuchVersion`). It was deleted after its event was sent.
    Deleted,
    /// The object exists but is not the one the event announced: S3 answered 412 to the
    /// pinned ETag, so it was overwritten since, and the newer upload's own event follows.
    Replaced,
}

/// An output object to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutRequest<'a> {
    pub key: &'a str,
    pub bytes: &'a [u8],
    pub content_type: &'static str,
    /// Small ASCII values linking the output to its source.
    pub metadata: Vec<(&'static str, String)>,
}

/// The image bucket.
pub trait ObjectStore: Send + Sync {
    /// Reads at most `limit + 1` bytes of the object.
    fn get_bounded(
        &self,
        obj: &ObjectRef,
        limit: usize,
    ) -> impl Future<Output = Result<Fetched, PortError>> + Send;
    /// Writes an output object (encrypted at rest by the implementation).
    fn put(&self, req: &PutRequest<'_>) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// The identity of one record: one per (bucket/key, version or sequencer).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordKey {
    /// `<bucket>/<key>` (the key as decoded, or as received when it does not decode).
    pub pk: String,
    /// The S3 version id, or the event's sequencer when the bucket is not versioned.
    pub sk: String,
}

/// A claim on a record: "this invocation is working on it until `lease_until_ms`".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub key: RecordKey,
    /// Who holds it: the Lambda request id (the same across Lambda's own retries).
    pub owner: String,
    /// Epoch milliseconds after which another invocation may take over (the invocation's
    /// deadline: after it, the holder is certainly dead).
    pub lease_until_ms: u64,
    /// Now, epoch milliseconds.
    pub now_ms: u64,
    /// Epoch seconds after which the item may be deleted (DynamoDB TTL).
    pub expires_at: u64,
    pub sequencer: Option<String>,
    pub event_time: String,
}

/// What an attempt to claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The claim is ours: go on.
    Claimed,
    /// A final record exists already (a duplicate delivery): do nothing.
    AlreadyDone { status: String },
    /// Another live invocation holds the claim: do nothing (if it fails, its own retry
    /// finishes the work).
    Busy,
}

/// A request to move a key's "latest" guard forward to this event's sequencer.
///
/// The guard is one item per key (`pk = <bucket>/<key>`, `sk = "#latest"`) holding the highest
/// sequencer handled so far. Moving it is conditional (`seq` absent, lower, or equal — equal
/// so that a retry of the same event passes again), and, for an event that will write the
/// output, it also takes a short write lock so that two versions of one key never write
/// their outputs at the same time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advance {
    /// `<bucket>/<key>`, as in [`RecordKey::pk`].
    pub pk: String,
    /// The event's sequencer in its comparable form ([`comparable_sequencer`]).
    pub seq: String,
    /// `Some((owner, lease_until_ms))` to also take the write lock (the output is about to
    /// be written); `None` for outcomes that write nothing.
    pub lock: Option<(String, u64)>,
    /// Now, epoch milliseconds (an expired lock may be taken over).
    pub now_ms: u64,
    /// Epoch seconds after which the guard item may be deleted (DynamoDB TTL).
    pub expires_at: u64,
}

/// What an attempt to move the guard found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdvanceOutcome {
    /// The guard now holds our sequencer (and the lock, if asked for).
    Advanced,
    /// A newer event of the same key was handled already: this one is superseded.
    Older { latest: String },
    /// Our sequencer is still the newest, but another live invocation holds the write lock.
    Locked,
}

/// The width S3 sequencers are padded to before they are compared. S3 sends them as
/// upper-case hex of varying length (18 digits today) and says to compare two of them by
/// left-padding the shorter with zeros; padding all to one fixed width makes DynamoDB's
/// byte-wise string comparison (`<` in a condition expression) order them as numbers.
pub const SEQUENCER_WIDTH: usize = 64;

/// An S3 sequencer as a fixed-width, upper-case hex string, or `None` when it is not hex or
/// longer than [`SEQUENCER_WIDTH`] (such a value cannot be ordered, so no guard is used).
pub fn comparable_sequencer(seq: &str) -> Option<String> {
    if seq.is_empty() || seq.len() > SEQUENCER_WIDTH || !seq.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return None;
    }
    Some(format!(
        "{:0>width$}",
        seq.to_ascii_uppercase(),
        width = SEQUENCER_WIDTH
    ))
}

/// The records table.
pub trait RecordStore: Send + Sync {
    /// Creates the claim, or takes over an expired one, or one we hold already.
    fn claim(&self, claim: &Claim) -> impl Future<Output = Result<ClaimOutcome, PortError>> + Send;
    /// Replaces our claim by the final record, a flat JSON object (strings, numbers,
    /// booleans, lists of strings; nulls are left out). Only while we still hold the claim.
    fn finish(
        &self,
        key: &RecordKey,
        owner: &str,
        record: &serde_json::Value,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Gives the claim up so that a retry can take it at once.
    fn release(
        &self,
        key: &RecordKey,
        owner: &str,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// The key's "latest" guard: the highest comparable sequencer handled, if any
    /// (a strongly consistent read).
    fn latest(&self, pk: &str) -> impl Future<Output = Result<Option<String>, PortError>> + Send;
    /// Moves the guard to `adv.seq` if no newer event was handled (see [`Advance`]).
    fn advance(
        &self,
        adv: &Advance,
    ) -> impl Future<Output = Result<AdvanceOutcome, PortError>> + Send;
    /// Gives the write lock back (only if `owner` holds it).
    fn unlock(&self, pk: &str, owner: &str) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// Where a notification goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// Every outcome.
    Notifications,
    /// Hostile-looking rejections only.
    SecurityAlerts,
}

/// One notification: the record as JSON, plus the attributes subscription filters use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub body: String,
    pub status: &'static str,
    pub reason: &'static str,
}

/// The notification topics.
pub trait Notifier: Send + Sync {
    fn publish(
        &self,
        topic: Topic,
        note: &Notification,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn padded_sequencers_order_as_numbers() {
        // Different lengths: a plain string comparison would put "FF" after "100".
        let short = comparable_sequencer("FF").unwrap();
        let long = comparable_sequencer("100").unwrap();
        assert!(short < long);
        assert_eq!(short.len(), SEQUENCER_WIDTH);
        // Case does not change the order, and leading zeros do not change the value.
        assert_eq!(
            comparable_sequencer("00ab").unwrap(),
            comparable_sequencer("AB").unwrap()
        );
        let a = comparable_sequencer("0055B1A5F3E41D0E6A").unwrap();
        let b = comparable_sequencer("0055B1A5F3E41D0E6B").unwrap();
        assert!(a < b);
    }

    #[test]
    fn unorderable_sequencers_have_no_guard() {
        assert_eq!(comparable_sequencer(""), None);
        assert_eq!(comparable_sequencer("12G4"), None);
        assert_eq!(comparable_sequencer(&"1".repeat(SEQUENCER_WIDTH + 1)), None);
        assert!(comparable_sequencer(&"F".repeat(SEQUENCER_WIDTH)).is_some());
    }
}
