//! The operations: fit inside a box (never enlarging, aspect kept) and grayscale.

use fast_image_resize as fr;

use super::error::Rejection;
use super::pixels::{buffer_len, Layout, Pixels};

/// The size that fits `w`×`h` inside a `bx`×`bx` box: the long side becomes `bx`, the short
/// side `max(1, round_half_up(short * bx / long))`; images already inside are not enlarged.
pub fn fit_size(w: u32, h: u32, bx: u32) -> (u32, u32) {
    if w <= bx && h <= bx {
        return (w, h);
    }
    let (long, short) = (u64::from(w.max(h)), u64::from(w.min(h)));
    // round_half_up(short * bx / long) = floor((2 * short * bx + long) / (2 * long)); u64
    // cannot overflow: every factor is below 2^32.
    let num = short
        .saturating_mul(u64::from(bx))
        .saturating_mul(2)
        .saturating_add(long);
    let den = long.saturating_mul(2).max(1);
    let s = u32::try_from(num.checked_div(den).unwrap_or(0))
        .unwrap_or(bx)
        .clamp(1, bx);
    if w >= h {
        (bx, s)
    } else {
        (s, bx)
    }
}

fn pixel_type(l: Layout) -> fr::PixelType {
    match l {
        Layout::Gray => fr::PixelType::U8,
        Layout::GrayAlpha => fr::PixelType::U8x2,
        Layout::Rgb => fr::PixelType::U8x3,
        Layout::Rgba => fr::PixelType::U8x4,
    }
}

/// The one filter every resize uses: Lanczos3 in the stored values, alpha premultiplied by the
/// caller (so the resizer must not do it again).
fn lanczos3() -> fr::ResizeOptions {
    let filter = fr::Filter::new("Lanczos3", lanczos3_kernel, 3.0)
        .map(fr::FilterType::Custom)
        .unwrap_or(fr::FilterType::Lanczos3);
    fr::ResizeOptions::new()
        .resize_alg(fr::ResizeAlg::Convolution(filter))
        .use_alpha(false)
}

/// The Lanczos3 kernel, sinc(x) sinc(x / 3) for |x| < 3, with one sine instead of two:
/// sin(pi x) = 3 s - 4 s^3 where s = sin(pi x / 3), so the kernel is
/// 3 s^2 (3 - 4 s^2) / (pi x)^2. The same values as fast_image_resize's own Lanczos3 to the
/// last few bits of an f64, at half the cost: its weights are computed again for every band a
/// [`BandResizer`] resamples, and the sines were 6-9% of a large JPEG's or PNG's thumbnail
/// (perf).
fn lanczos3_kernel(x: f64) -> f64 {
    if x == 0.0 {
        return 1.0;
    }
    if !(-3.0..3.0).contains(&x) {
        return 0.0;
    }
    let s = (std::f64::consts::PI * x / 3.0).sin();
    let s2 = s * s;
    let px = std::f64::consts::PI * x;
    3.0 * s2 * (3.0 - 4.0 * s2) / (px * px)
}

fn resize_error(e: impl std::fmt::Debug) -> Rejection {
    Rejection::internal(format!("resize: {e:?}"))
}

/// Resamples to `w`×`h` with Lanczos3 in the stored (sRGB-encoded) values, as Pillow and
/// libvips do. Alpha is premultiplied in place first so transparent pixels do not bleed their
/// hidden colour into the edges, and no second full-size copy of the source is made.
pub fn resize(mut p: Pixels, w: u32, h: u32) -> Result<Pixels, Rejection> {
    if (w, h) == (p.width, p.height) {
        return Ok(p);
    }
    let pt = pixel_type(p.layout);
    let alpha = p.layout.has_alpha();
    let muldiv = fr::MulDiv::default();
    let (sw, sh) = (p.width, p.height);
    let mut src =
        fr::images::Image::from_slice_u8(sw, sh, &mut p.data, pt).map_err(resize_error)?;
    if alpha {
        muldiv
            .multiply_alpha_inplace(&mut src)
            .map_err(resize_error)?;
    }
    let mut dst = fr::images::Image::new(w, h, pt);
    let opts = lanczos3();
    fr::Resizer::new()
        .resize(&src, &mut dst, &opts)
        .map_err(resize_error)?;
    if alpha {
        muldiv
            .divide_alpha_inplace(&mut dst)
            .map_err(resize_error)?;
    }
    let data = dst.into_vec();
    Pixels::new(w, h, p.layout, data)
}

