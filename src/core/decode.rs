//! Per-format decoding with pure-Rust decoders (zune-jpeg, png, image-webp), each with its
//! own limits wired in as a second line behind the header probe.
//!
//! Only call this after [`super::probe::probe`] accepted the header: the buffers allocated
//! here are sized from dimensions the probe has already bounded.

use std::io::Cursor;

use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;

use super::colour;
use super::error::{Reason, Rejection};
use super::format::Format;
use super::limits::Limits;
use super::pixels::{buffer_len, Layout, Pixels};
use super::probe::{self, Header};
use super::transform::{self, BandResizer};

/// A decoded image plus the metadata the pipeline still needs (and then drops).
#[derive(Debug)]
pub struct Decoded {
    /// The image: full size, or already fitted (or gray) when the [`Hint`] asked for it and
    /// the decoder could do it as the rows arrived.
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
    /// The image will be fitted into this box ([`transform::fit_size`]). A decoder that can
    /// resample as the rows arrive returns the fitted image and never holds the full-size
    /// one; the caller's own fit is then a no-op, since a fitted image already fits.
    pub fit: Option<u32>,
}

/// The shortest side, in pixels, of an image whose YUV planes are resampled one by one (JPEG,
/// lossy WebP). The subsampled chroma of a thinner image is only a few samples across, and
/// resampling it on its own differs from resizing the upsampled decode by several levels
/// (up to 15 on a steep 4-pixel-tall ramp, against 0.5 at 64 pixels): such images are small,
/// so they are decoded whole.
const PLANES_MIN_SIDE: u32 = 64;

/// The fitted size when the hint asks for a fit that changes the size.
fn shrink_to(hint: Hint, w: u32, h: u32) -> Option<(u32, u32)> {
    hint.fit
        .map(|bx| transform::fit_size(w, h, bx))
        .filter(|&to| to != (w, h))
}

/// Decodes every pixel (no hint).
pub fn decode(bytes: &[u8], header: &Header, limits: &Limits) -> Result<Decoded, Rejection> {
    decode_with(bytes, header, limits, Hint::default())
}

/// Decodes, taking the cheaper path the hint allows.
///
/// The cheaper paths are optimisations, never a second verdict: when one fails, the image is
/// decoded whole, and that decode accepts or rejects the file. zune-jpeg's row output gives
/// up at the first bad entropy code where its whole-image decode goes on (as libjpeg does),
/// and its luma-only decode refuses a JPEG whose chroma is sampled more finely than its luma,
/// which the RGB decode takes (Pillow's `hopper_bad_exif.jpg` of the shared corpus, and
/// `cjpeg -sample 1x1,2x2,1x1`). Only files that fail the cheaper path pay for two decodes,
/// both within the same limits and the sandbox's time limit.
pub fn decode_with(
    bytes: &[u8],
    header: &Header,
    limits: &Limits,
    hint: Hint,
) -> Result<Decoded, Rejection> {
    match decode_hinted(bytes, header, limits, hint) {
        Err(_) if hint != Hint::default() => decode_hinted(bytes, header, limits, Hint::default()),
        result => result,
    }
}

fn decode_hinted(
    bytes: &[u8],
    header: &Header,
    limits: &Limits,
    hint: Hint,
) -> Result<Decoded, Rejection> {
    match header.format {
        Format::Jpeg => decode_jpeg(bytes, header, limits, hint),
        Format::Png => decode_png(bytes, header, limits, hint),
        Format::Webp => decode_webp(bytes, header, limits, hint),
    }
}

fn check_size(p: &Pixels, header: &Header) -> Result<(), Rejection> {
    if (p.width, p.height) != (header.width, header.height) {
        return Err(size_mismatch((p.width, p.height), header));
    }
    Ok(())
}

