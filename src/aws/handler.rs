//! The function's policy: one S3 event in, for each record one output, one record, one
//! notification, exactly once, whatever the delivery does.
//!
//! The handler is generic over the ports ([`ObjectStore`], [`RecordStore`], [`Notifier`]);
//! the AWS adapters beside this module implement them, and the integration tests run this
//! same code through those adapters against an AWS API emulator.
//!
//! # Order of writes, and why a retry converges
//!
//! S3 delivers events at least once, and Lambda retries a failed asynchronous invocation.
//! Each event record is therefore handled as a small state machine keyed by
//! `(pk = <bucket>/<key>, sk = <version id or sequencer>)`:
//!
//! 1. **Claim**: a conditional PutItem creates `{status: "claimed", claim_owner: <request
//!    id>, lease_until: <invocation deadline>}` only if no item exists, or the existing one
//!    is a claim whose lease has run out or that this same request id holds (Lambda keeps
//!    the request id across its own retries). If a *final* item exists, the record was
//!    handled already: a duplicate delivery stops here (no output, no record, no
//!    notification). If another live invocation holds the claim, this one stops too: should
//!    the holder fail, its own retry finishes the work.
//! 2. **Check the guard**: every key has a "latest" item (`sk = "#latest"`) holding the
//!    highest S3 `sequencer` handled for it, padded to a fixed width
//!    ([`comparable_sequencer`]) so that DynamoDB's string order is numeric order. If it is
//!    already past this event's sequencer, a newer upload of the key was handled: this
//!    event is **superseded** (`older-than-latest`) and nothing is read.
//! 3. **Read and process**: bounded GetObject pinned to the event's version/ETag, then the
//!    pipeline through the [`Runner`]. A pinned read S3 answers with 404 (`NoSuchKey`,
//!    `NoSuchVersion`) is superseded (`object-deleted`); with 412 (the ETag no longer
//!    matches) it is superseded (`object-replaced`). Both are final, like a rejection.
//! 4. **Advance the guard**: an UpdateItem moves `seq` to ours on the condition
//!    `attribute_not_exists(seq) OR seq <= :new` (*equal* passes, so a retry of this same
//!    event gets through again). When an output is to be written, the same update takes
//!    the key's write lock (`writer`, `writer_until` = our lease), on the further condition
//!    that no other live invocation holds it. If the condition fails because a newer
//!    sequencer is there, the outcome becomes superseded (`older-than-latest`) and no
//!    output is written; if only the lock is taken, we wait a few seconds for it, then fail
//!    the invocation so that Lambda retries. The lock closes the race in which an older
//!    version passes this step, a newer one passes it and writes, and the older one then
//!    overwrites the newer output: the older one holds the lock until its write is done,
//!    and the newer one writes after it.
//! 5. **Output**: PutObject of the processed image, then the lock is given back. The
//!    output is a pure function of the input, so writing it again on a retry writes the
//!    same bytes.
//! 6. **Notify**: publish the record to the notifications topic (and hostile rejections to
//!    the security-alerts topic).
//! 7. **Finish**: a conditional PutItem replaces our claim by the final record (only while
//!    we still hold the claim).
//!
//! Any dependency failure in steps 2–7 gives the claim (and the lock) back, best effort,
//! and fails the invocation, so Lambda retries it; the retry takes the claim again and
//! redoes steps 2–7. Nothing is half-written in a way the retry cannot finish: the guard
//! already holding our sequencer lets the same event through again, the output is
//! overwritten with the same bytes, and the final record is written last, so "final record
//! exists" implies "output and notification done". If a newer version was handled between
//! the failure and the retry, the retry finds the guard past it and records the event as
//! superseded: the output is then the newer one's, which is what it should be. The one
//! thing a crash between steps 6 and 7 can cause is a second notification on the retry:
//! notifications are at-least-once on failure paths and exactly-once on duplicate
//! deliveries; subscribers deduplicate on `(pk, sk)` if they must.
//!
//! A newer upload of the same key has a new version id (or a higher sequencer), so it is a
//! new record and is processed again. Every final outcome moves the guard, rejections
//! included: "latest" means the newest upload of the key *handled*, so a late event of an
//! older version never replaces what a newer upload produced, nor brings back an output
//! after a newer upload was rejected. An event without a usable sequencer (S3 always sends
//! one) is handled without the guard, and says so in the log.
//!
//! # Superseded events
//!
//! An event that is out of date when it is handled gets a final record with status
//! `superseded` and a reason: `older-than-latest` (a newer upload of the key was handled
//! first: S3 does not deliver events in order), `object-replaced` (the object was
//! overwritten after the event; the newer upload's own event does the work) or
//! `object-deleted` (the object was deleted before it was processed). It is notified like
//! every other outcome (status attribute `superseded`), writes no output, and is not
//! retried. It is not a rejection: the upload was not bad, only overtaken, so it does not
//! count towards rejection alarms.
//!
//! # Errors by blame
//!
//! Bad input and exceeded limits (a [`Rejection`] from the core, a key that does not decode,
//! an event that announces too many bytes) are final: recorded, notified, and the
//! invocation succeeds so that nothing retries them. A failed dependency (an AWS API, the
//! sandbox failing to start) is a [`PortError`]: the invocation fails and Lambda retries,
//! then sends the event to the dead-letter destination. A bug of ours (`internal`) is
//! recorded as `failed` and not retried: the same input would fail the same way.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::s3::S3Event;

