//! Header-only probing: width, height and frame count straight from the container, checked
//! against the limits before any decoder runs and before any pixel buffer exists.
//!
//! The parsers walk segment and chunk lengths over the input slice with bounds-checked reads
//! (see [`super::bytes`]); they allocate nothing and visit at most `Limits::max_chunks`
//! chunks, so a hostile header costs at most one pass over the input.

use super::bytes::{be16, be32, le16, le24, le32, slice, u8_at};
use super::error::{Reason, Rejection};
use super::format::{sniff, Format};
use super::limits::Limits;

/// The JPEG coding process named by the frame marker (ITU T.81 table B.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JpegProcess {
    /// SOF0: baseline sequential, Huffman.
    Baseline,
    /// SOF1: extended sequential, Huffman.
    Extended,
    /// SOF2: progressive, Huffman.
    Progressive,
    /// SOF3: lossless, Huffman.
    Lossless,
    /// SOF5–7: hierarchical (differential), Huffman.
    Hierarchical,
    /// SOF9–15: arithmetic coding.
    Arithmetic,
}

/// What the JPEG header says beyond the size.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JpegHeader {
    pub process: JpegProcess,
    /// Bits per sample (8 for every JPEG we decode).
    pub precision: u8,
    /// Number of colour components (1 gray, 3 YCbCr/RGB, 4 CMYK/YCCK).
    pub components: u8,
    /// The Adobe APP14 colour transform (0 none, 1 YCbCr, 2 YCCK) and its byte offset.
    #[serde(skip)]
    pub adobe_transform: Option<(usize, u8)>,
    /// Byte offset of the first scan (SOS marker).
    #[serde(skip)]
    pub scan_offset: usize,
}

/// The header facts the pipeline needs, read without decoding any pixel.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Header {
    pub format: Format,
    pub width: u32,
    pub height: u32,
    /// Number of frames (1 for still images; the animation's frame count otherwise).
    pub frames: u32,
    /// Present for JPEG.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jpeg: Option<JpegHeader>,
    /// WebP only: true when the first image is VP8 (lossy).
    #[serde(skip)]
    pub lossy: bool,
}

/// Sniffs, reads the header and checks it against the limits.
pub fn probe(bytes: &[u8], limits: &Limits) -> Result<Header, Rejection> {
    let format = sniff(bytes)?;
    let header = read_header(bytes, format, limits)?;
    check(&header, limits)?;
    // After the limits, so a header that lies about its size is blamed for that first.
    if format == Format::Webp {
        check_webp_layout(bytes, limits)?;
    }
    Ok(header)
}

/// Reads the header of an input already sniffed as `format`, without checking the limits.
pub fn read_header(bytes: &[u8], format: Format, limits: &Limits) -> Result<Header, Rejection> {
    match format {
        Format::Jpeg => jpeg_header(bytes, limits),
        Format::Png => png_header(bytes, limits),
        Format::Webp => webp_header(bytes, limits),
    }
}

/// The limit checks, in the order that blames the worst lie first.
pub fn check(h: &Header, limits: &Limits) -> Result<(), Rejection> {
    if h.width > limits.max_dimension || h.height > limits.max_dimension {
        return Err(Rejection::new(
            Reason::TooLargeDimensions,
            format!(
                "header declares {}x{}, more than the {} px allowed per side",
                h.width, h.height, limits.max_dimension
            ),
        ));
    }
    if h.width == 0 || h.height == 0 {
        return Err(Rejection::corrupt(format!(
            "header declares an empty image ({}x{})",
            h.width, h.height
        )));
    }
    if h.frames == 0 {
        return Err(Rejection::corrupt("animation declares no frames"));
    }
    if let Some(j) = &h.jpeg {
        let variant = match j.process {
            JpegProcess::Lossless => Some("lossless (SOF3)"),
            JpegProcess::Hierarchical => Some("hierarchical"),
            JpegProcess::Arithmetic => Some("arithmetic-coded"),
            JpegProcess::Baseline | JpegProcess::Extended | JpegProcess::Progressive => None,
        };
        if let Some(v) = variant {
            return Err(Rejection::new(
                Reason::UnsupportedJpegVariant,
                format!("{v} JPEG is not supported by the memory-safe decoder"),
            ));
        }
        if j.precision != 8 {
            return Err(Rejection::new(
                Reason::UnsupportedJpegVariant,
                format!("{}-bit JPEG is not supported (8-bit only)", j.precision),
            ));
        }
        if !matches!(j.components, 1 | 3 | 4) {
            return Err(Rejection::corrupt(format!(
                "JPEG with {} components",
                j.components
            )));
        }
    }
    Ok(())
}

fn truncated(what: &str) -> Rejection {
    Rejection::corrupt(format!("{what} header is truncated"))
}

