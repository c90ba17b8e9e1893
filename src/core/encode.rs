//! Encoding from pixels only. No decoder metadata is passed in, so none can come out: no
//! EXIF/GPS, XMP, IPTC, ICC, comments or text chunks, whatever the input carried.
//!
//! JPEG: quality 85, 4:2:0, optimised Huffman tables (jpeg-encoder). PNG: 8-bit, the source's
//! channel layout, the row filter chosen by trial on a sample of the image
//! ([`super::png_filter`]), zlib level 5 (png). WebP:
//! lossless VP8L ([`super::webp_lossless`]: our encoder up to 2048x2048, image-webp's above,
//! and for any output of ours that does not decode back exactly), except that a lossy input (VP8) whose result is opaque and at
//! most [`WEBP_LOSSY_MAX_PIXELS`] gives lossy VP8 at quality 80 with webp-rust's fastest
//! method (memory-safe pure Rust). See
//! [`webp_output_is_lossy`], README ("Choices we made") and BENCHMARKS.md.

use super::error::Rejection;
use super::format::Format;
use super::pixels::{Layout, Pixels};

pub const JPEG_QUALITY: u8 = 85;

/// The zlib level of a PNG output: 5. Level 6 (zlib's, libpng's and Pillow's default)
/// searches match chains four times as long (128 against 32) for outputs 0.5-3% smaller on
/// the benchmark inputs, and that search was most of a PNG run (perf: 59% of a 4096x4096
/// grayscale, 55% of a 1920x1200 RGBA fit). Level 5 took the grayscale from 0.69 to 0.41 s
/// (3.47 to 3.55 MB, 1.02x the smallest peer's) and the fit from 0.13 to 0.08 s
/// (BENCHMARKS.md); every output stayed within the same ratio to the smallest peer's.
pub const PNG_LEVEL: u8 = 5;

/// The quality of a lossy WebP output, libwebp's scale (0-100), as `cwebp -q 80`.
pub const WEBP_LOSSY_QUALITY: f32 = 80.0;

/// The largest lossy WebP output, in pixels: 2048 x 2048 (4.2 Mpx). webp-rust's encoder needs
/// about 14 bytes a pixel (its own RGBA copy, the YUV planes and every macroblock's
/// coefficients): a 2048x2048 output peaks at 62 MiB in the worker, a 4096x2048 one at 119
/// MiB, a 4000x3000 one at 167 MiB and a 4096x4096 one at 236 MiB, where the lossless encoder
/// needs 34, 66, 90 and 125 MiB. The worker shares the function's memory with the Lambda
/// runtime, the SDK and the input and output buffers in the parent, so the budget keeps the
/// worker well inside the smallest Lambda's 128 MiB. Larger outputs are written lossless.
pub const WEBP_LOSSY_MAX_PIXELS: u64 = 2048 * 2048;

/// Whether a WebP output is lossy: only when the input was (`Header::lossy`, its first image
/// is VP8), the result is opaque (no layout alpha, or every alpha 255) and it has at most
/// [`WEBP_LOSSY_MAX_PIXELS`]. A lossless input always gives a lossless output. Transparent
/// results stay lossless because webp-rust's alpha-plane coder is its slow lossless one (0.8 s
/// and 97 MiB for one megapixel, against 0.06 s and 15 MiB for all of image-webp's VP8L).
pub fn webp_output_is_lossy(p: &Pixels, input_lossy: bool) -> bool {
    let opaque = match p.layout {
        Layout::Gray | Layout::Rgb => true,
        Layout::GrayAlpha => p.data.chunks_exact(2).all(|c| c.get(1) == Some(&u8::MAX)),
        Layout::Rgba => p.data.chunks_exact(4).all(|c| c.get(3) == Some(&u8::MAX)),
    };
    input_lossy
        && opaque
        && u64::from(p.width).saturating_mul(u64::from(p.height)) <= WEBP_LOSSY_MAX_PIXELS
}