use super::event::{encode_key, EventObject};
use crate::config::RECORD_TTL_DAYS;
use crate::core::format::sniff;
use crate::core::naming::{op_for_name, output_key};
use crate::core::pipeline::check_size;
use crate::core::record::sha256_hex;
use crate::core::{Blame, Job, Reason, Rejection};
use crate::ports::{
    comparable_sequencer, Advance, AdvanceOutcome, Claim, ClaimOutcome, Fetched, Notification,
    Notifier, ObjectRef, ObjectStore, PortError, PutRequest, RecordKey, RecordStore, Topic,
};
use crate::runner::Runner;
use crate::telemetry;

/// The status of an event that was out of date when it was handled (see the module doc).
pub const SUPERSEDED: &str = "superseded";
/// A newer upload of the same key was handled first.
pub const OLDER_THAN_LATEST: &str = "older-than-latest";
/// The object was overwritten after the event (its pinned ETag no longer matches).
pub const OBJECT_REPLACED: &str = "object-replaced";
/// The object (or the pinned version) was deleted before it was processed.
pub const OBJECT_DELETED: &str = "object-deleted";

/// How long, in total, an event waits for another invocation's write lock on the same key
/// before it fails and leaves the rest to Lambda's retry. A lock is held for one PutObject,
/// so a few seconds is plenty; waiting longer would only spend the function's time.
const LOCK_WAIT_MS: u64 = 5_000;

/// What the handler needs from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub bucket: String,
    pub input_prefix: String,
    pub output_prefix: String,
}

/// The invocation context the handler uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub request_id: String,
    /// Epoch milliseconds after which Lambda will have stopped this invocation.
    pub deadline_ms: u64,
}

/// What happened to one event record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "disposition", rename_all = "kebab-case")]
pub enum Disposition {
    Processed,
    Rejected {
        reason: &'static str,
    },
    /// An internal error of ours, recorded and not retried.
    Failed,
    /// Not an event this function acts on (logged, nothing written).
    Skipped {
        why: &'static str,
    },
    /// A final record exists: a duplicate delivery.
    Duplicate,
    /// Another live invocation is handling it.
    Busy,
    /// Out of date when handled: recorded and notified with status `superseded`, no
    /// output written (`older-than-latest`, `object-replaced` or `object-deleted`).
    Superseded {
        reason: &'static str,
    },
}

/// The function's response: one entry per event record (logged; S3's asynchronous
/// invocations ignore it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub results: Vec<RecordResult>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RecordResult {
    /// The key as the event carried it.
    pub key: String,
    #[serde(flatten)]
    pub disposition: Disposition,
}