/// Walks JPEG marker segments up to the first scan, collecting the frame header and the
/// Adobe APP14 transform.
fn jpeg_header(b: &[u8], limits: &Limits) -> Result<Header, Rejection> {
    let mut pos: usize = 2; // after SOI
    let mut frame: Option<(JpegProcess, u8, u32, u32, u8)> = None;
    let mut adobe: Option<(usize, u8)> = None;
    let mut scan_offset = 0usize;
    for _ in 0..limits.max_chunks {
        // Markers may be preceded by any number of 0xFF fill bytes.
        while u8_at(b, pos) == Some(0xFF) && u8_at(b, pos.saturating_add(1)) == Some(0xFF) {
            pos = pos.saturating_add(1);
        }
        if u8_at(b, pos) != Some(0xFF) {
            // Extraneous bytes before a marker: libjpeg warns and skips to the next 0xFF, and
            // so do we (the walk still only moves forward).
            match b
                .get(pos..)
                .and_then(|rest| rest.iter().position(|&x| x == 0xFF))
            {
                Some(skip) => {
                    pos = pos.saturating_add(skip);
                    continue;
                }
                None => return Err(truncated("JPEG")),
            }
        }
        let marker = u8_at(b, pos.saturating_add(1)).ok_or_else(|| truncated("JPEG"))?;
        pos = pos.saturating_add(2);
        match marker {
            // Standalone markers: TEM, RSTn.
            0x01 | 0xD0..=0xD7 => continue,
            0xD8 => {
                return Err(Rejection::corrupt(
                    "JPEG has a second SOI before its frame header",
                ))
            }
            0xD9 => return Err(Rejection::corrupt("JPEG ends before its frame header")),
            _ => {}
        }
        let len = usize::from(be16(b, pos).ok_or_else(|| truncated("JPEG"))?);
        if len < 2 {
            return Err(Rejection::corrupt("JPEG segment length below 2"));
        }
        let seg = slice(b, pos.saturating_add(2), len.saturating_sub(2))
            .ok_or_else(|| truncated("JPEG"))?;
        match marker {
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                if frame.is_some() {
                    // A second frame header (MPO and friends keep theirs after EOI; a
                    // second one before a scan is malformed): keep the first.
                } else {
                    let process = match marker {
                        0xC0 => JpegProcess::Baseline,
                        0xC1 => JpegProcess::Extended,
                        0xC2 => JpegProcess::Progressive,
                        0xC3 => JpegProcess::Lossless,
                        0xC5..=0xC7 => JpegProcess::Hierarchical,
                        _ => JpegProcess::Arithmetic,
                    };
                    let precision = u8_at(seg, 0).ok_or_else(|| truncated("JPEG frame"))?;
                    let height = u32::from(be16(seg, 1).ok_or_else(|| truncated("JPEG frame"))?);
                    let width = u32::from(be16(seg, 3).ok_or_else(|| truncated("JPEG frame"))?);
                    let comps = u8_at(seg, 5).ok_or_else(|| truncated("JPEG frame"))?;
                    frame = Some((process, precision, width, height, comps));
                }
            }
            0xEE => {
                // Adobe APP14: "Adobe", version(2), flags0(2), flags1(2), transform(1).
                if let (true, Some(t)) = (seg.starts_with(b"Adobe"), u8_at(seg, 11)) {
                    adobe = Some((pos.saturating_add(2).saturating_add(11), t));
                }
            }
            0xDA => {
                // Start of scan: the header is over.
                scan_offset = pos;
                break;
            }
            _ => {}
        }
        pos = pos.saturating_add(len);
    }
    let (process, precision, width, height, components) = frame
        .ok_or_else(|| Rejection::corrupt("JPEG has no frame header before its first scan"))?;
    Ok(Header {
        format: Format::Jpeg,
        width,
        height,
        frames: 1,
        jpeg: Some(JpegHeader {
            process,
            precision,
            components,
            adobe_transform: adobe,
            scan_offset,
        }),
        lossy: true,
    })
}

