//! Colour: CMYK/YCCK JPEGs to RGB, and embedded ICC profiles to sRGB, before the profile is
//! dropped with the rest of the metadata (so colours do not shift when it is stripped).
//!
//! Conversions run in place, a band of rows at a time, so a 4096×4096 image needs no second
//! full-size buffer.

use moxcms::{ColorProfile, DataColorSpace, Layout as CmsLayout, TransformOptions};

use super::decode::Cmyk;
use super::error::Rejection;
use super::limits::Limits;
use super::pixels::{Layout, Pixels};

/// Rows converted per band: large enough to amortise the transform call, small enough that
/// the scratch buffer stays a few hundred KiB.
const BAND_ROWS: usize = 16;

/// Turns the 4-channel CMYK buffer of a JPEG into RGB, using its ICC profile when it has a
/// usable CMYK one and the naive inverted-CMYK formula otherwise.
pub fn cmyk_to_rgb(
    mut p: Pixels,
    kind: Cmyk,
    icc: Option<&[u8]>,
    limits: &Limits,
) -> Result<Pixels, Rejection> {
    if p.layout != Layout::Rgba {
        return Err(Rejection::internal("CMYK buffer must have four channels"));
    }
    if kind == Cmyk::FromYcck {
        ycck_to_cmyk_inplace(&mut p.data);
    }
    let profile = icc
        .filter(|b| b.len() <= limits.max_icc_bytes)
        .and_then(|b| ColorProfile::new_from_slice(b).ok())
        .filter(|pr| pr.color_space == DataColorSpace::Cmyk);
    let n = (p.width as usize).saturating_mul(p.height as usize);
    let transform = profile.and_then(|pr| {
        pr.create_transform_8bit(
            CmsLayout::Rgba,
            &ColorProfile::new_srgb(),
            CmsLayout::Rgb,
            TransformOptions::default(),
        )
        .ok()
    });
    match transform {
        Some(t) => {
            // ICC CMYK is "ink amount": Adobe stores it inverted, so flip back first.
            let row = (p.width as usize).saturating_mul(4);
            let band = row.saturating_mul(BAND_ROWS).max(4);
            let mut scratch = vec![0u8; band];
            let mut out = vec![0u8; (band / 4).saturating_mul(3)];
            let mut read = 0usize;
            let mut write = 0usize;
            while read < p.data.len() {
                let end = read.saturating_add(band).min(p.data.len());
                let chunk = p
                    .data
                    .get(read..end)
                    .ok_or_else(|| Rejection::internal("CMYK band"))?;
                let len = chunk.len();
                let src = scratch
                    .get_mut(..len)
                    .ok_or_else(|| Rejection::internal("CMYK scratch"))?;
                for (d, s) in src.iter_mut().zip(chunk) {
                    *d = 255u8.saturating_sub(*s);
                }
                let olen = (len / 4).saturating_mul(3);
                let dst = out
                    .get_mut(..olen)
                    .ok_or_else(|| Rejection::internal("CMYK out"))?;
                t.transform(src, dst)
                    .map_err(|e| Rejection::internal(format!("CMYK transform: {e:?}")))?;
                // The RGB output of rows [0, end) ends at 3/4 of `end`: always behind `read`.
                p.data
                    .get_mut(write..write.saturating_add(olen))
                    .ok_or_else(|| Rejection::internal("CMYK write-back"))?
                    .copy_from_slice(dst);
                write = write.saturating_add(olen);
                read = end;
            }
            p.data.truncate(write);
        }
        None => {
            // Inverted CMYK: R = C' * K' / 255, as libjpeg-based tools do without a profile.
            let mut w = 0usize;
            for i in 0..n {
                let at = i.saturating_mul(4);
                let (Some(&c), Some(&m), Some(&y), Some(&k)) = (
                    p.data.get(at),
                    p.data.get(at.saturating_add(1)),
                    p.data.get(at.saturating_add(2)),
                    p.data.get(at.saturating_add(3)),
                ) else {
                    break;
                };
                for v in [c, m, y] {
                    if let Some(slot) = p.data.get_mut(w) {
                        *slot = mul255(v, k);
                    }
                    w = w.saturating_add(1);
                }
            }
            p.data.truncate(w);
        }
    }
    Pixels::new(p.width, p.height, Layout::Rgb, p.data)
}