/// The final record: the DynamoDB item and the SNS message, field for field. Never image
/// bytes, secrets or URLs.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Outcome {
    pub pk: String,
    pub sk: String,
    pub bucket: String,
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    pub message: String,
    pub op: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out_format: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out_width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out_height: Option<u32>,
    /// Bytes read (at most the limit + 1), or the size the event announced when the
    /// object was not read.
    pub bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out_bytes: Option<u64>,
    /// Of the whole input; absent when the input was not read whole.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out_sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_key: Option<String>,
    pub duration_ms: u64,
    pub request_id: String,
    pub sandbox_layers: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequencer: Option<String>,
    pub event_time: String,
    /// Epoch seconds: DynamoDB's TTL deletes the item after this.
    pub expires_at: u64,
}

/// The ports and the runner, built once per cold start.
pub struct Handler<O, R, N> {
    objects: O,
    records: R,
    notifier: N,
    runner: Arc<Runner>,
    settings: Settings,
}

/// What [`Handler::work`] decided: the outcome, and the output to write if any. Nothing has
/// been written yet.
struct Work {
    outcome: Box<Outcome>,
    write: Option<Pending>,
}

/// A processed output, waiting for the guard.
struct Pending {
    key: String,
    bytes: Vec<u8>,
    content_type: &'static str,
    metadata: Vec<(&'static str, String)>,
}

impl<O: ObjectStore, R: RecordStore, N: Notifier> Handler<O, R, N> {
    pub fn new(objects: O, records: R, notifier: N, runner: Runner, settings: Settings) -> Self {
        Handler {
            objects,
            records,
            notifier,
            runner: Arc::new(runner),
            settings,
        }
    }