/// Bytes of source rows gathered before one horizontal pass of a [`BandResizer`]: large enough
/// that the filter weights (computed again for every pass) cost little, small enough that the
/// band stays a small part of the memory a full-size image would take.
const BAND_BYTES: usize = 2 * 1024 * 1024;

/// Shrinks an image that arrives a band of rows at a time, so the full-size image is never
/// held: each band is premultiplied (if it has alpha) and resampled horizontally into an
/// intermediate image `dst_w` wide and as tall as the source, then [`BandResizer::finish`]
/// resamples that vertically. The filter is [`resize`]'s Lanczos3 in the stored values.
///
/// `extent` is the part of the source, in its own pixels, that maps onto the whole output:
/// the source size for an ordinary image, and a fraction of a pixel less for a subsampled
/// JPEG chroma plane whose last column or row is only half covered by the image.
pub struct BandResizer {
    layout: Layout,
    src_w: u32,
    src_h: u32,
    dst_w: u32,
    dst_h: u32,
    extent: (f64, f64),
    band: Vec<u8>,
    band_rows: usize,
    rows_in: u32,
    inter: Vec<u8>,
    inter_rows: u32,
    resizer: fr::Resizer,
}

impl BandResizer {
    /// A resizer from `src_w`×`src_h` to `dst_w`×`dst_h`. A plane may grow (the chroma of a
    /// subsampled JPEG whose output is larger than the chroma plane): the fit box, not this,
    /// keeps the image as a whole from being enlarged.
    pub fn new(
        src_w: u32,
        src_h: u32,
        layout: Layout,
        (dst_w, dst_h): (u32, u32),
        extent: (f64, f64),
    ) -> Result<Self, Rejection> {
        let (ew, eh) = extent;
        let fits = |e: f64, s: u32| e > 0.0 && e <= f64::from(s) && e > f64::from(s) - 1.0;
        if dst_w == 0 || dst_h == 0 || !fits(ew, src_w) || !fits(eh, src_h) {
            return Err(Rejection::internal(format!(
                "band resize of {src_w}x{src_h} (extent {ew}x{eh}) to {dst_w}x{dst_h}"
            )));
        }
        let stride = (src_w as usize).saturating_mul(layout.channels());
        let band_rows = BAND_BYTES
            .checked_div(stride)
            .unwrap_or(1)
            .clamp(1, src_h as usize);
        Ok(BandResizer {
            layout,
            src_w,
            src_h,
            dst_w,
            dst_h,
            extent,
            band: Vec::with_capacity(band_rows.saturating_mul(stride)),
            band_rows,
            rows_in: 0,
            inter: vec![0u8; buffer_len(dst_w, src_h, layout)?],
            inter_rows: 0,
            resizer: fr::Resizer::new(),
        })
    }

    /// Bytes in one source row.
    pub fn src_stride(&self) -> usize {
        (self.src_w as usize).saturating_mul(self.layout.channels())
    }

    /// Takes whole source rows, top to bottom; more rows than the source has is an error.
    pub fn push_rows(&mut self, mut rows: &[u8]) -> Result<(), Rejection> {
        let stride = self.src_stride();
        let count = match rows.len().checked_rem(stride) {
            Some(0) => rows.len().checked_div(stride).unwrap_or(0),
            _ => return Err(Rejection::internal("band resize: a partial row")),
        };
        let count = u32::try_from(count).unwrap_or(u32::MAX);
        self.rows_in = self
            .rows_in
            .checked_add(count)
            .filter(|&n| n <= self.src_h)
            .ok_or_else(|| Rejection::corrupt("more rows than the image height"))?;
        let cap = self.band_rows.saturating_mul(stride);
        while !rows.is_empty() {
            let room = cap.saturating_sub(self.band.len()).min(rows.len());
            let (now, rest) = rows.split_at(room);
            self.band.extend_from_slice(now);
            rows = rest;
            if self.band.len() >= cap {
                self.flush()?;
            }
        }
        Ok(())
    }