/// Reads IHDR (which must be the first chunk) and looks for an APNG `acTL` before the image
/// data to report the frame count.
fn png_header(b: &[u8], limits: &Limits) -> Result<Header, Rejection> {
    if slice(b, 12, 4) != Some(b"IHDR") || be32(b, 8) != Some(13) {
        return Err(Rejection::corrupt(
            "PNG does not start with a valid IHDR chunk",
        ));
    }
    let width = be32(b, 16).ok_or_else(|| truncated("PNG"))?;
    let height = be32(b, 20).ok_or_else(|| truncated("PNG"))?;
    // IHDR's colour type: 3 is indexed (palette) colour.
    let indexed = u8_at(b, 25) == Some(3);
    let mut frames = 1;
    let mut pos: usize = 8;
    let mut walked_to_the_data = false;
    for _ in 0..limits.max_chunks {
        let (Some(len), Some(kind)) = (be32(b, pos), slice(b, pos.saturating_add(4), 4)) else {
            walked_to_the_data = true;
            break;
        };
        if kind == b"IDAT" {
            walked_to_the_data = true;
            break;
        }
        if kind == b"acTL" {
            frames = be32(b, pos.saturating_add(8)).ok_or_else(|| truncated("PNG acTL"))?;
        }
        // png 0.18.1 checks a palette's length range but not that it holds whole RGB entries,
        // and panics building the palette of an indexed image from one that does not (found
        // by the `decode_png` fuzz target; fuzz/corpus/decode_png/regressions/). In an RGB
        // image a PLTE is only a suggestion the decoder never uses, and libpng only warns.
        if kind == b"PLTE" && indexed && (len % 3 != 0 || !(3..=768).contains(&len)) {
            return Err(Rejection::corrupt(format!(
                "PNG palette of {len} bytes: a palette is 1 to 256 three-byte entries"
            )));
        }
        let Ok(len) = usize::try_from(len) else {
            walked_to_the_data = true;
            break;
        };
        pos = pos.saturating_add(12).saturating_add(len);
    }
    // Every chunk the decoder reads before the image data has been checked above.
    if !walked_to_the_data {
        return Err(Rejection::corrupt(format!(
            "PNG has more than {} chunks before its image data",
            limits.max_chunks
        )));
    }
    Ok(Header {
        format: Format::Png,
        width,
        height,
        frames,
        jpeg: None,
        lossy: false,
    })
}

/// Reads the first WebP chunk (VP8, VP8L or VP8X) and counts ANMF frames in an animation.
fn webp_header(b: &[u8], limits: &Limits) -> Result<Header, Rejection> {
    let first = slice(b, 12, 4).ok_or_else(|| truncated("WebP"))?;
    let data_at: usize = 20;
    let (width, height, animated, lossy) = match first {
        b"VP8 " => {
            let (w, h) = vp8_frame_size(b, data_at)?;
            (w, h, false, true)
        }
        b"VP8L" => {
            if u8_at(b, data_at) != Some(0x2F) {
                return Err(Rejection::corrupt("WebP VP8L stream has no signature"));
            }
            let bits = le32(b, data_at.saturating_add(1)).ok_or_else(|| truncated("WebP VP8L"))?;
            let w = (bits & 0x3FFF).saturating_add(1);
            let h = ((bits >> 14) & 0x3FFF).saturating_add(1);
            (w, h, false, false)
        }
        b"VP8X" => {
            let flags = u8_at(b, data_at).ok_or_else(|| truncated("WebP VP8X"))?;
            let (w, h) = size_24(b, data_at.saturating_add(4), "WebP VP8X")?;
            check_first_webp_frame(b, limits, (w, h))?;
            (w, h, flags & 0x02 != 0, first_image_is_lossy(b, limits))
        }
        _ => {
            return Err(Rejection::corrupt(
                "WebP does not start with a VP8, VP8L or VP8X chunk",
            ))
        }
    };
    let frames = if animated {
        count_chunks(b, b"ANMF", limits)
    } else {
        1
    };
    Ok(Header {
        format: Format::Webp,
        width,
        height,
        frames,
        jpeg: None,
        lossy,
    })
}

/// The RIFF header's size must be covered by the file: a file shorter than it says is
/// truncated (libwebp refuses it; image-webp decodes what is there). Data after the RIFF
/// payload is ignored, as libwebp ignores it, and the decoders are given only the payload
/// ([`webp_riff`]): image-webp reads an extended file's chunks some bytes past its end (an
/// ALPH or EXIF chunk appended after it made a photo transparent or turned it upside down).
///
/// At the top level a still WebP holds one image: one VP8 or VP8L chunk, whole inside the RIFF
/// payload, with its ALPH chunk, if any, before it; an animation holds its images inside its
/// ANMF chunks (checked by [`check_first_webp_frame`]) and none at the top level, and a still
/// holds no ANMF or ANIM chunk. An extended file's VP8X chunk is 10 bytes. image-webp decodes
/// the first VP8 of a file with two, applies an ALPH that follows the VP8 (which turned a photo
/// fully transparent) or one inside an ANMF chunk of a still, skips a VP8X chunk that says it is
/// longer together with the image inside it, and decodes a top-level image of an animation
/// instead of its frames; libwebp refuses all of these, so they are `corrupt`.
fn check_webp_layout(b: &[u8], limits: &Limits) -> Result<(), Rejection> {
    let riff = le32(b, 4).ok_or_else(|| truncated("WebP"))?;
    if riff < 12 {
        return Err(Rejection::corrupt(format!(
            "WebP RIFF header says {riff} bytes: too small for an image chunk"
        )));
    }
    let Some(body) = webp_riff(b) else {
        return Err(Rejection::corrupt(format!(
            "WebP is truncated: its RIFF header says {} bytes, the file has {}",
            u64::from(riff).saturating_add(8),
            b.len()
        )));
    };
    let animated = match slice(body, 12, 4) {
        Some(b"VP8X") => {
            if le32(body, 16) != Some(10) {
                return Err(Rejection::corrupt("WebP VP8X chunk is not 10 bytes long"));
            }
            u8_at(body, 20).is_some_and(|flags| flags & 0x02 != 0)
        }
        _ => false,
    };
    let mut image_seen = false;
    for (kind, at, len) in riff_chunks(body, limits) {
        match kind {
            b"VP8 " | b"VP8L" | b"ALPH" if animated => {
                return Err(Rejection::corrupt(format!(
                    "WebP animation has a top-level {} chunk",
                    String::from_utf8_lossy(kind).trim_end()
                )));
            }
            b"ANMF" | b"ANIM" if !animated => {
                return Err(Rejection::corrupt(format!(
                    "WebP still image has an {} chunk",
                    String::from_utf8_lossy(kind)
                )));
            }
            b"VP8 " | b"VP8L" => {
                if image_seen {
                    return Err(Rejection::corrupt("WebP holds a second image chunk"));
                }
                if at.saturating_add(len) > body.len() {
                    return Err(Rejection::corrupt(format!(
                        "WebP is truncated: its {} chunk says {len} bytes, {} are there",
                        String::from_utf8_lossy(kind).trim_end(),
                        body.len().saturating_sub(at)
                    )));
                }
                image_seen = true;
            }
            b"ALPH" if image_seen => {
                return Err(Rejection::corrupt(
                    "WebP has its ALPH chunk after its image",
                ));
            }
            _ => {}
        }
    }
    if !animated && !image_seen {
        return Err(Rejection::corrupt(
            "WebP holds no image inside its RIFF payload",
        ));
    }
    Ok(())
}