    /// Handles every record of the event. A record whose dependencies fail does not stop
    /// the others; the invocation then fails as a whole and the retry skips the records
    /// already finished.
    pub async fn handle(&self, event: &S3Event, inv: &Invocation) -> Result<Summary, PortError> {
        let mut results = Vec::with_capacity(event.records.len());
        let mut first_err = None;
        for r in &event.records {
            let obj = EventObject::from_record(r);
            match self.handle_one(&obj, inv).await {
                Ok(disposition) => results.push(RecordResult {
                    key: obj.raw_key,
                    disposition,
                }),
                Err(e) => {
                    tracing::error!(
                        request_id = %inv.request_id,
                        key = %obj.raw_key,
                        error = %e,
                        "dependency failure; the invocation will fail so that Lambda retries"
                    );
                    telemetry::emit_failed(e.operation);
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(Summary { results }),
        }
    }

    async fn handle_one(
        &self,
        obj: &EventObject,
        inv: &Invocation,
    ) -> Result<Disposition, PortError> {
        let started = Instant::now();
        let s = &self.settings;
        let skip = |why: &'static str| {
            tracing::info!(request_id = %inv.request_id, key = %obj.raw_key, event = %obj.event_name, why, "skipped");
            Ok(Disposition::Skipped { why })
        };
        if !obj.is_object_created() {
            return skip("not-object-created");
        }
        if obj.bucket != s.bucket {
            return skip("other-bucket");
        }
        // Defence in depth against loops: only keys under the input prefix, whatever the
        // notification filter says. An undecodable key is judged by its raw form.
        let under_input = match &obj.key {
            Ok(k) => k.starts_with(&s.input_prefix),
            Err(_) => obj.raw_key.starts_with(&encode_key(&s.input_prefix)),
        };
        if !under_input {
            return skip("outside-input-prefix");
        }

        let key_text = obj.key.as_deref().unwrap_or(&obj.raw_key);
        let rk = RecordKey {
            pk: format!("{}/{}", obj.bucket, key_text),
            sk: obj
                .version_id
                .clone()
                .or_else(|| obj.sequencer.clone())
                .or_else(|| obj.etag.clone())
                .unwrap_or_else(|| "unversioned".to_owned()),
        };
        let now = now_ms();
        let claim = Claim {
            key: rk.clone(),
            owner: inv.request_id.clone(),
            // After the deadline the holder is certainly dead. A context without a usable
            // deadline gets Lambda's longest timeout.
            lease_until_ms: if inv.deadline_ms > now {
                inv.deadline_ms
            } else {
                now.saturating_add(15 * 60 * 1000)
            },
            now_ms: now,
            expires_at: (now / 1000)
                .saturating_add(u64::from(RECORD_TTL_DAYS).saturating_mul(86_400)),
            sequencer: obj.sequencer.clone(),
            event_time: obj.event_time.clone(),
        };
        match self.records.claim(&claim).await? {
            ClaimOutcome::Claimed => {}
            ClaimOutcome::AlreadyDone { status } => {
                tracing::info!(request_id = %inv.request_id, pk = %rk.pk, sk = %rk.sk, status = %status, "duplicate delivery; already handled");
                return Ok(Disposition::Duplicate);
            }
            ClaimOutcome::Busy => {
                tracing::warn!(request_id = %inv.request_id, pk = %rk.pk, sk = %rk.sk, "another invocation holds the claim");
                return Ok(Disposition::Busy);
            }
        }

        let seq = obj.sequencer.as_deref().and_then(comparable_sequencer);
        if seq.is_none() {
            tracing::warn!(request_id = %inv.request_id, pk = %rk.pk, sk = %rk.sk, sequencer = ?obj.sequencer, "no orderable sequencer; handled without the latest guard");
        }
        let finished = async {
            let work = self
                .work(obj, &rk, &claim, inv, started, seq.as_deref())
                .await?;
            let outcome = self
                .commit(work, &rk, &claim, inv, started, seq.as_deref())
                .await?;
            self.notify(&outcome).await?;
            let item = serde_json::to_value(&*outcome)
                .map_err(|e| PortError::new("serialize", e.to_string()))?;
            self.records.finish(&rk, &inv.request_id, &item).await?;
            Ok(outcome)
        }
        .await;

        match finished {
            Ok(outcome) => {
                tracing::info!(
                    request_id = %inv.request_id,
                    key = %outcome.key,
                    status = outcome.status,
                    reason = outcome.reason.unwrap_or("none"),
                    op = outcome.op,
                    bytes = outcome.bytes,
                    out_bytes = outcome.out_bytes.unwrap_or(0),
                    duration_ms = outcome.duration_ms,
                    sandbox_layers = outcome.sandbox_layers.join(","),
                    "outcome"
                );
                // The metric lines know processed / rejected / failed; a superseded event is
                // none of them (it would count as Failed), so it shows in the log line above,
                // the record and the notification only.
                if outcome.status != SUPERSEDED {
                    telemetry::emit_outcome(&outcome);
                }
                Ok(match (outcome.status, outcome.reason) {
                    ("processed", _) => Disposition::Processed,
                    ("rejected", Some(reason)) => Disposition::Rejected { reason },
                    (SUPERSEDED, Some(reason)) => Disposition::Superseded { reason },
                    _ => Disposition::Failed,
                })
            }
            Err(e) => {
                self.release(&rk, inv).await;
                Err(e)
            }
        }
    }

    /// Gives the claim back so a retry need not wait for the lease; failing to is harmless
    /// (the lease runs out, and the same request id may take it again anyway).
    async fn release(&self, rk: &RecordKey, inv: &Invocation) {
        if let Err(e) = self.records.release(rk, &inv.request_id).await {
            tracing::warn!(request_id = %inv.request_id, pk = %rk.pk, error = %e, "could not release the claim");
        }
    }

    /// Steps 2–3: the guard check, the read and the pipeline. Writes nothing.
    async fn work(
        &self,
        obj: &EventObject,
        rk: &RecordKey,
        claim: &Claim,
        inv: &Invocation,
        started: Instant,
        seq: Option<&str>,
    ) -> Result<Work, PortError> {
        let s = &self.settings;
        let limits = self.runner.limits().clone();
        let key_text = obj.key.as_deref().unwrap_or(&obj.raw_key);
        let op = op_for_name(key_text);
        let mut out = Outcome {
            pk: rk.pk.clone(),
            sk: rk.sk.clone(),
            bucket: obj.bucket.clone(),
            key: key_text.to_owned(),
            version_id: obj.version_id.clone(),
            status: "rejected",
            reason: None,
            message: String::new(),
            op: op.name(),
            format: None,
            out_format: None,
            width: None,
            height: None,
            out_width: None,
            out_height: None,
            bytes: obj.size.unwrap_or(0),
            out_bytes: None,
            sha256: None,
            out_sha256: None,
            output_key: None,
            duration_ms: 0,
            request_id: inv.request_id.clone(),
            sandbox_layers: Vec::new(),
            sequencer: obj.sequencer.clone(),
            event_time: obj.event_time.clone(),
            expires_at: claim.expires_at,
        };
        let reject = |mut out: Outcome, r: Rejection| {
            out.status = if r.blame() == Blame::Internal {
                "failed"
            } else {
                "rejected"
            };
            out.reason = Some(r.reason.code());
            out.message = r.message;
            out.duration_ms = elapsed_ms(started);
            Ok(Work {
                outcome: Box::new(out),
                write: None,
            })
        };
        let superseded = |mut out: Outcome, reason: &'static str, message: String| {
            out.status = SUPERSEDED;
            out.reason = Some(reason);
            out.message = message;
            out.duration_ms = elapsed_ms(started);
            Ok(Work {
                outcome: Box::new(out),
                write: None,
            })
        };

        // A newer upload of this key was handled already: do not even read this one.
        if let Some(seq) = seq {
            if let Some(latest) = self.records.latest(&rk.pk).await? {
                if latest.as_str() > seq {
                    return superseded(out, OLDER_THAN_LATEST, older_message(&latest));
                }
            }
        }

        let key = match &obj.key {
            Ok(k) => k,
            Err(why) => {
                return reject(
                    out,
                    Rejection::new(
                        Reason::InvalidKey,
                        format!("the key does not decode: {why}"),
                    ),
                )
            }
        };
        let out_key = match output_key(key, &s.input_prefix, &s.output_prefix) {
            Ok(k) => k,
            Err(r) => return reject(out, r),
        };
        // Reject by the announced size before reading a byte.
        if let Some(size) = obj.size {
            if usize::try_from(size).map_or(true, |n| n > limits.max_input_bytes) {
                return reject(
                    out,
                    Rejection::new(
                        Reason::TooLargeFile,
                        format!(
                            "the event announces {size} bytes, more than the {} allowed; not read",
                            limits.max_input_bytes
                        ),
                    ),
                );
            }
        }

        let pinned = ObjectRef {
            key: key.clone(),
            version_id: obj.version_id.clone(),
            etag: obj.etag.clone(),
        };
        let input = match self
            .objects
            .get_bounded(&pinned, limits.max_input_bytes)
            .await?
        {
            Fetched::Deleted => {
                return superseded(
                    out,
                    OBJECT_DELETED,
                    "the object was deleted before it was processed; nothing written".to_owned(),
                )
            }
            Fetched::Replaced => {
                return superseded(
                    out,
                    OBJECT_REPLACED,
                    "the object was overwritten after this event (its ETag no longer matches); \
                     the newer upload's own event does the work"
                        .to_owned(),
                )
            }
            Fetched::Body(b) => b,
        };
        out.bytes = u64::try_from(input.len()).unwrap_or(u64::MAX);
        out.format = sniff(&input).ok().map(|f| f.name());
        if let Err(r) = check_size(&input, &limits) {
            // The body ran past the limit although the event said it would not: it was
            // cut at limit + 1 bytes, so no hash of the whole input exists.
            let r = Rejection::new(
                r.reason,
                format!(
                    "{}; the event announced {} bytes",
                    r.message,
                    obj.size
                        .map_or_else(|| "no size".to_owned(), |n| n.to_string())
                ),
            );
            return reject(out, r);
        }
        out.sha256 = Some(sha256_hex(&input));

        let runner = Arc::clone(&self.runner);
        let job = Job { op };
        let wall = worker_wall_budget_ms(inv.deadline_ms, now_ms());
        let run = tokio::task::spawn_blocking(move || runner.run_within(&input, &job, wall)).await;
        let run = match run {
            Ok(run) => run,
            Err(e) => {
                return reject(
                    out,
                    Rejection::internal(format!("the pipeline task did not complete: {e}")),
                )
            }
        };
        out.sandbox_layers = run.layers;
        let processed = match run.result {
            Ok(p) => p,
            Err(r) if r.blame() == Blame::Dependency => {
                return Err(PortError::new("pipeline", r.to_string()));
            }
            Err(r) => return reject(out, r),
        };

        let mut metadata = vec![("source-key", encode_key(key))];
        if let Some(v) = &obj.version_id {
            metadata.push(("source-version", v.clone()));
        }
        if let Some(sha) = &out.sha256 {
            metadata.push(("source-sha256", sha.clone()));
        }
        out.status = "processed";
        out.message = format!(
            "{} {}x{} -> {} {}x{}",
            processed.header.format.name(),
            processed.header.width,
            processed.header.height,
            processed.op.name(),
            processed.width,
            processed.height
        );
        out.format = Some(processed.header.format.name());
        out.out_format = Some(processed.format.name());
        out.width = Some(processed.header.width);
        out.height = Some(processed.header.height);
        out.out_width = Some(processed.width);
        out.out_height = Some(processed.height);
        out.out_bytes = Some(u64::try_from(processed.bytes.len()).unwrap_or(u64::MAX));
        out.out_sha256 = Some(sha256_hex(&processed.bytes));
        out.output_key = Some(out_key.clone());
        out.duration_ms = elapsed_ms(started);
        Ok(Work {
            outcome: Box::new(out),
            write: Some(Pending {
                key: out_key,
                bytes: processed.bytes,
                content_type: processed.format.mime(),
                metadata,
            }),
        })
    }

