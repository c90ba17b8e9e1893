//! The fuzzing harness: one function per fuzz target, each taking the fuzzer's bytes and
//! asserting the properties the pipeline promises, not only "no crash".
//!
//! The targets in `fuzz/fuzz_targets/` are a few lines calling these functions, so the
//! harness compiles, lints and tests with the crate, and `tests/fuzz_regressions.rs` replays
//! every input the fuzzer ever found through the same code. Not part of the product API.
//!
//! A broken property is reported by `assert!` on purpose: under libFuzzer a panic aborts the
//! process and becomes a crash with a reproducer file, which is the whole point. The panics
//! here are therefore deliberate; nothing else in the crate panics on input.
#![allow(
    clippy::panic,
    clippy::manual_assert,
    reason = "the harness reports a broken property by panicking: under libFuzzer that is a \
              crash with a reproducer, in the regression tests a failed test"
)]

use crate::core::decode::{decode as core_decode, decode_with, Hint};
use crate::core::format::{sniff, Format};
use crate::core::naming::{op_for_name, output_key, validate_key};
use crate::core::probe::{probe as core_probe, Header};
use crate::core::transform::fit_size;
use crate::core::{process, Job, Limits, Op, Reason, Rejection};

/// The prefixes the product uses: uploads land under the first, outputs under the second.
pub const INPUT_PREFIX: &str = "uploads/";
pub const OUTPUT_PREFIX: &str = "processed/";

/// Byte strings that name a metadata container in one of our three formats (EXIF, XMP,
/// Photoshop/IPTC, ICC, PNG text chunks). None may appear in an output's container
/// structure.
pub const METADATA_MARKERS: &[&[u8]] = &[
    b"Exif",
    b"http://ns.adobe.com/xap",
    b"Photoshop 3.0",
    b"iCCP",
    b"tEXt",
    b"zTXt",
    b"iTXt",
    b"eXIf",
    b"ICC_PROFILE",
];

/// The op the first byte of a `decode` input selects; the rest of the input is the image.
/// Every byte value maps to an op, so the fuzzer reaches all three with one mutation.
pub const fn op_for_selector(b: u8) -> Op {
    match b % 3 {
        0 => Op::Fit,
        1 => Op::Thumb,
        _ => Op::Grayscale,
    }
}

/// The selector byte `decode` inputs start with for `op` (the inverse of
/// [`op_for_selector`]); the seed script and the tests prefix images with it.
pub const fn selector_for_op(op: Op) -> u8 {
    match op {
        Op::Fit => 0,
        Op::Thumb => 1,
        Op::Grayscale => 2,
    }
}

/// Every rejection names a reason with a code and carries a message, and none is our own
/// bug (`internal`) or a decoder panic that `catch_unwind` had to contain (`decoder-crash`:
/// under libFuzzer the panic itself already aborts; in the regression tests this catches it).
fn check_rejection(r: &Rejection, what: &str) {
    assert!(
        !r.reason.code().is_empty(),
        "{what}: rejection without a code: {r:?}"
    );
    assert!(
        !r.message.trim().is_empty(),
        "{what}: rejection without a message: {r:?}"
    );
    assert!(
        !matches!(r.reason, Reason::Internal | Reason::DecoderCrash),
        "{what}: {r}"
    );
}

/// The whole untrusted path (size check, sniff, header probe, decode, colour, transform,
/// orientation, encode) with the production limits. The first byte selects the op.
///
/// Properties: an accepted input's output sniffs as the input's format, probes and decodes
/// again at the size `process` reported; that size is the fit of the input into the op's box
/// (or the input's size for grayscale), up to the swap an EXIF orientation makes; the output
/// carries no metadata. Every rejection passes [`check_rejection`].
pub fn decode(data: &[u8]) {
    let Some((&sel, image)) = data.split_first() else {
        return;
    };
    let _outcome = pipeline(image, op_for_selector(sel));
}

