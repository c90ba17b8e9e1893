//! Encoding from pixels only. No decoder metadata is passed in, so none can come out: no
//! EXIF/GPS, XMP, IPTC, ICC, comments or text chunks, whatever the input carried.
//!
//! JPEG: quality 85, 4:2:0, optimised Huffman tables (jpeg-encoder). PNG: 8-bit, the source's
//! channel layout, adaptive filtering (png). WebP keeps the input's kind: a lossless input
//! (VP8L) gives lossless VP8L (image-webp); a lossy input (VP8) gives lossy VP8 at quality 80,
//! the fastest method (webp-rust; pure Rust, no unsafe), with the alpha plane, if any, stored
//! losslessly. See README ("Choices we made") and BENCHMARKS.md for the numbers behind it.

use super::error::Rejection;
use super::format::Format;
use super::pixels::{Layout, Pixels};

pub const JPEG_QUALITY: u8 = 85;

/// The quality of a lossy WebP output, libwebp's scale (0-100), as `cwebp -q 80`.
pub const WEBP_LOSSY_QUALITY: f32 = 80.0;

/// Encodes in `format`. `lossy` is the input's WebP kind (`Header::lossy`: the first image is
/// VP8): a lossy WebP input gives a lossy WebP output, a lossless one a lossless output. JPEG
/// and PNG ignore it.
pub fn encode(p: &Pixels, format: Format, lossy: bool) -> Result<Vec<u8>, Rejection> {
    match format {
        Format::Jpeg => encode_jpeg(p),
        Format::Png => encode_png(p),
        Format::Webp if lossy => encode_webp_lossy(p),
        Format::Webp => encode_webp(p),
    }
}

fn enc_err(what: &str, e: impl std::fmt::Display) -> Rejection {
    Rejection::internal(format!("{what} encoder: {e}"))
}

fn encode_jpeg(p: &Pixels) -> Result<Vec<u8>, Rejection> {
    use jpeg_encoder::{ColorType, Encoder, SamplingFactor};
    let ct = match p.layout {
        Layout::Gray => ColorType::Luma,
        Layout::Rgb => ColorType::Rgb,
        // A JPEG source never has alpha; keep the contract total anyway.
        Layout::GrayAlpha | Layout::Rgba => {
            return Err(Rejection::internal("JPEG output with alpha"))
        }
    };
    let w = u16::try_from(p.width).map_err(|e| enc_err("JPEG", e))?;
    let h = u16::try_from(p.height).map_err(|e| enc_err("JPEG", e))?;
    let mut out = Vec::with_capacity(p.data.len() / 8);
    let mut enc = Encoder::new(&mut out, JPEG_QUALITY);
    enc.set_sampling_factor(SamplingFactor::F_2_2);
    // Optimised Huffman tables: a few per cent smaller. zune-jpeg 0.5.15 misread such tables
    // (real uploads with them too, and our own outputs uploaded again); 0.5.16 reads them
    // right, which is why Cargo.toml pins it. tests/regression.rs keeps both honest.
    enc.set_optimized_huffman_tables(true);
    enc.encode(&p.data, w, h, ct)
        .map_err(|e| enc_err("JPEG", e))?;
    Ok(out)
}

fn encode_png(p: &Pixels) -> Result<Vec<u8>, Rejection> {
    let mut out = Vec::with_capacity(p.data.len() / 2);
    {
        let mut enc = png::Encoder::new(&mut out, p.width, p.height);
        enc.set_color(match p.layout {
            Layout::Gray => png::ColorType::Grayscale,
            Layout::GrayAlpha => png::ColorType::GrayscaleAlpha,
            Layout::Rgb => png::ColorType::Rgb,
            Layout::Rgba => png::ColorType::Rgba,
        });
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Balanced);
        enc.set_filter(png::Filter::Adaptive);
        let mut w = enc.write_header().map_err(|e| enc_err("PNG", e))?;
        w.write_image_data(&p.data).map_err(|e| enc_err("PNG", e))?;
        w.finish().map_err(|e| enc_err("PNG", e))?;
    }
    Ok(out)
}

fn encode_webp(p: &Pixels) -> Result<Vec<u8>, Rejection> {
    use image_webp::{ColorType, WebPEncoder};
    let ct = match p.layout {
        Layout::Gray => ColorType::L8,
        Layout::GrayAlpha => ColorType::La8,
        Layout::Rgb => ColorType::Rgb8,
        Layout::Rgba => ColorType::Rgba8,
    };
    let mut out = Vec::with_capacity(p.data.len() / 2);
    WebPEncoder::new(&mut out)
        .encode(&p.data, p.width, p.height, ct)
        .map_err(|e| enc_err("WebP", e))?;
    Ok(out)
}