/// Encodes in `format`. `lossy` is the input's WebP kind (`Header::lossy`); a WebP output is
/// lossy as [`webp_output_is_lossy`] decides. JPEG and PNG ignore it.
pub fn encode(p: &Pixels, format: Format, lossy: bool) -> Result<Vec<u8>, Rejection> {
    match format {
        Format::Jpeg => encode_jpeg(p),
        Format::Png => encode_png(p),
        Format::Webp if webp_output_is_lossy(p, lossy) => match encode_webp_lossy(p) {
            Some(bytes) => Ok(bytes),
            None => encode_webp(p),
        },
        Format::Webp => encode_webp(p),
    }
}

fn enc_err(what: &str, e: impl std::fmt::Display) -> Rejection {
    Rejection::internal(format!("{what} encoder: {e}"))
}

fn encode_jpeg(p: &Pixels) -> Result<Vec<u8>, Rejection> {
    use jpeg_encoder::{ColorType, Encoder, SamplingFactor};
    let ct = match p.layout {
        // Gray has its own encoder: the same bitstream kind and tables, a tenth of the memory
        // (super::jpeg_gray).
        Layout::Gray => return super::jpeg_gray::encode(&p.data, p.width, p.height, JPEG_QUALITY),
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
    let bpp = p.layout.channels();
    let stride = (p.width as usize).saturating_mul(bpp);
    let choice = super::png_filter::choose(&p.data, stride, bpp);
    let out = encode_png_with(p, choice.filter)?;
    // A sample unlike the rest of the image (one made to mislead it, say) shows as an output
    // far above the sample's forecast: write it again as before, with `Adaptive`, and keep
    // the smaller. This costs a second encode only for such images.
    if choice.misled(out.len()) {
        let adaptive = encode_png_with(p, png::Filter::Adaptive)?;
        if adaptive.len() < out.len() {
            return Ok(adaptive);
        }
    }
    Ok(out)
}

fn encode_png_with(p: &Pixels, filter: png::Filter) -> Result<Vec<u8>, Rejection> {
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
        enc.set_deflate_compression(png::DeflateCompression::Level(PNG_LEVEL));
        enc.set_filter(filter);
        let mut w = enc.write_header().map_err(|e| enc_err("PNG", e))?;
        w.write_image_data(&p.data).map_err(|e| enc_err("PNG", e))?;
        w.finish().map_err(|e| enc_err("PNG", e))?;
    }
    Ok(out)
}

fn encode_webp(p: &Pixels) -> Result<Vec<u8>, Rejection> {
    super::webp_lossless::encode(p)
}

/// Lossy VP8 with webp-rust at [`WEBP_LOSSY_QUALITY`], or `None` when webp-rust fails, and
/// then the caller writes lossless VP8L instead: the pixels are ours and valid, so no upload
/// is refused for an encoder's fault.
///
/// Method 0 is webp-rust's fastest: the slower methods' rate-distortion search made a
/// 1024x768 output 30% smaller but took 6 to 20 times as long (BENCHMARKS.md). webp-rust takes
/// RGBA; the image is opaque here ([`webp_output_is_lossy`]), so the output is a plain VP8 file
/// with no ALPH chunk.
///
/// webp-rust is young: the `decode` fuzz target found a 128x128 image it reports as "internal
/// filter evaluation decode failed" (its own check of its own bitstream). So its output is
/// trusted only after image-webp, our decoder, decodes it at the right size and close to the
/// source ([`WEBP_LOSSY_MAX_MEAN_ERROR`], [`WEBP_LOSSY_MAX_BLOCK_ERROR`]: it also writes
/// bitstreams with garbage macroblocks); a panic inside it is caught here too.
fn encode_webp_lossy(p: &Pixels) -> Option<Vec<u8>> {
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
        width: usize::try_from(p.width).ok()?,
        height: usize::try_from(p.height).ok()?,
        rgba,
    };
    let config = webp_rust::LossyEncodingConfig {
        quality: WEBP_LOSSY_QUALITY,
        method: 0,
        ..webp_rust::LossyEncodingConfig::default()
    };
    let encoded =
        std::panic::catch_unwind(|| webp_rust::encode_lossy_with_config(&image, &config, None));
    let bytes = encoded.ok()?.ok()?;
    lossy_webp_is_faithful(&bytes, p.width, p.height, &image.rgba).then_some(bytes)
}

/// The largest mean absolute difference, per colour channel over the whole image, between a
/// lossy WebP output and its source before the output is refused for lossless. Quality 80 gives
/// 2-5 on photos and up to about 13 on noisy graphics; a broken bitstream gives tens.
pub const WEBP_LOSSY_MAX_MEAN_ERROR: u64 = 24;

