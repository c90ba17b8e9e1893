//! Format by magic bytes only. The file name's extension is never consulted.

use super::error::{Reason, Rejection};

/// The formats the product accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Jpeg,
    Png,
    Webp,
}

impl Format {
    pub const fn name(self) -> &'static str {
        match self {
            Format::Jpeg => "jpeg",
            Format::Png => "png",
            Format::Webp => "webp",
        }
    }
    pub const fn mime(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
            Format::Webp => "image/webp",
        }
    }
    pub const fn extension(self) -> &'static str {
        match self {
            Format::Jpeg => "jpg",
            Format::Png => "png",
            Format::Webp => "webp",
        }
    }
}

/// JPEG: SOI followed by the first byte of a marker.
const JPEG_MAGIC: &[u8] = &[0xFF, 0xD8, 0xFF];
/// PNG: the full 8-byte signature (a broken signature is not a PNG).
const PNG_MAGIC: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

/// Identifies the format from the first bytes, or rejects as `unsupported-format`.
pub fn sniff(bytes: &[u8]) -> Result<Format, Rejection> {
    if bytes.starts_with(JPEG_MAGIC) {
        return Ok(Format::Jpeg);
    }
    if bytes.starts_with(PNG_MAGIC) {
        return Ok(Format::Png);
    }
    if let (Some(riff), Some(webp)) = (bytes.get(0..4), bytes.get(8..12)) {
        if riff == b"RIFF" && webp == b"WEBP" {
            return Ok(Format::Webp);
        }
    }
    Err(Rejection::new(
        Reason::UnsupportedFormat,
        describe_unsupported(bytes),
    ))
}

/// A human hint at what the file is, for the rejection message only.
fn describe_unsupported(bytes: &[u8]) -> String {
    let known: &[(&[u8], &str)] = &[
        (b"GIF8", "GIF"),
        (b"BM", "BMP"),
        (b"II*\0", "TIFF"),
        (b"MM\0*", "TIFF"),
        (b"%PDF", "PDF"),
        (b"PK\x03\x04", "ZIP"),
        (b"8BPS", "PSD"),
        (b"\0\0\x01\0", "ICO"),
        (b"\0\0\0\x0CjP", "JPEG 2000"),
    ];
    if bytes.is_empty() {
        return "empty input".into();
    }
    for (magic, name) in known {
        if bytes.starts_with(magic) {
            return format!("{name} is not an accepted format (only JPEG, PNG, WebP)");
        }
    }
    if bytes.get(4..8) == Some(b"ftyp") {
        return "ISO-BMFF (HEIC/AVIF) is not an accepted format (only JPEG, PNG, WebP)".into();
    }
    let head = bytes.get(..bytes.len().min(256)).unwrap_or_default();
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    if text.contains("<svg")
        || text.contains("<?xml")
        || text.contains("<html")
        || text.contains("<!doctype")
    {
        return "markup (SVG/HTML/XML) is not an accepted format (only JPEG, PNG, WebP)".into();
    }
    "unrecognised magic bytes (only JPEG, PNG, WebP are accepted)".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_the_three_formats() {
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Ok(Format::Jpeg));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Ok(Format::Png));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Ok(Format::Webp));
    }

    #[test]
    fn rejects_everything_else() {
        for bad in [
            &b""[..],
            b"\xFF",
            b"\xFF\xD8",
            b"\x89PNG\r\n\x1a",
            b"\x89PNG\r\n\x1b\n",
            b"GIF89a",
            b"BM....",
            b"RIFF\0\0\0\0WAVE",
            b"<svg xmlns=",
            b"%PDF-1.4",
        ] {
            let r = sniff(bad).unwrap_err();
            assert_eq!(r.reason, Reason::UnsupportedFormat, "{bad:?}");
            assert!(!r.message.is_empty());
        }
    }
}