/// [`decode`] for one image and op, returning the outcome for tests.
pub fn pipeline(image: &[u8], op: Op) -> Result<(u32, u32), Reason> {
    let limits = Limits::default();
    match process(image, &Job { op }, &limits) {
        Ok(out) => {
            let (w, h) = (out.header.width, out.header.height);
            let want = match op.fit_box() {
                Some(bx) => fit_size(w, h, bx),
                None => (w, h),
            };
            let got = (out.width, out.height);
            assert!(
                got == want || got == (want.1, want.0),
                "{op:?}: {w}x{h} input gave {}x{}, want {}x{} (or swapped)",
                got.0,
                got.1,
                want.0,
                want.1
            );
            if let Some(bx) = op.fit_box() {
                assert!(
                    got.0 <= bx && got.1 <= bx && got.0 >= 1 && got.1 >= 1,
                    "{op:?}: output {}x{} outside the {bx} box",
                    got.0,
                    got.1
                );
            }
            assert_eq!(out.format, out.header.format, "output format changed");
            check_output(&out.bytes, out.format, got, out.header.lossy);
            Ok(got)
        }
        Err(r) => {
            check_rejection(&r, "decode");
            Err(r.reason)
        }
    }
}

/// An output must be a clean image of its format at its size: it sniffs, probes and decodes
/// again with our own pipeline, a WebP from a lossless input is lossless, and its container
/// has no metadata.
fn check_output(bytes: &[u8], format: Format, size: (u32, u32), lossy: bool) {
    let limits = Limits::default();
    let sniffed = sniff(bytes);
    assert_eq!(sniffed, Ok(format), "output does not sniff as {format:?}");
    let header = match core_probe(bytes, &limits) {
        Ok(h) => h,
        Err(r) => panic!("output does not probe: {r}"),
    };
    assert_eq!(
        (header.width, header.height),
        size,
        "output header size differs from the reported size"
    );
    if format == Format::Webp && header.lossy {
        assert!(lossy, "a lossless WebP input gave a lossy output");
    }
    match core_decode(bytes, &header, &limits) {
        Ok(d) => assert_eq!(
            (d.pixels.width, d.pixels.height),
            size,
            "output decodes at another size"
        ),
        Err(r) => panic!("output does not decode again: {r}"),
    }
    check_no_metadata(bytes, format);
}

/// The container structure of an output holds only what pixels need. The check walks the
/// container rather than searching the whole file, because a four-byte marker such as `Exif`
/// can occur by chance inside compressed pixel data; the markers are searched in every
/// segment or chunk that is not pixel data, and the segment or chunk types are allow-listed.
fn check_no_metadata(bytes: &[u8], format: Format) {
    let header_bytes: Vec<&[u8]> = match format {
        Format::Jpeg => jpeg_segments(bytes),
        Format::Png => png_chunks(bytes),
        Format::Webp => webp_chunks(bytes),
    };
    for seg in header_bytes {
        for marker in METADATA_MARKERS {
            assert!(
                !seg.windows(marker.len()).any(|w| w == *marker),
                "output {format:?} carries metadata marker {:?}",
                String::from_utf8_lossy(marker)
            );
        }
    }
}

fn be16(b: &[u8], at: usize) -> Option<usize> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(usize::from(u16::from_be_bytes([*s.first()?, *s.get(1)?])))
}

fn be32(b: &[u8], at: usize) -> Option<usize> {
    let s = b.get(at..at.checked_add(4)?)?;
    usize::try_from(u32::from_be_bytes([
        *s.first()?,
        *s.get(1)?,
        *s.get(2)?,
        *s.get(3)?,
    ]))
    .ok()
}

fn le32(b: &[u8], at: usize) -> Option<usize> {
    let s = b.get(at..at.checked_add(4)?)?;
    usize::try_from(u32::from_le_bytes([
        *s.first()?,
        *s.get(1)?,
        *s.get(2)?,
        *s.get(3)?,
    ]))
    .ok()
}

