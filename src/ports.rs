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
    /// The object the event named is no longer there (deleted, or replaced by a newer
    /// upload whose own event will follow).
    Gone,
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