fn size_mismatch((w, h): (u32, u32), header: &Header) -> Rejection {
    Rejection::corrupt(format!(
        "decoded size {w}x{h} differs from the header's {}x{}",
        header.width, header.height
    ))
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
    let options = base.jpeg_set_out_colorspace(out_cs);
    let mut dec = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(input), options);
    dec.decode_headers().map_err(jpeg_error)?;
    let info = dec
        .info()
        .ok_or_else(|| Rejection::corrupt("JPEG without a frame header"))?;
    let (w, h) = (u32::from(info.width), u32::from(info.height));
    if (w, h) != (header.width, header.height) {
        return Err(size_mismatch((w, h), header));
    }
    let planar = shrink_to(hint, w, h)
        .filter(|_| w.min(h) >= PLANES_MIN_SIDE)
        .filter(|_| match layout {
            Layout::Gray => true,
            Layout::Rgb => dec.input_colorspace() == Some(ColorSpace::YCbCr),
            Layout::GrayAlpha | Layout::Rgba => false,
        });
    let pixels = match planar {
        // A failure here is retried as a whole decode (`decode_with`).
        Some(to) => jpeg_planes_fitted(&mut dec, (w, h), to)?,
        None => {
            // (w, h) is the header's size, checked above.
            let mut data = vec![0u8; buffer_len(w, h, layout)?];
            dec.decode_into(&mut data).map_err(jpeg_error)?;
            Pixels::new(w, h, layout, data)?
        }
    };
    let icc = dec.icc_profile();
    let exif = dec.exif().cloned();
    Ok(Decoded {
        pixels,
        icc,
        exif,
        cmyk,
    })
}