/// The marker segments of a JPEG up to its first scan (marker byte + payload). Only the
/// segments our encoder writes are allowed: APP0 (JFIF), DQT, SOF0/SOF2, DHT, DRI, SOS.
fn jpeg_segments(b: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut pos: usize = 2;
    loop {
        let (Some(0xFF), Some(marker)) = (b.get(pos).copied(), b.get(pos.saturating_add(1))) else {
            panic!("JPEG output: no marker at offset {pos}");
        };
        let marker = *marker;
        let len = be16(b, pos.saturating_add(2)).unwrap_or_else(|| panic!("JPEG output: cut"));
        let seg = b
            .get(pos.saturating_add(4)..pos.saturating_add(2).saturating_add(len))
            .unwrap_or_else(|| panic!("JPEG output: segment past the end"));
        assert!(
            matches!(marker, 0xE0 | 0xDB | 0xC0 | 0xC2 | 0xC4 | 0xDD | 0xDA),
            "JPEG output carries segment FF{marker:02X}"
        );
        out.push(seg);
        if marker == 0xDA {
            return out;
        }
        pos = pos.saturating_add(2).saturating_add(len);
    }
}

/// The chunks of a PNG (type + payload, except IDAT's compressed pixels). Only IHDR, PLTE,
/// tRNS, IDAT and IEND are allowed: no text, EXIF, ICC, time or physical-size chunks.
fn png_chunks(b: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut pos: usize = 8;
    while pos < b.len() {
        let len = be32(b, pos).unwrap_or_else(|| panic!("PNG output: cut chunk length"));
        let kind = b
            .get(pos.saturating_add(4)..pos.saturating_add(8))
            .unwrap_or_else(|| panic!("PNG output: cut chunk type"));
        assert!(
            matches!(kind, b"IHDR" | b"PLTE" | b"tRNS" | b"IDAT" | b"IEND"),
            "PNG output carries chunk {:?}",
            String::from_utf8_lossy(kind)
        );
        out.push(kind);
        if kind != b"IDAT" {
            out.push(
                b.get(pos.saturating_add(8)..pos.saturating_add(8).saturating_add(len))
                    .unwrap_or_else(|| panic!("PNG output: chunk past the end")),
            );
        }
        pos = pos.saturating_add(12).saturating_add(len);
    }
    out
}

/// The RIFF chunks of a WebP (fourcc only: the one allowed chunk is the VP8L or VP8
/// bitstream, so there is no VP8X header that could announce EXIF, XMP or ICC chunks).
fn webp_chunks(b: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut pos: usize = 12;
    while pos < b.len() {
        let kind = b
            .get(pos..pos.saturating_add(4))
            .unwrap_or_else(|| panic!("WebP output: cut chunk type"));
        let len = le32(b, pos.saturating_add(4)).unwrap_or_else(|| panic!("WebP output: cut"));
        assert!(
            kind == b"VP8L" || kind == b"VP8 ",
            "WebP output carries chunk {:?}",
            String::from_utf8_lossy(kind)
        );
        out.push(kind);
        pos = pos
            .saturating_add(8)
            .saturating_add(len)
            .saturating_add(len & 1);
    }
    out
}

/// Sniff and header probe only, with the production limits. Properties: an accepted header
/// is within the limits and not empty; a rejection is one of the four reasons a header can
/// earn, with a message. (That the probe allocates nothing beyond its rejection message is
/// checked by the `probe` fuzz target, which counts allocations.)
pub fn probe(data: &[u8]) -> Option<Header> {
    let limits = Limits::default();
    match core_probe(data, &limits) {
        Ok(h) => {
            assert!(
                h.width >= 1
                    && h.height >= 1
                    && h.width <= limits.max_dimension
                    && h.height <= limits.max_dimension
                    && h.frames >= 1,
                "probe accepted {}x{} with {} frames",
                h.width,
                h.height,
                h.frames
            );
            Some(h)
        }
        Err(r) => {
            check_rejection(&r, "probe");
            assert!(
                matches!(
                    r.reason,
                    Reason::UnsupportedFormat
                        | Reason::Corrupt
                        | Reason::TooLargeDimensions
                        | Reason::UnsupportedJpegVariant
                ),
                "probe rejected with {}",
                r.reason
            );
            None
        }
    }
}

