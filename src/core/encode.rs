//! Encoding from pixels only. No decoder metadata is passed in, so none can come out: no
//! EXIF/GPS, XMP, IPTC, ICC, comments or text chunks, whatever the input carried.
//!
//! JPEG: quality 85, 4:2:0, optimised Huffman tables (jpeg-encoder). PNG: 8-bit, the source's
//! channel layout, adaptive filtering (png). WebP: lossless VP8L (image-webp), because no
//! pure-Rust lossy WebP encoder is mature enough to meet our bar; see README.

use super::error::Rejection;
use super::format::Format;
use super::pixels::{Layout, Pixels};

pub const JPEG_QUALITY: u8 = 85;

pub fn encode(p: &Pixels, format: Format) -> Result<Vec<u8>, Rejection> {
    match format {
        Format::Jpeg => encode_jpeg(p),
        Format::Png => encode_png(p),
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
