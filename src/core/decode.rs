//! Per-format decoding with pure-Rust decoders (zune-jpeg, png, image-webp), each with its
//! own limits wired in as a second line behind the header probe.
//!
//! Only call this after [`super::probe::probe`] accepted the header: the buffers allocated
//! here are sized from dimensions the probe has already bounded.

use std::io::Cursor;

use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;

use super::error::{Reason, Rejection};
use super::format::Format;
use super::limits::Limits;
use super::pixels::{buffer_len, Layout, Pixels};
use super::probe::Header;

/// A decoded image plus the metadata the pipeline still needs (and then drops).
#[derive(Debug)]
pub struct Decoded {
    pub pixels: Pixels,
    /// The embedded ICC profile, used once to convert to sRGB.
    pub icc: Option<Vec<u8>>,
    /// The raw EXIF block, used once to read the orientation.
    pub exif: Option<Vec<u8>>,
    /// For 4-component JPEGs: the CMYK samples as stored, converted by [`super::colour`].
    pub cmyk: Option<Cmyk>,
}

/// How a 4-component JPEG stores its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmyk {
    /// Inverted CMYK as Adobe writes it (APP14 transform 0, or no APP14).
    AdobeInverted,
    /// YCCK (APP14 transform 1 or 2 on four components), already turned into inverted CMYK.
    FromYcck,
}

/// What the caller will do with the pixels, so a decoder can take a cheaper path that gives
/// the same result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hint {
    /// Only the luma will be used (the grayscale op).
    pub gray: bool,
}

/// Decodes every pixel (no hint).
pub fn decode(bytes: &[u8], header: &Header, limits: &Limits) -> Result<Decoded, Rejection> {
    decode_with(bytes, header, limits, Hint::default())
}

/// Decodes, taking the cheaper path the hint allows.
pub fn decode_with(
    bytes: &[u8],
    header: &Header,
    limits: &Limits,
    hint: Hint,
) -> Result<Decoded, Rejection> {
    match header.format {
        Format::Jpeg => decode_jpeg(bytes, header, limits, hint),
        Format::Png => decode_png(bytes, header, limits),
        Format::Webp => decode_webp(bytes, header, limits),
    }
}

fn check_size(p: &Pixels, header: &Header) -> Result<(), Rejection> {
    if (p.width, p.height) != (header.width, header.height) {
        return Err(Rejection::corrupt(format!(
            "decoded size {}x{} differs from the header's {}x{}",
            p.width, p.height, header.width, header.height
        )));
    }
    Ok(())
}

fn jpeg_error(e: zune_jpeg::errors::DecodeErrors) -> Rejection {
    use zune_jpeg::errors::DecodeErrors as E;
    match e {
        E::LargeDimensions(_) => Rejection::new(Reason::TooLargeDimensions, format!("JPEG: {e:?}")),
        E::Unsupported(_) => Rejection::new(Reason::UnsupportedJpegVariant, format!("JPEG: {e:?}")),
        other => Rejection::corrupt(format!("JPEG: {other:?}")),
    }
}

fn decode_jpeg(
    bytes: &[u8],
    header: &Header,
    limits: &Limits,
    hint: Hint,
) -> Result<Decoded, Rejection> {
    let jh = header
        .jpeg
        .as_ref()
        .ok_or_else(|| Rejection::internal("JPEG header facts missing"))?;
    let max = limits.max_dimension as usize;
    let base = DecoderOptions::new_fast()
        .set_strict_mode(false)
        .set_max_width(max)
        .set_max_height(max)
        .jpeg_set_max_scans(64);
    // Entropy-coded data cannot contain FF D9 (a data byte FF is always stuffed as FF 00), so
    // a JPEG with no EOI after its first scan was cut short. The decoder runs lenient (it
    // tolerates a few bad codes as libjpeg does), and this check keeps truncation an error.
    let after_scan = bytes.get(jh.scan_offset..).unwrap_or_default();
    if jh.scan_offset == 0 || !after_scan.windows(2).any(|w| w == [0xFF, 0xD9]) {
        return Err(Rejection::corrupt(
            "JPEG is truncated (no end-of-image marker after the scan)",
        ));
    }
    let (out_cs, layout, cmyk) = match jh.components {
        1 => (ColorSpace::Luma, Layout::Gray, None),
        // The Y of a YCbCr JPEG is the BT.601 luma the grayscale op computes from RGB (as
        // Pillow's "L"), so for that op the chroma is never converted: a third of the memory
        // and much less work. Only without an ICC profile, whose conversion needs RGB.
        3 if hint.gray && is_plain_ycbcr(bytes, &base) => (ColorSpace::Luma, Layout::Gray, None),
        3 => (ColorSpace::RGB, Layout::Rgb, None),
        4 => {
            let ycck = matches!(jh.adobe_transform, Some((_, 1 | 2)));
            (
                ColorSpace::CMYK,
                Layout::Rgba,
                Some(if ycck {
                    Cmyk::FromYcck
                } else {
                    Cmyk::AdobeInverted
                }),
            )
        }
        n => return Err(Rejection::corrupt(format!("JPEG with {n} components"))),
    };
    // zune-jpeg reads APP14 transform 1 on four components as plain CMYK (libjpeg reads it as
    // YCCK) and cannot hand out raw YCCK samples. For four components we therefore decode a
    // copy whose APP14 transform byte says "no transform", get the stored samples untouched,
    // and convert YCC to RGB ourselves in `colour::ycck_to_cmyk_inplace`.
    let patched;
    let input: &[u8] = match (jh.components, jh.adobe_transform) {
        (4, Some((at, t))) if t != 0 => {
            let mut copy = bytes.to_vec();
            if let Some(b) = copy.get_mut(at) {
                *b = 0;
            }
            patched = copy;
            &patched
        }
        _ => bytes,
    };
    let mut dec = zune_jpeg::JpegDecoder::new_with_options(
        ZCursor::new(input),
        base.jpeg_set_out_colorspace(out_cs),
    );
    dec.decode_headers().map_err(jpeg_error)?;
    let info = dec
        .info()
        .ok_or_else(|| Rejection::corrupt("JPEG without a frame header"))?;
    let (w, h) = (u32::from(info.width), u32::from(info.height));
    let mut data = vec![0u8; buffer_len(w, h, layout)?];
    dec.decode_into(&mut data).map_err(jpeg_error)?;
    let icc = dec.icc_profile();
    let exif = dec.exif().cloned();
    let pixels = Pixels::new(w, h, layout, data)?;
    check_size(&pixels, header)?;
    Ok(Decoded {
        pixels,
        icc,
        exif,
        cmyk,
    })
}