    /// Steps 4–5: moves the key's guard to this event (taking the write lock when there is
    /// an output), then writes the output and gives the lock back. Returns the outcome to
    /// notify and record: superseded if a newer upload of the key was handled meanwhile.
    async fn commit(
        &self,
        work: Work,
        rk: &RecordKey,
        claim: &Claim,
        inv: &Invocation,
        started: Instant,
        seq: Option<&str>,
    ) -> Result<Box<Outcome>, PortError> {
        let Work { mut outcome, write } = work;
        // Already out of date by the check before the read: the guard is past us.
        let stale = outcome.status == SUPERSEDED && outcome.reason == Some(OLDER_THAN_LATEST);
        let Some(seq) = seq.filter(|_| !stale) else {
            if let Some(w) = &write {
                self.put_output(w).await?;
            }
            return Ok(outcome);
        };
        let mut adv = Advance {
            pk: rk.pk.clone(),
            seq: seq.to_owned(),
            lock: write
                .as_ref()
                .map(|_| (inv.request_id.clone(), claim.lease_until_ms)),
            now_ms: now_ms(),
            expires_at: claim.expires_at,
        };
        let mut waited_ms = 0u64;
        let mut pause_ms = 100u64;
        loop {
            match self.records.advance(&adv).await? {
                AdvanceOutcome::Advanced => break,
                AdvanceOutcome::Older { latest } => {
                    tracing::info!(request_id = %inv.request_id, pk = %rk.pk, sk = %rk.sk, "a newer upload of this key was handled first; superseded, no output");
                    if outcome.status != SUPERSEDED {
                        supersede(&mut outcome, &latest, started);
                    }
                    return Ok(outcome);
                }
                AdvanceOutcome::Locked if waited_ms < LOCK_WAIT_MS => {
                    tracing::info!(request_id = %inv.request_id, pk = %rk.pk, "another invocation is writing this key's output; waiting");
                    tokio::time::sleep(std::time::Duration::from_millis(pause_ms)).await;
                    waited_ms = waited_ms.saturating_add(pause_ms);
                    pause_ms = pause_ms.saturating_mul(2).min(1_000);
                    adv.now_ms = now_ms();
                }
                AdvanceOutcome::Locked => {
                    return Err(PortError::new(
                        "dynamodb:UpdateItem (latest)",
                        "another invocation still holds the write lock of this key",
                    ))
                }
            }
        }
        if let Some(w) = &write {
            let put = self.put_output(w).await;
            // Give the lock back whatever the write did; on failure the retry takes it again.
            let unlock = self.records.unlock(&rk.pk, &inv.request_id).await;
            put?;
            unlock?;
        }
        Ok(outcome)
    }