/// One decoder behind our limits: inputs that do not sniff as `format` are skipped, the
/// header must pass the probe, then only the format's decoder runs (no encode), three times:
/// a full decode, one that fits into the thumbnail box as the rows arrive (the pipeline's
/// path for fit and thumb) and one that may give gray pixels (the grayscale op's).
/// Properties: the pixels have the header's size, or its fit into the box when the decoder
/// fitted it, and a buffer of exactly width×height×channels; every rejection passes
/// [`check_rejection`]; and the cheaper paths accept exactly the inputs the full decode
/// accepts (they are optimisations, not a second verdict).
fn decoder(data: &[u8], format: Format) {
    if sniff(data) != Ok(format) {
        return;
    }
    let limits = Limits::default();
    let Ok(header) = core_probe(data, &limits) else {
        return;
    };
    let thumb = Op::Thumb.fit_box();
    let hints = [
        Hint::default(),
        Hint {
            gray: false,
            fit: thumb,
        },
        Hint {
            gray: true,
            fit: None,
        },
    ];
    let mut full_verdict = None;
    for hint in hints {
        let fit = hint.fit;
        let result = decode_with(data, &header, &limits, hint);
        let verdict = result.as_ref().map(|_| ()).map_err(|r| r.reason);
        match full_verdict {
            None => full_verdict = Some(verdict),
            Some(full) => assert_eq!(
                verdict, full,
                "{format:?} (hint {hint:?}): verdict differs from the full decode's"
            ),
        }
        match result {
            Ok(d) => {
                let p = &d.pixels;
                let size = (header.width, header.height);
                // A decoder that cannot fit this image as it decodes (WebP, CMYK JPEG, Adam7
                // PNG, ...) returns it at full size, and the pipeline resizes it afterwards.
                let fitted = fit.map_or(size, |bx| fit_size(size.0, size.1, bx));
                let got = (p.width, p.height);
                assert!(
                    got == fitted || got == size,
                    "{format:?} (fit {fit:?}): decoded {got:?}, header {size:?}"
                );
                let len = (p.width as usize)
                    .checked_mul(p.height as usize)
                    .and_then(|n| n.checked_mul(p.layout.channels()));
                assert_eq!(Some(p.data.len()), len, "{format:?}: pixel buffer size");
            }
            Err(r) => check_rejection(&r, format.name()),
        }
    }
}

/// zune-jpeg behind the probe and our options.
pub fn decode_jpeg(data: &[u8]) {
    decoder(data, Format::Jpeg);
}

/// png behind the probe and its byte limit.
pub fn decode_png(data: &[u8]) {
    decoder(data, Format::Png);
}

/// image-webp behind the probe and its memory limit.
pub fn decode_webp(data: &[u8]) {
    decoder(data, Format::Webp);
}

