//! The image bucket through the S3 SDK: bounded, pinned reads and SSE-KMS writes.

use std::collections::HashMap;

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;

use crate::ports::{Fetched, ObjectRef, ObjectStore, PortError, PutRequest};

/// S3 adapter for [`ObjectStore`]. Reads and writes one bucket only.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
    kms_key_id: String,
    expected_bucket_owner: Option<String>,
}

impl S3Store {
    pub fn new(
        client: aws_sdk_s3::Client,
        bucket: String,
        kms_key_id: String,
        expected_bucket_owner: Option<String>,
    ) -> S3Store {
        S3Store {
            client,
            bucket,
            kms_key_id,
            expected_bucket_owner,
        }
    }
}

/// An ETag as HTTP's If-Match wants it: quoted (S3 events carry it bare).
fn quoted(etag: &str) -> String {
    format!("\"{}\"", etag.trim_matches('"'))
}

impl ObjectStore for S3Store {
    async fn get_bounded(&self, obj: &ObjectRef, limit: usize) -> Result<Fetched, PortError> {
        let resp = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&obj.key)
            .set_version_id(obj.version_id.clone())
            .set_if_match(obj.etag.as_deref().map(quoted))
            .set_expected_bucket_owner(self.expected_bucket_owner.clone())
            .send()
            .await;
        let resp = match resp {
            Ok(r) => r,
            Err(e) => {
                // 404 (NoSuchKey, NoSuchVersion): deleted since the event. 412: replaced
                // since the event (the ETag no longer matches). Both are final answers.
                // S3 says 404 only to a caller allowed to list the bucket; without
                // s3:ListBucket a missing object is a 403, indistinguishable from a real
                // denial, so it stays a dependency failure (terraform/iam.tf grants it).
                let status = e.raw_response().map(|r| r.status().as_u16());
                let code = e.as_service_error().and_then(ProvideErrorMetadata::code);
                if status == Some(404)
                    || matches!(code, Some("NoSuchKey" | "NoSuchVersion"))
                    || matches!(&e, SdkError::ServiceError(s) if s.err().is_no_such_key())
                {
                    return Ok(Fetched::Deleted);
                }
                if status == Some(412) || code == Some("PreconditionFailed") {
                    return Ok(Fetched::Replaced);
                }
                return Err(PortError::new(
                    "s3:GetObject",
                    DisplayErrorContext(&e).to_string(),
                ));
            }
        };
        // Never trust the body to end, nor Content-Length to be true: take at most
        // limit + 1 bytes and drop the rest of the stream unread.
        let cap = limit.saturating_add(1);
        let initial = resp
            .content_length()
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0)
            .min(cap);
        let mut buf = Vec::with_capacity(initial);
        let mut body = resp.body;
        while buf.len() < cap {
            match body.next().await {
                None => break,
                Some(Ok(chunk)) => {
                    let room = cap.saturating_sub(buf.len());
                    buf.extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or(&[]));
                }
                Some(Err(e)) => {
                    return Err(PortError::new(
                        "s3:GetObject body",
                        DisplayErrorContext(&e).to_string(),
                    ))
                }
            }
        }
        Ok(Fetched::Body(buf))
    }

    async fn put(&self, req: &PutRequest<'_>) -> Result<(), PortError> {
        let metadata: HashMap<String, String> = req
            .metadata
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(req.key)
            .body(ByteStream::from(req.bytes.to_vec()))
            .content_type(req.content_type)
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id(&self.kms_key_id)
            .bucket_key_enabled(true)
            .set_metadata(Some(metadata))
            .set_expected_bucket_owner(self.expected_bucket_owner.clone())
            .send()
            .await
            .map_err(|e| PortError::new("s3:PutObject", DisplayErrorContext(&e).to_string()))?;
        Ok(())
    }
}