    async fn put_output(&self, w: &Pending) -> Result<(), PortError> {
        self.objects
            .put(&PutRequest {
                key: &w.key,
                bytes: &w.bytes,
                content_type: w.content_type,
                metadata: w.metadata.clone(),
            })
            .await
    }

    async fn notify(&self, outcome: &Outcome) -> Result<(), PortError> {
        let note = Notification {
            body: serde_json::to_string(outcome)
                .map_err(|e| PortError::new("serialize", e.to_string()))?,
            status: outcome.status,
            reason: outcome.reason.unwrap_or("none"),
        };
        self.notifier.publish(Topic::Notifications, &note).await?;
        let hostile = outcome
            .reason
            .and_then(Reason::from_code)
            .is_some_and(Reason::is_hostile);
        if hostile {
            self.notifier.publish(Topic::SecurityAlerts, &note).await?;
        }
        Ok(())
    }
}

fn older_message(latest: &str) -> String {
    format!(
        "a newer upload of this key (sequencer {}) was handled first; this older event writes nothing",
        latest.trim_start_matches('0')
    )
}

/// Turns an outcome computed for an event into "superseded by a newer upload": nothing of
/// it was written, so the output fields go.
fn supersede(out: &mut Outcome, latest: &str, started: Instant) {
    out.status = SUPERSEDED;
    out.reason = Some(OLDER_THAN_LATEST);
    out.message = older_message(latest);
    out.out_format = None;
    out.out_width = None;
    out.out_height = None;
    out.out_bytes = None;
    out.out_sha256 = None;
    out.output_key = None;
    out.duration_ms = elapsed_ms(started);
}

/// What the writes after the pipeline need at most (PutObject, the record, two publishes),
/// kept out of the worker's wall-clock budget so that a slow input is recorded as
/// `time-limit` before Lambda's own timeout cuts the invocation.
pub const WRITE_RESERVE_MS: u64 = 4_000;
/// The least wall-clock time a worker is given, however close the deadline.
pub const MIN_WORKER_WALL_MS: u64 = 1_000;

/// The sandbox worker's wall-clock budget for an invocation ending at `deadline_ms`: the time
/// left less [`WRITE_RESERVE_MS`], at least [`MIN_WORKER_WALL_MS`]. `None` when the context
/// has no usable deadline (the sandbox's own limit then applies).
pub fn worker_wall_budget_ms(deadline_ms: u64, now_ms: u64) -> Option<u64> {
    if deadline_ms <= now_ms {
        return None;
    }
    Some(
        deadline_ms
            .saturating_sub(now_ms)
            .saturating_sub(WRITE_RESERVE_MS)
            .max(MIN_WORKER_WALL_MS),
    )
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worker_budget_leaves_time_for_the_writes() {
        // 30 s left: 26 s for the worker.
        assert_eq!(worker_wall_budget_ms(1_030_000, 1_000_000), Some(26_000));
        // 3 s left (the shortest timeout the Terraform allows): the floor.
        assert_eq!(
            worker_wall_budget_ms(1_003_000, 1_000_000),
            Some(MIN_WORKER_WALL_MS)
        );
        // No usable deadline: the sandbox's own limit.
        assert_eq!(worker_wall_budget_ms(0, 1_000_000), None);
        assert_eq!(worker_wall_budget_ms(1_000_000, 1_000_000), None);
    }
}