/// The largest mean absolute difference per colour channel in any one 16x16 macroblock. A
/// whole-image mean hides a broken region: of 162 fit and thumb outputs of 81 lossy WebPs
/// (27 photos of the shared corpus and bench inputs at three qualities), webp-rust 0.3.2 at
/// method 0 wrote 30 whose decode has garbage macroblocks (block errors of 34-233), and the
/// whole-image mean caught only 16 of them (the others' means were 5-15). Its sound outputs
/// stayed at or under 21 in every block (saturated colours and noise among 516 outputs of a
/// helper's sweep), and a dark line along the bottom edge of one photo, in macroblocks only two
/// rows tall, was 29.6. A refused output is written lossless: larger, never wrong.
pub const WEBP_LOSSY_MAX_BLOCK_ERROR: u64 = 24;

/// The macroblock size of VP8, over which [`WEBP_LOSSY_MAX_BLOCK_ERROR`] is measured.
const MACROBLOCK: usize = 16;

/// Does image-webp decode `bytes` as a `w`x`h` opaque image close to `rgba`, as a whole and in
/// every macroblock?
fn lossy_webp_is_faithful(bytes: &[u8], w: u32, h: u32, rgba: &[u8]) -> bool {
    let Ok(mut dec) = image_webp::WebPDecoder::new(std::io::Cursor::new(bytes)) else {
        return false;
    };
    if dec.dimensions() != (w, h) || dec.has_alpha() {
        return false;
    }
    let Some(len) = dec.output_buffer_size() else {
        return false;
    };
    let mut rgb = vec![0u8; len];
    if dec.read_image(&mut rgb).is_err() || rgb.len() / 3 != rgba.len() / 4 {
        return false;
    }
    let width = w as usize;
    let rows = h as usize;
    if width == 0 || rows == 0 {
        return false;
    }
    let across = width.div_ceil(MACROBLOCK);
    // Per macroblock of the current band of 16 rows: summed error and samples.
    let mut blocks = vec![(0u64, 0u64); across];
    let mut total = 0u64;
    let diff = |d: &[u8], s: &[u8]| -> u64 {
        d.chunks_exact(3)
            .zip(s.chunks_exact(4))
            .map(|(a, b)| {
                a.iter()
                    .zip(b)
                    .map(|(x, y)| u64::from(x.abs_diff(*y)))
                    .sum::<u64>()
            })
            .sum()
    };
    let row_pairs = rgb
        .chunks_exact(width.saturating_mul(3))
        .zip(rgba.chunks_exact(width.saturating_mul(4)));
    for (y, (out_row, src_row)) in row_pairs.enumerate() {
        let parts = out_row
            .chunks(MACROBLOCK.saturating_mul(3))
            .zip(src_row.chunks(MACROBLOCK.saturating_mul(4)));
        for ((d, s), (sum, n)) in parts.zip(blocks.iter_mut()) {
            *sum = sum.saturating_add(diff(d, s));
            *n = n.saturating_add(d.len() as u64);
        }
        let band_done = y.checked_rem(MACROBLOCK) == Some(MACROBLOCK.saturating_sub(1));
        if band_done || y.saturating_add(1) == rows {
            for (sum, n) in &mut blocks {
                if sum.checked_div(*n).unwrap_or(0) > WEBP_LOSSY_MAX_BLOCK_ERROR {
                    return false;
                }
                total = total.saturating_add(*sum);
                (*sum, *n) = (0, 0);
            }
        }
    }
    let samples = u64::try_from(rgb.len()).unwrap_or(u64::MAX).max(1);
    total.checked_div(samples).unwrap_or(u64::MAX) <= WEBP_LOSSY_MAX_MEAN_ERROR
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

    /// The faithfulness check refuses what is not the source: another size, another image,
    /// bytes that are not a WebP.
    #[test]
    fn a_lossy_webp_is_checked_against_its_source() {
        let src = opaque(64, 48, Layout::Rgba);
        let out = encode(&src, Format::Webp, true).unwrap();
        assert!(lossy_webp_is_faithful(&out, 64, 48, &src.data));
        assert!(!lossy_webp_is_faithful(&out, 64, 47, &src.data));
        let inverted: Vec<u8> = src.data.iter().map(|v| 255 - v).collect();
        assert!(!lossy_webp_is_faithful(&out, 64, 48, &inverted));
        // One macroblock of the source changed (as a garbage macroblock in a decode looks):
        // the whole image's mean barely moves, the block's error is 128.
        let mut one_block = src.data.clone();
        for y in 16..32 {
            for x in 16..32 {
                for c in 0..3 {
                    let i = (y * 64 + x) * 4 + c;
                    one_block[i] = one_block[i].wrapping_add(128);
                }
            }
        }
        assert!(!lossy_webp_is_faithful(&out, 64, 48, &one_block));
        assert!(!lossy_webp_is_faithful(
            b"RIFF\0\0\0\0WEBPVP8 ",
            64,
            48,
            &src.data
        ));
    }

    /// `gradient` with every alpha 255 (an opaque image in a layout with alpha).
    fn opaque(w: u32, h: u32, layout: Layout) -> Pixels {
        let mut p = tk::gradient(w, h, layout);
        if layout.has_alpha() {
            let c = layout.channels();
            for px in p.data.chunks_exact_mut(c) {
                px[c - 1] = u8::MAX;
            }
        }
        p
    }

    /// A lossy WebP output is lossy VP8, decodes at its size and keeps colour close, for every
    /// layout and for sizes down to 1x1 and odd sizes that do not fill a 16x16 macroblock.
    #[test]
    fn lossy_webp_round_trips_every_layout_and_odd_size() {
        for layout in [Layout::Gray, Layout::GrayAlpha, Layout::Rgb, Layout::Rgba] {
            for (w, h) in [(1, 1), (1, 7), (7, 1), (17, 9), (64, 48), (33, 130)] {
                let src = opaque(w, h, layout);
                assert!(webp_output_is_lossy(&src, true));
                let out = encode(&src, Format::Webp, true).unwrap();
                let header = probe(&out, &Limits::default()).unwrap();
                assert!(header.lossy, "{layout:?} {w}x{h}: not lossy");
                assert_eq!((header.width, header.height), (w, h));
                assert_eq!(tk::parts(&out), ["VP8 "], "{layout:?} {w}x{h}");
                let back = tk::decode(&out);
                assert_eq!((back.width, back.height), (w, h));
                let n = (w * h) as usize;
                let (sc, bc) = (layout.channels(), back.layout.channels());
                let mut err = 0u64;
                for i in 0..n {
                    // Colour: the source's first channel (gray or red) against red.
                    err += u64::from(src.data[i * sc].abs_diff(back.data[i * bc]));
                }
                let mean = err as f64 / n as f64;
                assert!(mean < 12.0, "{layout:?} {w}x{h}: mean error {mean}");
            }
        }
    }

    /// Lossless in, lossless out; lossy in gives lossless when the result has transparency
    /// or is larger than the budget.
    #[test]
    fn which_webp_outputs_are_lossy() {
        let rgb = tk::gradient(40, 30, Layout::Rgb);
        assert!(!webp_output_is_lossy(&rgb, false));
        assert_eq!(
            tk::parts(&encode(&rgb, Format::Webp, false).unwrap()),
            ["VP8L"]
        );
        let clear = tk::gradient(40, 30, Layout::Rgba);
        assert!(!webp_output_is_lossy(&clear, true));
        let out = encode(&clear, Format::Webp, true).unwrap();
        assert_eq!(tk::parts(&out), ["VP8L"]);
        assert_eq!(
            tk::decode(&out).data,
            clear.data,
            "lossless keeps every value"
        );
        let gray_alpha = tk::gradient(40, 30, Layout::GrayAlpha);
        assert!(!webp_output_is_lossy(&gray_alpha, true));
        // The budget: 2048 x 2048 is lossy, one row more is not (no pixels needed to decide
        // on size, so a header-sized Pixels is enough: data is not read for Gray).
        let at = Pixels {
            width: 2048,
            height: 2048,
            layout: Layout::Gray,
            data: Vec::new(),
        };
        assert!(webp_output_is_lossy(&at, true));
        let over = Pixels { height: 2049, ..at };
        assert!(!webp_output_is_lossy(&over, true));
    }
}