/// The RIFF payload of a WebP (its first 8 + RIFF-size bytes), or `None` when the file is
/// shorter than that. Data after it is not part of the image: the decoders are given this.
pub fn webp_riff(b: &[u8]) -> Option<&[u8]> {
    let riff = usize::try_from(le32(b, 4)?).ok()?;
    b.get(..riff.checked_add(8)?)
}

/// Two 24-bit "size minus one" fields at `at` (VP8X canvas, ANMF frame): width, height.
fn size_24(b: &[u8], at: usize, what: &str) -> Result<(u32, u32), Rejection> {
    let w = le24(b, at)
        .ok_or_else(|| truncated(what))?
        .saturating_add(1);
    let h = le24(b, at.saturating_add(3))
        .ok_or_else(|| truncated(what))?
        .saturating_add(1);
    Ok((w, h))
}

/// Iterates over the RIFF chunks of a WebP file: (fourcc, payload offset, payload length).
fn riff_chunks<'a>(
    b: &'a [u8],
    limits: &Limits,
) -> impl Iterator<Item = (&'a [u8], usize, usize)> + 'a {
    let mut pos: usize = 12;
    let max = limits.max_chunks;
    std::iter::from_fn(move || {
        let kind = slice(b, pos, 4)?;
        let len = usize::try_from(le32(b, pos.saturating_add(4))?).ok()?;
        let at = pos.saturating_add(8);
        // Payloads are padded to an even length.
        pos = at.saturating_add(len).saturating_add(len & 1);
        Some((kind, at, len))
    })
    .take(max)
}

fn count_chunks(b: &[u8], fourcc: &[u8; 4], limits: &Limits) -> u32 {
    let n = riff_chunks(b, limits)
        .filter(|(k, _, _)| *k == fourcc)
        .count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// For an extended WebP: the first image's bitstream chunk, top level or inside the first
/// ANMF frame: its fourcc (`VP8 ` or `VP8L`), payload offset in `b` and payload length.
fn first_image<'a>(b: &'a [u8], limits: &Limits) -> Option<(&'a [u8], usize, usize)> {
    for (kind, at, len) in riff_chunks(b, limits) {
        match kind {
            b"VP8 " | b"VP8L" => return Some((kind, at, len)),
            b"ANMF" => {
                // Frame payload: 16 bytes of frame header, then ALPH?/VP8/VP8L sub-chunks.
                let inner_at = at.checked_add(16)?;
                let inner_len = len.checked_sub(16)?;
                let mut p = 0usize;
                while p < inner_len {
                    let k = slice(b, inner_at.saturating_add(p), 4)?;
                    let l = le32(b, inner_at.saturating_add(p).saturating_add(4))
                        .and_then(|l| usize::try_from(l).ok())?;
                    if k == b"VP8 " || k == b"VP8L" {
                        return Some((k, inner_at.saturating_add(p).saturating_add(8), l));
                    }
                    p = p.saturating_add(8).saturating_add(l).saturating_add(l & 1);
                }
                return None;
            }
            _ => {}
        }
    }
    None
}

/// The VP8 bitstream of a still lossy WebP without alpha whose frame is the header's size (a
/// decoder can then fit its planes as they are, [`super::decode`]), or `None` for any other
/// WebP. Call only on a header [`probe`] accepted: the layout checks are its.
pub fn webp_still_vp8<'a>(b: &'a [u8], header: &Header, limits: &Limits) -> Option<&'a [u8]> {
    if header.format != Format::Webp || !header.lossy || header.frames != 1 {
        return None;
    }
    // Only the RIFF payload: data after it is ignored, as every decoder ignores it (a VP8
    // chunk smuggled after it must not stand in for the image; the first one inside is the
    // image, and the layout check allows only one).
    let body = webp_riff(b)?;
    let mut vp8 = None;
    for (kind, at, len) in riff_chunks(body, limits) {
        match kind {
            b"ALPH" | b"ANMF" | b"ANIM" => return None,
            b"VP8 " if vp8.is_none() => vp8 = Some((at, len)),
            _ => {}
        }
    }
    let (at, len) = vp8?;
    if vp8_frame_size(b, at).ok()? != (header.width, header.height) {
        return None;
    }
    b.get(at..at.checked_add(len)?)
}