/// Our lossless WebP encoder on arbitrary pixels. The first byte's low two bits pick the
/// layout, its third bit and the second byte the width (1-512); the rest are the pixels,
/// as many whole rows as there are (at most 512). The encoder's own output, without the
/// product's check and fallback, must decode (image-webp) to exactly those pixels.
pub fn encode_webp(data: &[u8]) {
    use crate::core::pixels::{Layout, Pixels};
    use crate::core::webp_lossless::{decodes_to, encode_own};
    let [a, b, rest @ ..] = data else { return };
    let layout = match a & 3 {
        0 => Layout::Gray,
        1 => Layout::GrayAlpha,
        2 => Layout::Rgb,
        _ => Layout::Rgba,
    };
    let width = (((usize::from(a >> 2) << 8) | usize::from(*b)) & 511).saturating_add(1);
    let row = width.saturating_mul(layout.channels());
    let rows = rest.len().checked_div(row).unwrap_or(0).min(512);
    if rows == 0 {
        return;
    }
    let Some(pixels) = rest.get(..rows.saturating_mul(row)) else {
        return;
    };
    let (Ok(w), Ok(h)) = (u32::try_from(width), u32::try_from(rows)) else {
        return;
    };
    let Ok(p) = Pixels::new(w, h, layout, pixels.to_vec()) else {
        panic!("{width}x{rows} {layout:?}: the harness built a wrong buffer");
    };
    let Some(out) = encode_own(&p) else {
        panic!("{width}x{rows} {layout:?}: the encoder gave up on a size VP8L holds");
    };
    assert!(
        decodes_to(&out, &p),
        "{width}x{rows} {layout:?}: the output decodes to other pixels"
    );
}

/// Checks one derived output key against the promises of `output_key`.
fn check_output_key(key: &str, out: &str) {
    assert!(
        out.starts_with(OUTPUT_PREFIX),
        "{key:?} → {out:?} not under {OUTPUT_PREFIX}"
    );
    assert!(
        !out.split('/')
            .any(|s| s == ".." || s == "." || s.is_empty()),
        "{key:?} → {out:?} has a '..', '.' or empty segment"
    );
    assert!(
        !out.chars().any(char::is_control),
        "{key:?} → {out:?} has control characters"
    );
    assert!(!out.contains('\\'), "{key:?} → {out:?} has a backslash");
    assert!(validate_key(out).is_ok(), "{key:?} → {out:?} is not valid");
    let rest = out.strip_prefix(OUTPUT_PREFIX).unwrap_or_default();
    assert_eq!(
        format!("{INPUT_PREFIX}{rest}"),
        key,
        "output key does not round-trip"
    );
    assert_eq!(
        op_for_name(out),
        op_for_name(key),
        "op changed with the key"
    );
}

/// Key → op and output key, for a key as given and for the same key under `uploads/` (so
/// the fuzzer reaches the accepting path without having to guess the prefix). Properties:
/// an accepted key's output is under `processed/`, has no `..`/`.`/empty segment and no
/// control character, round-trips (strip `processed/`, add `uploads/`: the input key) and
/// asks for the same op; a refusal is `invalid-key`; and a valid key under `uploads/` short
/// enough for the longer prefix is never refused.
pub fn naming(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    naming_key(s);
    naming_key(&format!("{INPUT_PREFIX}{s}"));
}

fn naming_key(key: &str) {
    let _op = op_for_name(key);
    match output_key(key, INPUT_PREFIX, OUTPUT_PREFIX) {
        Ok(out) => check_output_key(key, &out),
        Err(r) => {
            assert_eq!(r.reason, Reason::InvalidKey, "{key:?}: {r}");
            check_rejection(&r, "naming");
            let grows = OUTPUT_PREFIX.len().saturating_sub(INPUT_PREFIX.len());
            let fits = key.len().saturating_add(grows) <= crate::core::naming::MAX_KEY_BYTES;
            let rest_ok = key
                .strip_prefix(INPUT_PREFIX)
                .is_some_and(|rest| !rest.is_empty());
            assert!(
                !(validate_key(key).is_ok() && rest_ok && fits),
                "valid key {key:?} refused: {r}"
            );
        }
    }
}