    /// Resamples the gathered band horizontally into its rows of the intermediate image.
    fn flush(&mut self) -> Result<(), Rejection> {
        let stride = self.src_stride();
        let rows = u32::try_from(self.band.len().checked_div(stride).unwrap_or(0)).unwrap_or(0);
        if rows == 0 {
            return Ok(());
        }
        let pt = pixel_type(self.layout);
        let mut src = fr::images::Image::from_slice_u8(self.src_w, rows, &mut self.band, pt)
            .map_err(resize_error)?;
        if self.layout.has_alpha() {
            fr::MulDiv::default()
                .multiply_alpha_inplace(&mut src)
                .map_err(resize_error)?;
        }
        let at = buffer_len(self.dst_w, self.inter_rows, self.layout)?;
        let len = buffer_len(self.dst_w, rows, self.layout)?;
        let out = self
            .inter
            .get_mut(at..at.saturating_add(len))
            .ok_or_else(|| Rejection::internal("band resize: intermediate rows"))?;
        if self.dst_w == self.src_w && self.extent.0 == f64::from(self.src_w) {
            drop(src);
            out.copy_from_slice(&self.band);
        } else {
            let mut dst = fr::images::Image::from_slice_u8(self.dst_w, rows, out, pt)
                .map_err(resize_error)?;
            let opts = lanczos3().crop(0.0, 0.0, self.extent.0, f64::from(rows));
            self.resizer
                .resize(&src, &mut dst, &opts)
                .map_err(resize_error)?;
        }
        self.inter_rows = self.inter_rows.saturating_add(rows);
        self.band.clear();
        Ok(())
    }

    /// The output, once every source row has arrived (fewer is an error: a decoder that
    /// stops early must not pass for a short image).
    pub fn finish(mut self) -> Result<Pixels, Rejection> {
        if self.rows_in != self.src_h {
            return Err(Rejection::corrupt(format!(
                "image ended after {} of its {} rows",
                self.rows_in, self.src_h
            )));
        }
        self.flush()?;
        let pt = pixel_type(self.layout);
        let mut out = if self.dst_h == self.src_h && self.extent.1 == f64::from(self.src_h) {
            fr::images::Image::from_vec_u8(
                self.dst_w,
                self.dst_h,
                std::mem::take(&mut self.inter),
                pt,
            )
            .map_err(resize_error)?
        } else {
            let src = fr::images::Image::from_slice_u8(self.dst_w, self.src_h, &mut self.inter, pt)
                .map_err(resize_error)?;
            let mut dst = fr::images::Image::new(self.dst_w, self.dst_h, pt);
            let opts = lanczos3().crop(0.0, 0.0, f64::from(self.dst_w), self.extent.1);
            self.resizer
                .resize(&src, &mut dst, &opts)
                .map_err(resize_error)?;
            dst
        };
        if self.layout.has_alpha() {
            fr::MulDiv::default()
                .divide_alpha_inplace(&mut out)
                .map_err(resize_error)?;
        }
        Pixels::new(self.dst_w, self.dst_h, self.layout, out.into_vec())
    }
}

/// ITU-R 601 luma, as Pillow's `convert("L")`: L = (19595 R + 38470 G + 7471 B + 2^15) >> 16.
fn luma(r: u8, g: u8, b: u8) -> u8 {
    let l = 19595u32
        .saturating_mul(u32::from(r))
        .saturating_add(38470u32.saturating_mul(u32::from(g)))
        .saturating_add(7471u32.saturating_mul(u32::from(b)))
        .saturating_add(1 << 15);
    u8::try_from(l >> 16).unwrap_or(u8::MAX)
}

/// Appends the gray of one row of `layout` pixels to `out` (alpha kept), as [`grayscale`]
/// computes it.
pub fn push_gray(row: &[u8], layout: Layout, out: &mut Vec<u8>) -> Result<(), Rejection> {
    match layout {
        Layout::Rgb => {
            for px in row.chunks_exact(3) {
                if let [r, g, b] = *px {
                    out.push(luma(r, g, b));
                }
            }
        }
        Layout::Rgba => {
            for px in row.chunks_exact(4) {
                if let [r, g, b, a] = *px {
                    out.extend_from_slice(&[luma(r, g, b), a]);
                }
            }
        }
        Layout::Gray | Layout::GrayAlpha => out.extend_from_slice(row),
    }
    Ok(())
}