/// Decodes a gray or YCbCr JPEG one row of MCUs at a time into its planes as stored (Y; Cb
/// and Cr at their subsampled size), resamples each plane to the fitted size as its rows
/// arrive, and converts to RGB only at that size. Neither the full-size image nor the
/// upsampled chroma is ever made, and the chroma is resampled once, from its own samples.
fn jpeg_planes_fitted(
    dec: &mut zune_jpeg::JpegDecoder<ZCursor<&[u8]>>,
    (w, h): (u32, u32),
    to: (u32, u32),
) -> Result<Pixels, Rejection> {
    let mut raw = dec.raw_output();
    let layout = raw
        .layout()
        .ok_or_else(|| Rejection::corrupt("JPEG plane layout unavailable"))?;
    let planes = raw
        .num_components()
        .filter(|n| matches!(n, 1 | 3))
        .and_then(|n| layout.get(..n))
        .ok_or_else(|| Rejection::internal("JPEG planes: neither gray nor YCbCr"))?;
    let h_max = planes.iter().map(|p| p.horizontal_sampling_factor).max();
    let v_max = planes.iter().map(|p| p.vertical_sampling_factor).max();
    let (Some(h_max), Some(v_max)) = (h_max, v_max) else {
        return Err(Rejection::internal("YCbCr JPEG without planes"));
    };
    let mut resizers = Vec::with_capacity(3);
    let mut rows = Vec::with_capacity(3);
    for p in planes {
        let pw = u32::try_from(p.width).map_err(|_| Rejection::corrupt("JPEG plane width"))?;
        let ph = u32::try_from(p.height).map_err(|_| Rejection::corrupt("JPEG plane height"))?;
        // The part of the plane the image covers: a 4:2:0 plane of an odd-width image has
        // a last column only half inside it.
        let share =
            |size: u32, f: usize, max: usize| f64::from(size) * f as f64 / (max.max(1)) as f64;
        let extent = (
            share(w, p.horizontal_sampling_factor, h_max),
            share(h, p.vertical_sampling_factor, v_max),
        );
        resizers.push(BandResizer::new(pw, ph, Layout::Gray, to, extent)?);
        // One row of MCUs is at most `v_max` blocks of 8 rows tall in any plane.
        let band = p
            .width
            .checked_mul(v_max.saturating_mul(8))
            .ok_or_else(|| Rejection::corrupt("JPEG plane size"))?;
        rows.push(vec![0u8; band]);
    }
    let strides: Vec<usize> = planes.iter().map(|p| p.width).collect();
    // Each call delivers at least one row of some plane (a call that delivers none is an
    // error below), and one more call says it is complete: so the rows of all planes, plus
    // one, bound the calls, whatever the decoder's own idea of a row of MCUs is.
    let total_rows = planes
        .iter()
        .fold(0usize, |n, p| n.saturating_add(p.height));
    for _ in 0..=total_rows {
        let mut out: Vec<&mut [u8]> = rows.iter_mut().map(Vec::as_mut_slice).collect();
        match raw
            .decode_next_imcu_row(&mut out, &strides)
            .map_err(jpeg_error)?
        {
            zune_jpeg::RawImcuRowStatus::RowReady { rows_written } => {
                if rows_written.iter().all(|&n| n == 0) {
                    return Err(Rejection::corrupt("JPEG row of MCUs without rows"));
                }
                for ((r, buf), (&n, &stride)) in resizers
                    .iter_mut()
                    .zip(&rows)
                    .zip(rows_written.iter().zip(&strides))
                {
                    let len = n.saturating_mul(stride);
                    r.push_rows(
                        buf.get(..len)
                            .ok_or_else(|| Rejection::internal("JPEG plane rows"))?,
                    )?;
                }
            }
            zune_jpeg::RawImcuRowStatus::Complete => {
                let mut done = resizers.into_iter().map(BandResizer::finish);
                return match (done.next(), done.next(), done.next()) {
                    (Some(y), None, None) => y,
                    (Some(y), Some(cb), Some(cr)) => colour::ycbcr_planes_to_rgb(&y?, &cb?, &cr?),
                    _ => Err(Rejection::internal("JPEG planes missing")),
                };
            }
            // All input is in memory: a decoder that wants more has reached the end.
            _ => return Err(Rejection::corrupt("JPEG is truncated")),
        }
    }
    Err(Rejection::internal("JPEG row decoding did not finish"))
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

fn decode_png(
    bytes: &[u8],
    header: &Header,
    limits: &Limits,
    hint: Hint,
) -> Result<Decoded, Rejection> {
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
    // A plain (not interlaced, not animated) PNG is fitted, or turned gray, row by row as it
    // is unfiltered; Adam7 rows arrive out of order and an APNG's default image needs its
    // frame checks. Gray rows only without an ICC profile, whose conversion needs the colour.
    let plain = !reader.info().interlaced && header.frames <= 1;
    let gray_rows = hint.gray && !layout.is_gray() && reader.info().icc_profile.is_none();
    let pixels = match shrink_to(hint, w, h).filter(|_| plain) {
        Some(to) => {
            let mut fit = BandResizer::new(w, h, layout, to, (f64::from(w), f64::from(h)))?;
            png_rows(&mut reader, (w, h), layout, |row| fit.push_rows(row))?;
            fit.finish()?
        }
        None if plain && gray_rows => {
            let gray = layout.without_colour();
            let mut data = Vec::with_capacity(buffer_len(w, h, gray)?);
            png_rows(&mut reader, (w, h), layout, |row| {
                transform::push_gray(row, layout, &mut data)
            })?;
            Pixels::new(w, h, gray, data)?
        }
        None => {
            let mut data = vec![0u8; buffer_len(w, h, layout)?];
            // For APNG this is the default image (IDAT), which is the static frame we keep.
            let frame = reader.next_frame(&mut data).map_err(png_error)?;
            if (frame.width, frame.height) != (w, h) || frame.buffer_size() != data.len() {
                return Err(Rejection::corrupt(
                    "PNG default image is not the full canvas",
                ));
            }
            let pixels = Pixels::new(w, h, layout, data)?;
            check_size(&pixels, header)?;
            pixels
        }
    };
    let info = reader.info();
    let icc = info.icc_profile.as_ref().map(|c| c.to_vec());
    let exif = info.exif_metadata.as_ref().map(|c| c.to_vec());
    // Read to IEND so a file cut after its pixel data is still caught as truncated.
    if header.frames <= 1 {
        reader.finish().map_err(png_error)?;
    }
    Ok(Decoded {
        pixels,
        icc,
        exif,
        cmyk: None,
    })
}

/// Reads the `h` rows of a plain PNG one at a time into one small buffer, handing each to
/// `take`, so the full-size image is never held; fewer or more rows than `h` is corrupt.
fn png_rows(
    reader: &mut png::Reader<Cursor<&[u8]>>,
    (w, h): (u32, u32),
    layout: Layout,
    mut take: impl FnMut(&[u8]) -> Result<(), Rejection>,
) -> Result<(), Rejection> {
    let stride = buffer_len(w, 1, layout)?;
    if reader.output_line_size(w) != Some(stride) {
        return Err(Rejection::internal(
            "PNG row size disagrees with its layout",
        ));
    }
    let mut row = vec![0u8; stride];
    let mut rows = 0u32;
    // One row per call and one more that reports the end; bounded so nothing loops.
    for _ in 0..=h {
        match reader.read_row(&mut row).map_err(png_error)? {
            Some(_) => {
                take(&row)?;
                rows = rows.saturating_add(1);
            }
            None if rows == h => return Ok(()),
            None => break,
        }
    }
    Err(Rejection::corrupt(format!(
        "PNG has {rows} rows where its header says {h}"
    )))
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

fn decode_webp(
    bytes: &[u8],
    header: &Header,
    limits: &Limits,
    hint: Hint,
) -> Result<Decoded, Rejection> {
    // The decoder sees only the RIFF payload: image-webp reads chunks past its end, which
    // libwebp ignores (`probe::check_webp_layout`).
    let bytes = probe::webp_riff(bytes).ok_or_else(|| Rejection::corrupt("WebP is truncated"))?;
    let mut dec = image_webp::WebPDecoder::new(Cursor::new(bytes)).map_err(webp_error)?;
    dec.set_memory_limit(limits.decoder_memory_bytes);
    let (w, h) = dec.dimensions();
    // A still lossy image without alpha is fitted from its YUV planes (as a YCbCr JPEG is):
    // the full-size RGB image (12 bytes a pixel counting its first touch) is never made.
    let planar = shrink_to(hint, w, h)
        .filter(|_| !dec.has_alpha() && !dec.is_animated() && w.min(h) >= PLANES_MIN_SIDE)
        .and_then(|to| Some((probe::webp_still_vp8(bytes, header, limits)?, to)));
    if let Some((vp8, to)) = planar {
        let pixels = webp_planes_fitted(vp8, (w, h), to)?;
        return Ok(Decoded {
            pixels,
            icc: dec.icc_profile().ok().flatten(),
            exif: dec.exif_metadata().ok().flatten(),
            cmyk: None,
        });
    }
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

/// Decodes a VP8 bitstream into its planes (image-webp's `Vp8Decoder`: the same decoder and
/// errors as a full decode of the file), resamples Y and the half-size U and V planes to the
/// fitted size, and converts to RGB only at that size. The probe has checked that the frame
/// is the header's size ([`probe::webp_still_vp8`]), so the planes are sized from checked
/// dimensions; their rows are padded to whole 16-pixel macroblocks.
fn webp_planes_fitted(vp8: &[u8], (w, h): (u32, u32), to: (u32, u32)) -> Result<Pixels, Rejection> {
    let frame = image_webp::vp8::Vp8Decoder::decode_frame(Cursor::new(vp8)).map_err(webp_error)?;
    if (u32::from(frame.width), u32::from(frame.height)) != (w, h) {
        return Err(Rejection::corrupt(format!(
            "WebP VP8 frame is {}x{}, its header {w}x{h}",
            frame.width, frame.height
        )));
    }
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let y_stride = usize::from(frame.width.div_ceil(16)).saturating_mul(16);
    let c_stride = y_stride / 2;
    let planes = [
        (&frame.ybuf, y_stride, (w, h), (f64::from(w), f64::from(h))),
        // A chroma sample covers 2x2 pixels; of an odd-sized image the last column or row
        // is only half covered.
        (
            &frame.ubuf,
            c_stride,
            (cw, ch),
            (f64::from(w) / 2.0, f64::from(h) / 2.0),
        ),
        (
            &frame.vbuf,
            c_stride,
            (cw, ch),
            (f64::from(w) / 2.0, f64::from(h) / 2.0),
        ),
    ];
    let mut fitted = Vec::with_capacity(3);
    for (buf, stride, (pw, ph), extent) in planes {
        let mut r = BandResizer::new(pw, ph, Layout::Gray, to, extent)?;
        let row_len = pw as usize;
        for row in buf.chunks(stride.max(1)).take(ph as usize) {
            r.push_rows(
                row.get(..row_len)
                    .ok_or_else(|| Rejection::internal("WebP plane narrower than the image"))?,
            )?;
        }
        // Fewer rows than `ph` is an error in `finish`.
        fitted.push(r.finish()?);
    }
    match fitted.as_slice() {
        [y, u, v] => colour::vp8_yuv_planes_to_rgb(y, u, v),
        _ => Err(Rejection::internal("WebP planes missing")),
    }
}

#[cfg(test)]
#[allow(
    clippy::arithmetic_side_effects,
    reason = "tests: sizes and sample values are the test's own"
)]
mod tests {
    use super::*;
    use crate::core::probe::probe;
    use crate::testkit::{self as tk, JpegOpts, Meta};

    /// The full decode, resized afterwards: what the pipeline did before decoders could fit
    /// as they decode, and what it still does for the inputs they leave alone.
    fn full_then_fit(bytes: &[u8], bx: u32) -> Pixels {
        let limits = Limits::default();
        let header = probe(bytes, &limits).unwrap();
        let p = decode(bytes, &header, &limits).unwrap().pixels;
        let (w, h) = transform::fit_size(p.width, p.height, bx);
        transform::resize(p, w, h).unwrap()
    }

    fn fitted_while_decoding(bytes: &[u8], bx: u32) -> Pixels {
        let limits = Limits::default();
        let header = probe(bytes, &limits).unwrap();
        let hint = Hint {
            gray: false,
            fit: Some(bx),
        };
        decode_with(bytes, &header, &limits, hint).unwrap().pixels
    }

    use tk::mean_abs_diff;

    /// The whole pipeline on `bytes` with `op`.
    fn process_as(bytes: &[u8], op: crate::core::naming::Op) -> crate::core::pipeline::Output {
        let job = crate::core::pipeline::Job { op };
        crate::core::pipeline::process(bytes, &job, &Limits::default()).unwrap()
    }

    #[test]
    fn jpeg_planes_fitted_as_decoded_match_the_full_decode() {
        // Every chroma subsampling jpeg-encoder writes, baseline and progressive, with odd
        // sizes (a half-covered last chroma column and row) and a box that makes the output
        // larger than the chroma planes (the chroma is then enlarged, the image is not).
        let sizes = [(641, 479, 200), (1001, 333, 1000), (97, 203, 64)];
        let samplings = [
            (1, 1),
            (2, 1),
            (1, 2),
            (2, 2),
            (4, 1),
            (4, 2),
            (1, 4),
            (2, 4),
        ];
        for (w, h, bx) in sizes {
            let src = tk::gradient(w, h, Layout::Rgb);
            for sampling in samplings {
                for progressive in [false, true] {
                    let opts = JpegOpts {
                        quality: 90,
                        progressive,
                        sampling: Some(sampling),
                    };
                    let bytes = tk::jpeg_with(&src, &Meta::default(), opts);
                    let got = fitted_while_decoding(&bytes, bx);
                    let want = full_then_fit(&bytes, bx);
                    let d = mean_abs_diff(&got, &want);
                    // The full decode upsamples the chroma (zune-jpeg's filter) before the
                    // resize; the planes are resized from the stored chroma instead, so the
                    // two differ a little in the chroma, never by much.
                    assert!(
                        d < 1.5,
                        "{w}x{h} {sampling:?} progressive={progressive}: mean diff {d}"
                    );
                }
            }
        }
    }

    /// A baseline JPEG whose scan has a run of one-bits in its middle: no Huffman code is
    /// all ones, so the entropy decoder meets a bad code there (as in Pillow's
    /// `hopper_bad_exif.jpg` of the shared corpus).
    fn jpeg_with_bad_entropy_code() -> Vec<u8> {
        let bytes = tk::jpeg(&tk::gradient(641, 479, Layout::Rgb), &Meta::default());
        let sos = bytes.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
        let mid = sos + (bytes.len() - sos) / 2;
        let mut bad = bytes.clone();
        // FF 00 is a stuffed data byte FF: eight one-bits each.
        for pair in bad[mid..mid + 64].chunks_exact_mut(2) {
            pair.copy_from_slice(&[0xFF, 0x00]);
        }
        bad
    }

    #[test]
    fn a_jpeg_with_a_bad_entropy_code_is_fitted_as_leniently_as_it_is_decoded() {
        let bytes = jpeg_with_bad_entropy_code();
        let limits = Limits::default();
        let header = probe(&bytes, &limits).unwrap();
        // The row output alone gives up at the bad code ...
        let options = DecoderOptions::new_fast().set_strict_mode(false);
        let mut dec = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(&bytes[..]), options);
        dec.decode_headers().unwrap();
        assert!(jpeg_planes_fitted(&mut dec, (641, 479), (200, 149)).is_err());
        // ... where the whole-image decode goes on, so the fitted decode must too.
        let full = decode(&bytes, &header, &limits).unwrap().pixels;
        assert_eq!((full.width, full.height), (641, 479));
        let out = process_as(&bytes, crate::core::naming::Op::Thumb);
        assert_eq!((out.width, out.height), (200, 149));
    }

    #[test]
    fn lossy_webp_planes_fitted_match_the_full_decode() {
        // Odd sizes (a half-covered last chroma column and row), and a box larger than the
        // chroma planes.
        for (w, h, bx) in [(641, 479, 200), (1001, 333, 1000), (97, 203, 64)] {
            let src = tk::gradient(w, h, Layout::Rgb);
            let bytes = crate::core::encode::encode(&src, Format::Webp, true).unwrap();
            let limits = Limits::default();
            let header = probe(&bytes, &limits).unwrap();
            assert!(probe::webp_still_vp8(&bytes, &header, &limits).is_some());
            let got = fitted_while_decoding(&bytes, bx);
            assert_eq!((got.width, got.height), transform::fit_size(w, h, bx));
            let d = mean_abs_diff(&got, &full_then_fit(&bytes, bx));
            // The full decode upsamples the chroma (libwebp's "fancy" filter) before the
            // resize; the planes are resized from the stored chroma instead.
            assert!(d < 1.5, "{w}x{h}: mean diff {d}");
        }
    }

    #[test]
    fn a_jpeg_with_chroma_sampled_above_luma_is_turned_gray_as_it_is_decoded() {
        // A 4:4:4 JPEG whose frame header then says Y 1x1, Cb 2x2, Cr 1x1 (as `cjpeg -sample
        // 1x1,2x2,1x1` writes): the RGB decode takes it, zune-jpeg's luma-only decode said
        // "Missing samples", so the grayscale op refused what fit and thumb accepted.
        let opts = JpegOpts {
            quality: 90,
            progressive: false,
            sampling: Some((1, 1)),
        };
        let mut bytes = tk::jpeg_with(&tk::gradient(160, 120, Layout::Rgb), &Meta::default(), opts);
        let sof = bytes.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        for (i, f) in [(0, 0x11), (1, 0x22), (2, 0x11)] {
            bytes[sof + 10 + 3 * i + 1] = f;
        }
        let limits = Limits::default();
        let header = probe(&bytes, &limits).unwrap();
        assert!(decode(&bytes, &header, &limits).is_ok());
        let gray = Hint {
            gray: true,
            fit: None,
        };
        assert!(decode_hinted(&bytes, &header, &limits, gray).is_err());
        assert!(decode_with(&bytes, &header, &limits, gray).is_ok());
        let out = process_as(&bytes, crate::core::naming::Op::Grayscale);
        assert_eq!((out.width, out.height), (160, 120));
    }

    #[test]
    fn chunks_after_a_webps_riff_payload_are_not_applied() {
        // An extended lossy WebP announcing EXIF (or alpha), with its EXIF (orientation 3)
        // or ALPH (all transparent) chunk after the RIFF payload, where libwebp ignores it:
        // image-webp read it there and turned the photo upside down (or transparent). Now the
        // decoder sees only the payload, where the announced chunk is missing: refused, as
        // image-webp refuses a file that announces a chunk it lacks.
        let src = tk::gradient(640, 480, Layout::Rgb);
        let plain = crate::core::encode::encode(&src, Format::Webp, true).unwrap();
        let limits = Limits::default();
        let job = crate::core::pipeline::Job {
            op: crate::core::naming::Op::Fit,
        };
        for (flag, kind, payload) in [
            (0x08, b"EXIF", tk::exif(Some(3), false)),
            (0x10, b"ALPH", vec![0u8; 2]),
        ] {
            let mut body = b"WEBPVP8X\x0a\0\0\0".to_vec();
            body.extend_from_slice(&[flag, 0, 0, 0, 0x7F, 0x02, 0, 0xDF, 0x01, 0]);
            body.extend_from_slice(&plain[12..]);
            let mut f = b"RIFF".to_vec();
            f.extend_from_slice(&u32::try_from(body.len()).unwrap().to_le_bytes());
            f.extend_from_slice(&body);
            // Without the appended chunk the file is refused for the missing chunk ...
            let without = crate::core::pipeline::process(&f, &job, &limits).unwrap_err();
            f.extend_from_slice(kind);
            f.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_le_bytes());
            f.extend_from_slice(&payload);
            // ... and with it, the same: the chunk after the payload is never read.
            let with = crate::core::pipeline::process(&f, &job, &limits).unwrap_err();
            assert_eq!(with, without, "{}", String::from_utf8_lossy(kind));
        }
    }

    #[test]
    fn thin_images_are_fitted_as_closely_as_others() {
        // A 4:2:0 JPEG and a lossy WebP 4 pixels tall (and wide): their chroma planes are 2
        // samples across, and resampling them on their own was up to 15 levels off the
        // resized full decode, where images of 64 pixels and more are within 0.5.
        for (w, h) in [(2048, 4), (4, 2048), (1200, 7)] {
            let src = tk::gradient(w, h, Layout::Rgb);
            let opts = JpegOpts {
                quality: 95,
                progressive: false,
                sampling: Some((2, 2)),
            };
            let jpeg = tk::jpeg_with(&src, &Meta::default(), opts);
            let webp = crate::core::encode::encode(&src, Format::Webp, true).unwrap();
            for bytes in [jpeg, webp] {
                let got = fitted_while_decoding(&bytes, 1024);
                let (fw, fh) = transform::fit_size(w, h, 1024);
                let got = transform::resize(got, fw, fh).unwrap();
                let d = mean_abs_diff(&got, &full_then_fit(&bytes, 1024));
                assert!(d < 0.5, "{w}x{h}: mean diff {d}");
            }
        }
    }

    #[test]
    fn gray_jpegs_fitted_as_decoded_match_the_full_decode() {
        for progressive in [false, true] {
            let opts = JpegOpts {
                progressive,
                ..JpegOpts::default()
            };
            let bytes = tk::jpeg_with(
                &tk::gradient(999, 601, Layout::Gray),
                &Meta::default(),
                opts,
            );
            let got = fitted_while_decoding(&bytes, 200);
            assert_eq!(
                (got.width, got.height, got.layout),
                (200, 120, Layout::Gray)
            );
            let d = mean_abs_diff(&got, &full_then_fit(&bytes, 200));
            assert!(d < 0.5, "progressive={progressive}: mean diff {d}");
        }
    }

    #[test]
    fn png_rows_fitted_as_decoded_match_the_full_decode() {
        for layout in [Layout::Gray, Layout::GrayAlpha, Layout::Rgb, Layout::Rgba] {
            for (w, h, bx) in [(641, 479, 200), (3000, 17, 1024), (5, 900, 200)] {
                let bytes = tk::png(&tk::gradient(w, h, layout), &Meta::default());
                let got = fitted_while_decoding(&bytes, bx);
                let want = full_then_fit(&bytes, bx);
                let d = mean_abs_diff(&got, &want);
                assert!(d < 0.5, "{layout:?} {w}x{h}: mean diff {d}");
            }
        }
    }

    #[test]
    fn png_rows_turned_gray_as_decoded_match_the_full_decode() {
        let limits = Limits::default();
        for layout in [Layout::Rgb, Layout::Rgba] {
            let bytes = tk::png(&tk::gradient(333, 97, layout), &Meta::default());
            let header = probe(&bytes, &limits).unwrap();
            let hint = Hint {
                gray: true,
                fit: None,
            };
            let got = decode_with(&bytes, &header, &limits, hint).unwrap().pixels;
            let full = decode(&bytes, &header, &limits).unwrap().pixels;
            assert_eq!(got.layout, layout.without_colour(), "{layout:?}");
            assert_eq!(got, transform::grayscale(full).unwrap(), "{layout:?}");
        }
    }

    #[test]
    fn a_png_cut_inside_its_rows_is_still_truncated_when_fitted() {
        let bytes = tk::png(&tk::gradient(640, 480, Layout::Rgb), &Meta::default());
        let cut = bytes.get(..bytes.len() / 2).unwrap();
        let limits = Limits::default();
        let header = probe(cut, &limits).unwrap();
        let hint = Hint {
            gray: false,
            fit: Some(200),
        };
        let r = decode_with(cut, &header, &limits, hint).unwrap_err();
        assert_eq!(r.reason, Reason::Corrupt, "{r}");
        let gray = Hint {
            gray: true,
            fit: None,
        };
        let r = decode_with(cut, &header, &limits, gray).unwrap_err();
        assert_eq!(r.reason, Reason::Corrupt, "{r}");
    }
}