/// `a * b / 255`, rounded.
fn mul255(a: u8, b: u8) -> u8 {
    let t = u32::from(a)
        .saturating_mul(u32::from(b))
        .saturating_add(128);
    u8::try_from((t.saturating_add(t >> 8)) >> 8).unwrap_or(u8::MAX)
}

/// YCCK → inverted CMYK in place, as libjpeg's `ycck_cmyk_convert`: the first three channels
/// are YCbCr of the ink amounts (C, M, Y); K is stored inverted already and stays.
pub fn ycck_to_cmyk_inplace(data: &mut [u8]) {
    for px in data.chunks_exact_mut(4) {
        if let [y, cb, cr, _k] = px {
            let (r, g, b) = ycbcr_to_rgb(*y, *cb, *cr);
            // libjpeg: C = MAXJSAMPLE - R. That value is already in the inverted convention
            // plain Adobe CMYK samples are stored in, which is what the caller expects.
            // (Writing R itself inverted every YCCK image: tests/regression.rs.)
            *y = 255u8.saturating_sub(r);
            *cb = 255u8.saturating_sub(g);
            *cr = 255u8.saturating_sub(b);
        }
    }
}

/// Three same-size one-channel planes (Y, Cb, Cr, as a JPEG stores them) to one RGB image.
pub fn ycbcr_planes_to_rgb(y: &Pixels, cb: &Pixels, cr: &Pixels) -> Result<Pixels, Rejection> {
    planes_to_rgb(y, cb, cr, ycbcr_to_rgb)
}

/// Three same-size one-channel planes (Y, U, V, as a lossy WebP stores them) to one RGB image.
pub fn vp8_yuv_planes_to_rgb(y: &Pixels, u: &Pixels, v: &Pixels) -> Result<Pixels, Rejection> {
    planes_to_rgb(y, u, v, vp8_yuv_to_rgb)
}

fn planes_to_rgb(
    y: &Pixels,
    cb: &Pixels,
    cr: &Pixels,
    convert: fn(u8, u8, u8) -> (u8, u8, u8),
) -> Result<Pixels, Rejection> {
    let size = (y.width, y.height);
    if [y, cb, cr]
        .iter()
        .any(|p| p.layout != Layout::Gray || (p.width, p.height) != size)
    {
        return Err(Rejection::internal("YCbCr planes of different sizes"));
    }
    let mut data = Vec::with_capacity(y.data.len().saturating_mul(3));
    for ((&y, &cb), &cr) in y.data.iter().zip(&cb.data).zip(&cr.data) {
        let (r, g, b) = convert(y, cb, cr);
        data.extend_from_slice(&[r, g, b]);
    }
    Pixels::new(size.0, size.1, Layout::Rgb, data)
}

/// JFIF YCbCr → RGB (ITU-R BT.601 full range), fixed point.
fn ycbcr_to_rgb(y: u8, cb: u8, cr: u8) -> (u8, u8, u8) {
    let y = i32::from(y) << 16;
    let cb = i32::from(cb).saturating_sub(128);
    let cr = i32::from(cr).saturating_sub(128);
    let half = 1 << 15;
    let r = y
        .saturating_add(91881i32.saturating_mul(cr))
        .saturating_add(half)
        >> 16;
    let g = y
        .saturating_sub(22554i32.saturating_mul(cb))
        .saturating_sub(46802i32.saturating_mul(cr))
        .saturating_add(half)
        >> 16;
    let b = y
        .saturating_add(116130i32.saturating_mul(cb))
        .saturating_add(half)
        >> 16;
    (clamp(r), clamp(g), clamp(b))
}