/// Grayscale in place (the buffer shrinks; no second full-size buffer). Alpha is kept.
pub fn grayscale(mut p: Pixels) -> Result<Pixels, Rejection> {
    let (out_layout, ch) = match p.layout {
        Layout::Gray | Layout::GrayAlpha => return Ok(p),
        Layout::Rgb => (Layout::Gray, 3usize),
        Layout::Rgba => (Layout::GrayAlpha, 4usize),
    };
    let out_ch = out_layout.channels();
    let n = (p.width as usize).saturating_mul(p.height as usize);
    for i in 0..n {
        let at = i.saturating_mul(ch);
        let px = p
            .data
            .get(at..at.saturating_add(ch))
            .ok_or_else(|| Rejection::internal("grayscale index"))?;
        let (Some(&r), Some(&g), Some(&b)) = (px.first(), px.get(1), px.get(2)) else {
            return Err(Rejection::internal("grayscale pixel"));
        };
        let a = px.get(3).copied();
        let w = i.saturating_mul(out_ch);
        if let Some(slot) = p.data.get_mut(w) {
            *slot = luma(r, g, b);
        }
        if let (Some(a), Some(slot)) = (a, p.data.get_mut(w.saturating_add(1))) {
            *slot = a;
        }
    }
    p.data.truncate(buffer_len(p.width, p.height, out_layout)?);
    // The gray image is a third or half of the colour one: give the rest back before the
    // encoder allocates its own buffers (4.6 MiB of a 1920x1200 RGBA image's lossless WebP
    // grayscale, whose peak RSS was 34 MiB).
    p.data.shrink_to_fit();
    Pixels::new(p.width, p.height, out_layout, p.data)
}

#[cfg(test)]
#[allow(
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "tests: sizes and sample values are the test's own"
)]
mod tests {
    use super::*;

    /// The one-sine kernel against the definition, sinc(x) sinc(x / 3).
    #[test]
    fn the_lanczos3_kernel_is_sinc_times_sinc() {
        let sinc = |x: f64| {
            if x == 0.0 {
                1.0
            } else {
                (std::f64::consts::PI * x).sin() / (std::f64::consts::PI * x)
            }
        };
        for i in -3100..=3100 {
            let x = f64::from(i) / 1000.0;
            let want = if x.abs() < 3.0 {
                sinc(x) * sinc(x / 3.0)
            } else {
                0.0
            };
            let got = lanczos3_kernel(x);
            assert!((got - want).abs() < 1e-12, "{x}: {got} against {want}");
        }
    }

    #[test]
    fn fit_sizes() {
        assert_eq!(fit_size(4000, 3000, 1024), (1024, 768));
        assert_eq!(fit_size(3000, 4000, 200), (150, 200));
        assert_eq!(fit_size(800, 600, 1024), (800, 600)); // never enlarged
        assert_eq!(fit_size(1, 4096, 200), (1, 200)); // at least one pixel
        assert_eq!(fit_size(4096, 1, 200), (200, 1));
        assert_eq!(fit_size(227, 149, 200), (200, 131)); // 131.28 -> 131
        assert_eq!(fit_size(2400, 2000, 200), (200, 167)); // 166.67 -> 167
        assert_eq!(fit_size(1280, 720, 1024), (1024, 576));
        assert_eq!(fit_size(550, 368, 200), (200, 134)); // 133.8 -> 134
        assert_eq!(fit_size(4096, 4096, 1024), (1024, 1024));
    }

    #[test]
    fn luma_matches_pillow() {
        assert_eq!(luma(255, 255, 255), 255);
        assert_eq!(luma(0, 0, 0), 0);
        assert_eq!(luma(255, 0, 0), 76);
        assert_eq!(luma(0, 255, 0), 150);
        assert_eq!(luma(0, 0, 255), 29);
    }

    #[test]
    fn grayscale_keeps_alpha() {
        let p = Pixels::new(2, 1, Layout::Rgba, vec![255, 0, 0, 10, 0, 0, 255, 200]).unwrap();
        let g = grayscale(p).unwrap();
        assert_eq!(g.layout, Layout::GrayAlpha);
        assert_eq!(g.data, vec![76, 10, 29, 200]);
    }