/// For an extended WebP: is the first image (or first frame) VP8 (lossy)?
fn first_image_is_lossy(b: &[u8], limits: &Limits) -> bool {
    matches!(first_image(b, limits), Some((b"VP8 ", _, _)))
}

/// For an extended WebP: the first image must be one image-webp decodes safely. image-webp
/// 0.2.4 panics (instead of returning an error) on a lossy animation frame whose VP8 header
/// disagrees with its frame: a frame of 0 px, or, after an ALPH chunk, any chunk it then
/// decodes as VP8 without checking its size against the frame (found by the `decode_webp` and
/// `decode` fuzz targets; `fuzz/corpus/*/regressions/`). So, before any decoder runs: a top-level
/// VP8 frame has the start code and is exactly the canvas's size (image-webp sizes its planes
/// from the VP8 frame header, up to 16383x16383, and compares with the canvas only after
/// decoding); the first ANMF frame holds `ALPH? VP8` or `VP8L`, nothing else, and its VP8
/// frame is exactly the frame's size.
fn check_first_webp_frame(b: &[u8], limits: &Limits, canvas: (u32, u32)) -> Result<(), Rejection> {
    for (kind, at, len) in riff_chunks(b, limits) {
        match kind {
            b"VP8 " => return check_vp8_frame(b, at, Some(canvas)),
            b"VP8L" => return Ok(()),
            b"ANMF" => {
                let (fw, fh) = size_24(b, at.saturating_add(6), "WebP ANMF")?;
                let inner_at = at.saturating_add(16);
                let inner_len = len.checked_sub(16).ok_or_else(|| {
                    Rejection::corrupt("WebP ANMF frame is shorter than its header")
                })?;
                let mut p = 0usize;
                let mut after_alpha = false;
                while p < inner_len {
                    let here = inner_at.saturating_add(p);
                    let k = slice(b, here, 4).ok_or_else(|| truncated("WebP ANMF"))?;
                    let l = le32(b, here.saturating_add(4))
                        .and_then(|l| usize::try_from(l).ok())
                        .ok_or_else(|| truncated("WebP ANMF"))?;
                    match k {
                        b"VP8 " => {
                            return check_vp8_frame(b, here.saturating_add(8), Some((fw, fh)))
                        }
                        b"VP8L" if !after_alpha => return Ok(()),
                        b"ALPH" if !after_alpha => after_alpha = true,
                        other => {
                            return Err(Rejection::corrupt(format!(
                                "WebP animation frame holds a {:?} chunk where its image belongs",
                                String::from_utf8_lossy(other)
                            )))
                        }
                    }
                    p = p.saturating_add(8).saturating_add(l).saturating_add(l & 1);
                }
                return Err(Rejection::corrupt("WebP animation frame has no image"));
            }
            _ => {}
        }
    }
    Ok(())
}

/// A VP8 frame header at `at`: the start code, at least one pixel each way, and, when the
/// frame is inside a canvas or an animation frame, exactly its size.
fn check_vp8_frame(b: &[u8], at: usize, frame: Option<(u32, u32)>) -> Result<(), Rejection> {
    let (w, h) = vp8_frame_size(b, at)?;
    if w == 0 || h == 0 {
        return Err(Rejection::corrupt(format!(
            "WebP VP8 frame is {w}x{h}: a frame has at least one pixel each way"
        )));
    }
    if let Some((fw, fh)) = frame {
        if (w, h) != (fw, fh) {
            return Err(Rejection::corrupt(format!(
                "WebP VP8 frame is {w}x{h} in a canvas or animation frame of {fw}x{fh}"
            )));
        }
    }
    Ok(())
}

