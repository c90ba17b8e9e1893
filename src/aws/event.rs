//! S3 event records → what the handler needs: bucket, decoded key, pins, size, sequencer.
//!
//! S3 URL-encodes object keys in event notifications the way HTML forms do: a space is `+`,
//! anything else outside a safe set is `%XX` of its UTF-8 bytes. `aws_lambda_events` leaves
//! `url_decoded_key` empty for real S3 events, so the key is decoded here, strictly: a `%`
//! not followed by two hex digits, or bytes that are not UTF-8, make the key undecodable
//! (rejected as `invalid-key`, never guessed at).

use aws_lambda_events::event::s3::S3EventRecord;

/// One event record, as the handler sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventObject {
    /// `eventName`, e.g. `ObjectCreated:Put`.
    pub event_name: String,
    pub bucket: String,
    /// The key exactly as the event carried it (URL-encoded).
    pub raw_key: String,
    /// The decoded key, or why it does not decode.
    pub key: Result<String, String>,
    /// `object.size`, when present and not negative.
    pub size: Option<u64>,
    pub version_id: Option<String>,
    pub etag: Option<String>,
    pub sequencer: Option<String>,
    /// `eventTime`, RFC 3339.
    pub event_time: String,
}

impl EventObject {
    pub fn from_record(r: &S3EventRecord) -> EventObject {
        let raw_key = r.s3.object.key.clone().unwrap_or_default();
        let nonempty = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        EventObject {
            event_name: r.event_name.clone().unwrap_or_default(),
            bucket: r.s3.bucket.name.clone().unwrap_or_default(),
            key: decode_key(&raw_key),
            raw_key,
            size: r.s3.object.size.and_then(|s| u64::try_from(s).ok()),
            // S3 reports the literal version "null" for objects written while versioning
            // was suspended; it names no specific version to pin.
            version_id: nonempty(&r.s3.object.version_id).filter(|v| v != "null"),
            etag: nonempty(&r.s3.object.e_tag),
            sequencer: nonempty(&r.s3.object.sequencer),
            event_time: r.event_time.to_rfc3339(),
        }
    }

    /// True for the events the function acts on (`ObjectCreated:*`).
    pub fn is_object_created(&self) -> bool {
        self.event_name.starts_with("ObjectCreated:")
    }
}

/// Decodes an S3 event key: `+` is a space, `%XX` a byte, and the bytes must be UTF-8.
pub fn decode_key(raw: &str) -> Result<String, String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut bytes = raw.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = bytes.next().and_then(hex);
                let lo = bytes.next().and_then(hex);
                match (hi, lo) {
                    // hi and lo are both below 16, so this cannot overflow.
                    (Some(h), Some(l)) => out.push(h.wrapping_mul(16).wrapping_add(l)),
                    _ => return Err("a '%' is not followed by two hex digits".to_owned()),
                }
            }
            _ => out.push(b),
        }
    }
    String::from_utf8(out).map_err(|_| "the decoded key is not UTF-8".to_owned())
}

fn hex(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// The inverse, for tests and fixtures: what S3 puts in an event for a given key.
pub fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        match b {
            b' ' => out.push('+'),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' | b'~' => {
                out.push(char::from(b));
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn decodes_like_s3_encodes() {
        assert_eq!(decode_key("uploads/a+b.jpg").unwrap(), "uploads/a b.jpg");
        assert_eq!(decode_key("uploads/a%2Bb.jpg").unwrap(), "uploads/a+b.jpg");
        assert_eq!(
            decode_key("uploads/caf%C3%A9+%E2%98%83.png").unwrap(),
            "uploads/café ☃.png"
        );
        assert_eq!(decode_key("uploads/%2e%2E/x").unwrap(), "uploads/../x");
        for k in ["uploads/a b+c%d.jpg", "uploads/日本/x y.webp", "a/%/+"] {
            assert_eq!(decode_key(&encode_key(k)).unwrap(), k);
        }
    }

    #[test]
    fn refuses_what_does_not_decode() {
        assert!(decode_key("uploads/a%2").is_err());
        assert!(decode_key("uploads/a%zz.jpg").is_err());
        assert!(decode_key("uploads/%FF.jpg").is_err());
        assert!(decode_key("uploads/%C3").is_err());
    }
}