    /// A busy test image with detail at every scale but no values near 0 or 255, so neither
    /// pass order clamps Lanczos3's overshoot and the two orders are comparable.
    fn busy(w: u32, h: u32, layout: Layout) -> Pixels {
        let ch = layout.channels();
        let mut data = Vec::new();
        for y in 0..h {
            for x in 0..w {
                for c in 0..ch {
                    let (x, y, c) = (f64::from(x), f64::from(y), c as f64);
                    let v = 128.0
                        + 50.0 * (x * 0.9 + y * 0.31 + c).sin()
                        + 40.0 * (x * 0.05 - y * 1.7 + 2.0 * c).cos();
                    data.push(v.round() as u8);
                }
            }
        }
        Pixels::new(w, h, layout, data).unwrap()
    }

    fn banded(p: &Pixels, to: (u32, u32), rows_per_push: usize) -> Pixels {
        let extent = (f64::from(p.width), f64::from(p.height));
        let mut b = BandResizer::new(p.width, p.height, p.layout, to, extent).unwrap();
        for rows in p.data.chunks(p.stride() * rows_per_push) {
            b.push_rows(rows).unwrap();
        }
        b.finish().unwrap()
    }

    #[test]
    fn band_resize_matches_the_whole_image_resize() {
        // Every layout, odd sizes, one-row pushes and pushes larger than a band, widths that
        // stay (only a vertical pass) and heights that stay (only a horizontal pass).
        let cases = [
            (Layout::Rgb, 1203, 901, (341, 255), 1),
            (Layout::Rgba, 640, 2000, (61, 191), 777),
            (Layout::Gray, 4000, 30, (1024, 8), 3),
            (Layout::GrayAlpha, 300, 500, (300, 200), 64),
            (Layout::Rgb, 700, 90, (100, 90), 90),
        ];
        for (layout, w, h, to, step) in cases {
            let p = busy(w, h, layout);
            let got = banded(&p, to, step);
            let want = resize(p.clone(), to.0, to.1).unwrap();
            assert_eq!((got.width, got.height, got.layout), (to.0, to.1, layout));
            // The passes run in the other order (horizontal first), so values may round
            // differently by a step or two; with alpha, un-premultiplying a partly transparent
            // pixel (alpha down to 38 here) can stretch that to three.
            let worst = got
                .data
                .iter()
                .zip(&want.data)
                .map(|(a, b)| a.abs_diff(*b))
                .max()
                .unwrap();
            let mean = got
                .data
                .iter()
                .zip(&want.data)
                .map(|(a, b)| f64::from(a.abs_diff(*b)))
                .sum::<f64>()
                / got.data.len() as f64;
            assert!(
                worst <= 3 && mean < 0.5,
                "{layout:?} {w}x{h}: worst {worst}, mean {mean}"
            );
        }
    }

    #[test]
    fn band_resize_refuses_missing_extra_and_partial_rows() {
        let p = busy(50, 40, Layout::Rgb);
        let ext = (50.0, 40.0);
        let mut short = BandResizer::new(50, 40, Layout::Rgb, (10, 8), ext).unwrap();
        short.push_rows(&p.data[..p.stride() * 39]).unwrap();
        assert_eq!(
            short.finish().unwrap_err().reason,
            crate::core::error::Reason::Corrupt
        );
        let mut long = BandResizer::new(50, 40, Layout::Rgb, (10, 8), ext).unwrap();
        long.push_rows(&p.data).unwrap();
        assert!(long.push_rows(&p.data[..p.stride()]).is_err());
        let mut partial = BandResizer::new(50, 40, Layout::Rgb, (10, 8), ext).unwrap();
        assert!(partial.push_rows(&p.data[..p.stride() + 1]).is_err());
        // An empty output, and an extent outside the source's last pixel, are our bugs.
        assert!(BandResizer::new(50, 40, Layout::Rgb, (0, 8), ext).is_err());
        assert!(BandResizer::new(50, 40, Layout::Rgb, (10, 8), (48.9, 40.0)).is_err());
    }

    #[test]
    fn resize_keeps_flat_colour_and_alpha() {
        let p = Pixels::new(64, 32, Layout::Rgba, [10u8, 200, 30, 255].repeat(64 * 32)).unwrap();
        let r = resize(p, 16, 8).unwrap();
        assert_eq!((r.width, r.height), (16, 8));
        assert!(r.data.chunks(4).all(|c| c == [10, 200, 30, 255]));
    }
}