/// S3 event JSON → records → decoded keys → op and output key, as the Lambda does it.
/// Properties: the decoded key re-encodes and decodes to itself; any output key passes the
/// `naming` checks (under `processed/`, no `..`, no control characters, round-trips).
#[cfg(feature = "events")]
pub fn s3_event(data: &[u8]) {
    use crate::event::{decode_key, encode_key, EventObject};
    use aws_lambda_events::event::s3::S3Event;

    let Ok(event) = serde_json::from_slice::<S3Event>(data) else {
        return;
    };
    for record in &event.records {
        let obj = EventObject::from_record(record);
        let Ok(key) = &obj.key else {
            continue;
        };
        assert_eq!(
            decode_key(&encode_key(key)).as_ref(),
            Ok(key),
            "key does not survive encode → decode"
        );
        let _op = op_for_name(key);
        match output_key(key, INPUT_PREFIX, OUTPUT_PREFIX) {
            Ok(out) => check_output_key(key, &out),
            Err(r) => {
                assert_eq!(r.reason, Reason::InvalidKey, "{key:?}: {r}");
                check_rejection(&r, "s3_event");
            }
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    reason = "tests"
)]
mod tests {
    use super::*;

    #[test]
    fn selector_round_trips() {
        for op in [Op::Fit, Op::Thumb, Op::Grayscale] {
            assert_eq!(op_for_selector(selector_for_op(op)), op);
        }
        for b in 0..=u8::MAX {
            let _ = op_for_selector(b);
        }
    }

    #[test]
    fn small_inputs_do_not_trip_the_properties() {
        for data in [
            &b""[..],
            b"\x00",
            b"\x01\xFF\xD8\xFF",
            b"\x02\x89PNG\r\n\x1a\n",
            b"\x00RIFF\0\0\0\0WEBPVP8L",
            b"\x00GIF89a",
        ] {
            decode(data);
            let _ = probe(data);
            decode_jpeg(data);
            decode_png(data);
            decode_webp(data);
            naming(data);
        }
    }

    /// A PNG made here, through every op: the accepting path and its checks run.
    #[test]
    fn a_real_png_passes_every_op() {
        let mut png_bytes = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut png_bytes, 300, 120);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            let mut w = enc.write_header().unwrap();
            let px: Vec<u8> = (0..300 * 120 * 3u32)
                .map(|i| u8::try_from(i % 251).unwrap())
                .collect();
            w.write_image_data(&px).unwrap();
        }
        assert_eq!(pipeline(&png_bytes, Op::Fit), Ok((300, 120)));
        assert_eq!(pipeline(&png_bytes, Op::Thumb), Ok((200, 80)));
        assert_eq!(pipeline(&png_bytes, Op::Grayscale), Ok((300, 120)));
        let mut data = vec![selector_for_op(Op::Thumb)];
        data.extend_from_slice(&png_bytes);
        decode(&data);
        decode_png(&png_bytes);
        assert!(probe(&png_bytes).is_some());
    }

    #[test]
    fn keys() {
        for k in [
            "a.jpg",
            "uploads/a.jpg",
            "uploads/x/y_thumb.png",
            "uploads/../etc/passwd",
            "uploads/a..b.jpg",
            "processed/x.jpg",
            "uploads/",
            "",
            "uploads/\u{7f}.jpg",
        ] {
            naming(k.as_bytes());
        }
    }

    #[test]
    #[should_panic(expected = "carries metadata marker")]
    fn the_metadata_check_can_fail() {
        let mut png_bytes = b"\x89PNG\r\n\x1a\n".to_vec();
        png_bytes.extend_from_slice(&4u32.to_be_bytes());
        png_bytes.extend_from_slice(b"IHDRExif\0\0\0\0");
        check_no_metadata(&png_bytes, Format::Png);
    }

    #[cfg(feature = "events")]
    #[test]
    fn an_event_with_an_encoded_key() {
        let ev =
            br#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"eu-west-1",
            "eventTime":"2024-01-01T00:00:00.000Z","eventName":"ObjectCreated:Put",
            "s3":{"s3SchemaVersion":"1.0","bucket":{"name":"b","arn":"arn:aws:s3:::b"},
            "object":{"key":"uploads/caf%C3%A9+x_thumb.jpg","size":10}}}]}"#;
        s3_event(ev);
        s3_event(br#"{"Records":[{"s3":{"object":{"key":"uploads/%2e%2e/x.jpg"}}}]}"#);
    }
}