/// Lossy VP8 with webp-rust at [`WEBP_LOSSY_QUALITY`]. Method 0 is its fastest: the slower
/// methods' rate-distortion search made a 1024x768 output 30% smaller but took 6 to 20 times
/// as long (BENCHMARKS.md). webp-rust takes RGBA; an opaque image (every alpha 255) comes out
/// as a plain VP8 file, one with transparency as VP8X + ALPH (lossless alpha) + VP8.
fn encode_webp_lossy(p: &Pixels) -> Result<Vec<u8>, Rejection> {
    let rgba: Vec<u8> = match p.layout {
        Layout::Rgba => p.data.clone(),
        Layout::Rgb => p
            .data
            .chunks_exact(3)
            .flat_map(|c| c.iter().copied().chain([u8::MAX]))
            .collect(),
        Layout::Gray => p.data.iter().flat_map(|&v| [v, v, v, u8::MAX]).collect(),
        Layout::GrayAlpha => p
            .data
            .chunks_exact(2)
            .flat_map(|c| {
                let (v, a) = (
                    c.first().copied().unwrap_or(0),
                    c.get(1).copied().unwrap_or(0),
                );
                [v, v, v, a]
            })
            .collect(),
    };
    let image = webp_rust::ImageBuffer {
        width: usize::try_from(p.width).map_err(|e| enc_err("WebP", e))?,
        height: usize::try_from(p.height).map_err(|e| enc_err("WebP", e))?,
        rgba,
    };
    let config = webp_rust::LossyEncodingConfig {
        quality: WEBP_LOSSY_QUALITY,
        method: 0,
        ..webp_rust::LossyEncodingConfig::default()
    };
    webp_rust::encode_lossy_with_config(&image, &config, None).map_err(|e| enc_err("WebP", e))
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    reason = "tests: a failure is a failed test"
)]
mod tests {
    use super::*;
    use crate::core::probe::probe;
    use crate::core::Limits;
    use crate::testkit as tk;

    /// A lossy WebP output is lossy VP8, decodes at its size in the layout the decoder gives,
    /// keeps alpha exactly and colour close, for every layout and for sizes down to 1x1 and
    /// odd sizes that do not fill a 16x16 macroblock.
    #[test]
    fn lossy_webp_round_trips_every_layout_and_odd_size() {
        for layout in [Layout::Gray, Layout::GrayAlpha, Layout::Rgb, Layout::Rgba] {
            for (w, h) in [(1, 1), (1, 7), (7, 1), (17, 9), (64, 48), (33, 130)] {
                let src = tk::gradient(w, h, layout);
                let out = encode(&src, Format::Webp, true).unwrap();
                let header = probe(&out, &Limits::default()).unwrap();
                assert!(header.lossy, "{layout:?} {w}x{h}: not lossy");
                assert_eq!((header.width, header.height), (w, h));
                let back = tk::decode(&out);
                assert_eq!((back.width, back.height), (w, h));
                let n = (w * h) as usize;
                let (sc, bc) = (layout.channels(), back.layout.channels());
                let (mut err, mut counted) = (0u64, 0u64);
                for i in 0..n {
                    let s = &src.data[i * sc..(i + 1) * sc];
                    let b = &back.data[i * bc..(i + 1) * bc];
                    if layout.has_alpha() {
                        assert_eq!(s[sc - 1], b[bc - 1], "{layout:?} {w}x{h}: alpha changed");
                        // The colour of a (nearly) transparent pixel is free to change.
                        if s[sc - 1] < 128 {
                            continue;
                        }
                    }
                    // Colour: the source's first channel (gray or red) against red.
                    err += u64::from(s[0].abs_diff(b[0]));
                    counted += 1;
                }
                let mean = err as f64 / counted.max(1) as f64;
                assert!(mean < 12.0, "{layout:?} {w}x{h}: mean error {mean}");
            }
        }
    }

    /// An opaque image is a plain VP8 file; one with transparency is VP8X + ALPH + VP8, and
    /// its VP8X announces alpha and nothing else.
    #[test]
    fn lossy_webp_containers() {
        let opaque = encode(&tk::gradient(40, 30, Layout::Rgb), Format::Webp, true).unwrap();
        assert_eq!(tk::parts(&opaque), ["VP8 "]);
        let clear = encode(&tk::gradient(40, 30, Layout::Rgba), Format::Webp, true).unwrap();
        assert_eq!(tk::parts(&clear), ["VP8X", "ALPH", "VP8 "]);
        assert_eq!(clear[20], 0x10, "VP8X flags: alpha only");
        let lossless = encode(&tk::gradient(40, 30, Layout::Rgb), Format::Webp, false).unwrap();
        assert_eq!(tk::parts(&lossless), ["VP8L"]);
    }
}