/// The width and height of the VP8 key frame header at `at`, after its start code (the scale
/// bits are dropped). A plain VP8 file's size comes from here; so does an extended one's
/// first-frame check.
fn vp8_frame_size(b: &[u8], at: usize) -> Result<(u32, u32), Rejection> {
    if slice(b, at.saturating_add(3), 3) != Some(&[0x9D, 0x01, 0x2A][..]) {
        return Err(Rejection::corrupt("WebP VP8 frame has no start code"));
    }
    let w = le16(b, at.saturating_add(6)).ok_or_else(|| truncated("WebP VP8"))? & 0x3FFF;
    let h = le16(b, at.saturating_add(8)).ok_or_else(|| truncated("WebP VP8"))? & 0x3FFF;
    Ok((u32::from(w), u32::from(h)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_chunk(v: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        v.extend_from_slice(&u32::try_from(data.len()).unwrap().to_be_bytes());
        v.extend_from_slice(kind);
        v.extend_from_slice(data);
        v.extend_from_slice(&[0, 0, 0, 0]);
    }

    #[test]
    fn a_png_palette_must_hold_whole_entries() {
        for (len, ok) in [
            (0, false),
            (3, true),
            (52, false),
            (131, false),
            (768, true),
            (771, false),
        ] {
            let mut v = png_with_ihdr(10, 10);
            v[25] = 3; // indexed colour
            png_chunk(&mut v, b"PLTE", &vec![7u8; len]);
            png_chunk(&mut v, b"IDAT", &[0u8; 4]);
            let r = probe(&v, &Limits::default());
            assert_eq!(r.is_ok(), ok, "PLTE of {len} bytes: {r:?}");
            if let Err(e) = r {
                assert_eq!(e.reason, Reason::Corrupt);
            }
        }
        // In an RGB image the palette is an unused suggestion: not a reason to refuse it.
        let mut rgb = png_with_ihdr(10, 10);
        png_chunk(&mut rgb, b"PLTE", &[7u8; 5]);
        png_chunk(&mut rgb, b"IDAT", &[0u8; 4]);
        assert!(probe(&rgb, &Limits::default()).is_ok());
    }

    #[test]
    fn a_png_with_more_chunks_than_the_walk_visits_is_refused() {
        let mut v = png_with_ihdr(10, 10);
        for _ in 0..10 {
            png_chunk(&mut v, b"tEXt", b"k\0v");
        }
        png_chunk(&mut v, b"IDAT", &[0u8; 4]);
        let few = Limits {
            max_chunks: 5,
            ..Limits::default()
        };
        assert_eq!(probe(&v, &few).unwrap_err().reason, Reason::Corrupt);
        assert!(probe(&v, &Limits::default()).is_ok());
    }

    fn png_with_ihdr(w: u32, h: u32) -> Vec<u8> {
        let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
        v.extend_from_slice(&13u32.to_be_bytes());
        v.extend_from_slice(b"IHDR");
        v.extend_from_slice(&w.to_be_bytes());
        v.extend_from_slice(&h.to_be_bytes());
        v.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
        v
    }

    #[test]
    fn png_dimension_boundaries() {
        let l = Limits::default();
        assert!(probe(&png_with_ihdr(4096, 4096), &l).is_ok());
        assert_eq!(
            probe(&png_with_ihdr(4097, 1), &l).unwrap_err().reason,
            Reason::TooLargeDimensions
        );
        assert_eq!(
            probe(&png_with_ihdr(1, 4097), &l).unwrap_err().reason,
            Reason::TooLargeDimensions
        );
        assert_eq!(
            probe(&png_with_ihdr(0, 3), &l).unwrap_err().reason,
            Reason::Corrupt
        );
        assert_eq!(
            probe(&png_with_ihdr(u32::MAX, 0), &l).unwrap_err().reason,
            Reason::TooLargeDimensions
        );
    }

    #[test]
    fn jpeg_frame_header_and_variants() {
        let l = Limits::default();
        let sof = |marker: u8, precision: u8| {
            let mut v = vec![0xFF, 0xD8, 0xFF, marker, 0, 11, precision, 0, 20, 0, 30, 3];
            v.extend_from_slice(&[1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0][..3]);
            v.extend_from_slice(&[0xFF, 0xDA, 0, 2]);
            v
        };
        let h = probe(&sof(0xC0, 8), &l).unwrap();
        assert_eq!((h.width, h.height), (30, 20));
        assert_eq!(
            probe(&sof(0xC9, 8), &l).unwrap_err().reason,
            Reason::UnsupportedJpegVariant
        );
        assert_eq!(
            probe(&sof(0xC3, 8), &l).unwrap_err().reason,
            Reason::UnsupportedJpegVariant
        );
        assert_eq!(
            probe(&sof(0xC1, 12), &l).unwrap_err().reason,
            Reason::UnsupportedJpegVariant
        );
        assert_eq!(
            probe(&[0xFF, 0xD8, 0xFF], &l).unwrap_err().reason,
            Reason::Corrupt
        );
    }

    #[test]
    fn an_animation_frame_of_zero_height_is_corrupt() {
        // VP8X canvas 8x8, animated; one ANMF frame 8x8 whose VP8 bitstream says 8x0
        // (image-webp 0.2.4 panics decoding it: the fuzz regression of the same name).
        let mut vp8 = vec![0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A];
        vp8.extend_from_slice(&8u16.to_le_bytes());
        vp8.extend_from_slice(&0u16.to_le_bytes());
        vp8.extend_from_slice(&[0; 6]);
        let mut anmf = vec![0u8; 16];
        anmf[6] = 7; // width - 1
        anmf[9] = 7; // height - 1
        anmf.extend_from_slice(b"VP8 ");
        anmf.extend_from_slice(&u32::try_from(vp8.len()).unwrap().to_le_bytes());
        anmf.extend_from_slice(&vp8);
        let mut body = b"WEBPVP8X\x0a\0\0\0\x02\0\0\0\x07\0\0\x07\0\0".to_vec();
        body.extend_from_slice(b"ANIM\x06\0\0\0\0\0\0\0\0\0");
        body.extend_from_slice(b"ANMF");
        body.extend_from_slice(&u32::try_from(anmf.len()).unwrap().to_le_bytes());
        body.extend_from_slice(&anmf);
        let mut f = b"RIFF".to_vec();
        f.extend_from_slice(&u32::try_from(body.len()).unwrap().to_le_bytes());
        f.extend_from_slice(&body);
        let r = probe(&f, &Limits::default()).unwrap_err();
        assert_eq!(r.reason, Reason::Corrupt, "{r}");
        assert!(r.message.contains("8x0"), "{r}");
        // The same frame 8x8 passes the probe.
        let at = f.len() - vp8.len() + 8;
        f[at..at + 2].copy_from_slice(&8u16.to_le_bytes());
        assert!(probe(&f, &Limits::default()).is_ok());
    }

    #[test]
    fn a_still_vp8_frame_must_be_its_canvas_size() {
        // VP8X canvas 40x30 holding the VP8 chunk of a 40x30 lossy WebP: accepted, and its
        // bitstream is the one a decoder may fit as planes.
        let l = Limits::default();
        let plain = lossy_webp();
        let mut ext = b"WEBPVP8X\x0a\0\0\0\0\0\0\0".to_vec();
        ext.extend_from_slice(&[39, 0, 0, 29, 0, 0]);
        ext.extend_from_slice(&plain[12..]);
        let f = riff(&ext);
        let h = probe(&f, &l).unwrap();
        let len = u32::from_le_bytes(plain[16..20].try_into().unwrap()) as usize;
        assert_eq!(webp_still_vp8(&f, &h, &l), Some(&plain[20..20 + len]));
        // A second VP8 chunk after the RIFF payload is ignored (it had stood in for the
        // image in fit and thumb outputs: an upload showing one picture everywhere else
        // gave a thumbnail of another).
        for file in [&plain, &f] {
            let mut smuggled = file.clone();
            let other = crate::core::encode::encode(
                &crate::testkit::gradient(40, 30, crate::core::pixels::Layout::Gray),
                Format::Webp,
                true,
            )
            .unwrap();
            smuggled.extend_from_slice(&other[12..]);
            let h = probe(&smuggled, &l).unwrap();
            let got = webp_still_vp8(&smuggled, &h, &l).unwrap();
            assert_eq!(got, &plain[20..20 + len]);
        }
        // The same VP8 frame saying 16000x16000: image-webp would size its planes (384 MB)
        // from that before comparing with the canvas.
        let mut big = f.clone();
        let at = 12 + 18 + 8 + 6;
        big[at..at + 2].copy_from_slice(&16000u16.to_le_bytes());
        big[at + 2..at + 4].copy_from_slice(&16000u16.to_le_bytes());
        let e = probe(&big, &l).unwrap_err();
        assert_eq!(e.reason, Reason::Corrupt, "{e}");
        assert!(e.message.contains("16000x16000"), "{e}");
    }

    /// A RIFF chunk with its padding byte.
    fn chunk(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut c = kind.to_vec();
        c.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_le_bytes());
        c.extend_from_slice(payload);
        if payload.len() % 2 == 1 {
            c.push(0);
        }
        c
    }

    /// A VP8X chunk of a 40x30 canvas with `flags`, `extra` bytes longer than the 10 it must be.
    fn vp8x(flags: u8, extra: usize) -> Vec<u8> {
        let mut p = vec![flags, 0, 0, 0, 39, 0, 0, 29, 0, 0];
        p.extend(std::iter::repeat_n(0, extra));
        chunk(b"VP8X", &p)
    }

    #[test]
    fn a_webp_layout_libwebp_refuses_is_corrupt() {
        // Each of these had image-webp decode a picture libwebp does not show (found by a
        // helper trying to break the fitted WebP path).
        let l = Limits::default();
        let plain = lossy_webp();
        let vp8_a = &plain[12..];
        let other = crate::core::encode::encode(
            &crate::testkit::gradient(40, 30, crate::core::pixels::Layout::Gray),
            Format::Webp,
            true,
        )
        .unwrap();
        let vp8_b = &other[12..];
        let webp = |parts: &[&[u8]]| {
            let mut body = b"WEBP".to_vec();
            for p in parts {
                body.extend_from_slice(p);
            }
            riff(&body)
        };
        let anmf = |inner: &[u8]| {
            let mut p = vec![0u8; 16];
            p[6] = 39;
            p[9] = 29;
            p.extend_from_slice(inner);
            chunk(b"ANMF", &p)
        };
        let anim = chunk(b"ANIM", &[0; 6]);
        assert!(probe(&webp(&[&vp8x(0, 0), vp8_a]), &l).is_ok());
        let cases: Vec<(&str, Vec<u8>)> = vec![
            // A VP8X chunk that says it is longer swallows the image inside it.
            ("not 10 bytes", webp(&[&vp8x(0, vp8_a.len()), vp8_a, vp8_b])),
            // A still with a frame (image-webp applied its ALPH to the still).
            (
                "still image has an ANMF",
                webp(&[&vp8x(0x10, 0), vp8_a, &anmf(vp8_b)]),
            ),
            // An animation with a top-level image (image-webp showed it, not the frames).
            (
                "top-level VP8",
                webp(&[&vp8x(0x02, 0), &anim, vp8_a, &anmf(vp8_b)]),
            ),
            // The only image after the RIFF payload.
            ("no image", {
                let mut f = webp(&[&vp8x(0, 0)]);
                f.extend_from_slice(vp8_b);
                f
            }),
        ];
        for (why, f) in cases {
            let e = probe(&f, &l).unwrap_err();
            assert_eq!(e.reason, Reason::Corrupt, "{why}: {e}");
            assert!(e.message.contains(why), "{why}: {e}");
        }
    }

    /// A lossy WebP of 40x30 from our own encoder, and its parts.
    fn lossy_webp() -> Vec<u8> {
        let px = crate::testkit::gradient(40, 30, crate::core::pixels::Layout::Rgb);
        crate::core::encode::encode(&px, Format::Webp, true).unwrap()
    }

    fn riff(body: &[u8]) -> Vec<u8> {
        let mut f = b"RIFF".to_vec();
        f.extend_from_slice(&u32::try_from(body.len()).unwrap().to_le_bytes());
        f.extend_from_slice(body);
        f
    }

    #[test]
    fn a_webp_must_be_as_long_as_it_says_and_hold_one_image() {
        let l = Limits::default();
        let good = lossy_webp();
        assert!(probe(&good, &l).is_ok());
        // Data after the RIFF payload is ignored.
        let mut trailing = good.clone();
        trailing.extend_from_slice(b"VP8 \x10\0\0\0junk");
        assert!(probe(&trailing, &l).is_ok());
        // One byte short: the RIFF size and the VP8 chunk both say more than is there.
        let cut = &good[..good.len() - 1];
        assert_eq!(probe(cut, &l).unwrap_err().reason, Reason::Corrupt);
        // The RIFF size right but the VP8 chunk's length past the end.
        let mut long_chunk = good.clone();
        let n = u32::from_le_bytes(long_chunk[16..20].try_into().unwrap()) + 100;
        long_chunk[16..20].copy_from_slice(&n.to_le_bytes());
        assert!(probe(&long_chunk, &l)
            .unwrap_err()
            .message
            .contains("truncated"));
        // Two image chunks.
        let vp8 = &good[12..];
        let mut two = b"WEBP".to_vec();
        two.extend_from_slice(vp8);
        two.extend_from_slice(vp8);
        let e = probe(&riff(&two), &l).unwrap_err();
        assert!(e.message.contains("second image"), "{e}");
        // ALPH after the image (in an extended file that announces alpha).
        let mut ext = b"WEBPVP8X\x0a\0\0\0\x10\0\0\0".to_vec();
        ext.extend_from_slice(&[39, 0, 0, 29, 0, 0]);
        ext.extend_from_slice(vp8);
        ext.extend_from_slice(b"ALPH\x02\0\0\0\0\0");
        let e = probe(&riff(&ext), &l).unwrap_err();
        assert!(e.message.contains("ALPH chunk after"), "{e}");
    }

    #[test]
    fn webp_headers() {
        let l = Limits::default();
        let mut vp8l = b"RIFF\0\0\0\0WEBPVP8L\x05\0\0\0\x2f".to_vec();
        let bits: u32 = (4095) | (4096 << 14); // width 4096, height 4097
        vp8l.extend_from_slice(&bits.to_le_bytes());
        assert_eq!(
            probe(&vp8l, &l).unwrap_err().reason,
            Reason::TooLargeDimensions
        );
        let mut vp8x = b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0\x02\0\0\0".to_vec();
        vp8x.extend_from_slice(&[9, 0, 0, 4, 0, 0]);
        let h = read_header(&vp8x, Format::Webp, &l).unwrap();
        assert_eq!((h.width, h.height, h.frames), (10, 5, 0));
        assert_eq!(probe(&vp8x, &l).unwrap_err().reason, Reason::Corrupt);
    }
}