/// VP8's YUV → RGB: ITU-R BT.601 with Y in 16..235 and U, V in 16..240, in the fixed point
/// of the WebP specification's reference decoder (libwebp's `VP8YUVToR/G/B`: 14-bit
/// coefficients, 6 fractional bits), so fitted planes convert as image-webp converts a
/// full decode.
fn vp8_yuv_to_rgb(y: u8, u: u8, v: u8) -> (u8, u8, u8) {
    let mul = |x: u8, k: i32| i32::from(x).saturating_mul(k) >> 8;
    let clip = |x: i32| clamp(x >> 6);
    let yy = mul(y, 19077);
    let r = clip(yy.saturating_add(mul(v, 26149)).saturating_sub(14234));
    let g = clip(
        yy.saturating_sub(mul(u, 6419))
            .saturating_sub(mul(v, 13320))
            .saturating_add(8708),
    );
    let b = clip(yy.saturating_add(mul(u, 33050)).saturating_sub(17685));
    (r, g, b)
}

fn clamp(v: i32) -> u8 {
    u8::try_from(v.clamp(0, 255)).unwrap_or(u8::MAX)
}

/// Converts RGB(A) pixels described by an embedded ICC profile to sRGB, in place. Gray images
/// and profiles that do not parse, do not match the pixel layout, or already are sRGB are
/// left alone (taken as sRGB), which is what browsers do with a broken profile.
pub fn icc_to_srgb(p: &mut Pixels, icc: Option<&[u8]>, limits: &Limits) -> Result<(), Rejection> {
    let Some(bytes) = icc.filter(|b| b.len() <= limits.max_icc_bytes) else {
        return Ok(());
    };
    let cms_layout = match p.layout {
        Layout::Rgb => CmsLayout::Rgb,
        Layout::Rgba => CmsLayout::Rgba,
        Layout::Gray | Layout::GrayAlpha => return Ok(()),
    };
    let Ok(profile) = ColorProfile::new_from_slice(bytes) else {
        return Ok(());
    };
    if profile.color_space != DataColorSpace::Rgb || is_srgb(&profile) {
        return Ok(());
    }
    let srgb = ColorProfile::new_srgb();
    let Ok(t) =
        profile.create_transform_8bit(cms_layout, &srgb, cms_layout, TransformOptions::default())
    else {
        return Ok(());
    };
    let band = p.stride().saturating_mul(BAND_ROWS).max(1);
    let mut scratch = vec![0u8; band];
    for chunk in p.data.chunks_mut(band) {
        let src = scratch
            .get_mut(..chunk.len())
            .ok_or_else(|| Rejection::internal("ICC scratch"))?;
        src.copy_from_slice(chunk);
        t.transform(src, chunk)
            .map_err(|e| Rejection::internal(format!("ICC transform: {e:?}")))?;
    }
    Ok(())
}

/// A profile whose primaries and white point are sRGB's within a small tolerance needs no
/// conversion (most camera JPEGs embed sRGB; skipping saves a full pass).
fn is_srgb(p: &ColorProfile) -> bool {
    let s = ColorProfile::new_srgb();
    let close = |a: moxcms::Xyzd, b: moxcms::Xyzd| {
        (a.x - b.x).abs() < 0.002 && (a.y - b.y).abs() < 0.002 && (a.z - b.z).abs() < 0.002
    };
    close(p.red_colorant, s.red_colorant)
        && close(p.green_colorant, s.green_colorant)
        && close(p.blue_colorant, s.blue_colorant)
        && p.red_trc.is_some()
        && same_trc(p, &s)
}

fn same_trc(p: &ColorProfile, s: &ColorProfile) -> bool {
    // Same parametric curve (within float noise) or the very same table. A profile whose
    // curve is stored differently is simply converted: correct, only a little slower.
    use moxcms::ToneReprCurve as T;
    let curves = [
        (&p.red_trc, &s.red_trc),
        (&p.green_trc, &s.green_trc),
        (&p.blue_trc, &s.blue_trc),
    ];
    curves.iter().all(|(a, b)| match (a, b) {
        (Some(T::Parametric(x)), Some(T::Parametric(y))) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(u, v)| (u - v).abs() < 1e-3)
        }
        (Some(x), Some(y)) => x == y,
        _ => false,
    })
}