/// True when a 3-component JPEG is stored as YCbCr and carries no ICC profile (a cheap
/// header-only parse).
fn is_plain_ycbcr(bytes: &[u8], options: &DecoderOptions) -> bool {
    let mut dec = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), *options);
    dec.decode_headers().is_ok()
        && dec.input_colorspace() == Some(ColorSpace::YCbCr)
        && dec.icc_profile().is_none()
}

fn png_error(e: png::DecodingError) -> Rejection {
    match e {
        png::DecodingError::LimitsExceeded => Rejection::new(
            Reason::TooLargeDimensions,
            "PNG decoder memory limit exceeded",
        ),
        other => Rejection::corrupt(format!("PNG: {other}")),
    }
}

fn decode_png(bytes: &[u8], header: &Header, limits: &Limits) -> Result<Decoded, Rejection> {
    let mut dec = png::Decoder::new_with_limits(
        Cursor::new(bytes),
        png::Limits {
            bytes: limits.decoder_memory_bytes,
        },
    );
    // Expand palettes, low bit depths and tRNS to 8-bit gray/RGB with alpha; 16-bit to 8-bit.
    dec.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    // Text chunks are metadata we drop anyway; not inflating them defuses zTXt bombs.
    dec.set_ignore_text_chunk(true);
    let mut reader = dec.read_info().map_err(png_error)?;
    let (ct, depth) = reader.output_color_type();
    if depth != png::BitDepth::Eight {
        return Err(Rejection::internal(format!(
            "PNG output depth {depth:?} after STRIP_16"
        )));
    }
    let layout = match ct {
        png::ColorType::Grayscale => Layout::Gray,
        png::ColorType::GrayscaleAlpha => Layout::GrayAlpha,
        png::ColorType::Rgb => Layout::Rgb,
        png::ColorType::Rgba => Layout::Rgba,
        png::ColorType::Indexed => return Err(Rejection::internal("PNG palette survived EXPAND")),
    };
    let (w, h) = (reader.info().width, reader.info().height);
    let mut data = vec![0u8; buffer_len(w, h, layout)?];
    // For APNG this is the default image (IDAT), which is the static frame we keep.
    let frame = reader.next_frame(&mut data).map_err(png_error)?;
    if (frame.width, frame.height) != (w, h) || frame.buffer_size() != data.len() {
        return Err(Rejection::corrupt(
            "PNG default image is not the full canvas",
        ));
    }
    let info = reader.info();
    let icc = info.icc_profile.as_ref().map(|c| c.to_vec());
    let exif = info.exif_metadata.as_ref().map(|c| c.to_vec());
    // Read to IEND so a file cut after its pixel data is still caught as truncated.
    if header.frames <= 1 {
        reader.finish().map_err(png_error)?;
    }
    let pixels = Pixels::new(w, h, layout, data)?;
    check_size(&pixels, header)?;
    Ok(Decoded {
        pixels,
        icc,
        exif,
        cmyk: None,
    })
}

fn webp_error(e: image_webp::DecodingError) -> Rejection {
    match e {
        image_webp::DecodingError::MemoryLimitExceeded
        | image_webp::DecodingError::ImageTooLarge => {
            Rejection::new(Reason::TooLargeDimensions, format!("WebP: {e}"))
        }
        other => Rejection::corrupt(format!("WebP: {other}")),
    }
}

fn decode_webp(bytes: &[u8], header: &Header, limits: &Limits) -> Result<Decoded, Rejection> {
    let mut dec = image_webp::WebPDecoder::new(Cursor::new(bytes)).map_err(webp_error)?;
    dec.set_memory_limit(limits.decoder_memory_bytes);
    let (w, h) = dec.dimensions();
    let layout = if dec.has_alpha() {
        Layout::Rgba
    } else {
        Layout::Rgb
    };
    let want = buffer_len(w, h, layout)?;
    if dec.output_buffer_size() != Some(want) {
        return Err(Rejection::internal(
            "WebP output size disagrees with its layout",
        ));
    }
    let mut data = vec![0u8; want];
    // For an animation this composes the first frame onto the canvas.
    dec.read_image(&mut data).map_err(webp_error)?;
    let icc = dec.icc_profile().ok().flatten();
    let exif = dec.exif_metadata().ok().flatten();
    let pixels = Pixels::new(w, h, layout, data)?;
    check_size(&pixels, header)?;
    Ok(Decoded {
        pixels,
        icc,
        exif,
        cmyk: None,
    })
}
