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
    let opts = fr::ResizeOptions::new()
        .resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Lanczos3))
        .use_alpha(false);
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

/// ITU-R 601 luma, as Pillow's `convert("L")`: L = (19595 R + 38470 G + 7471 B + 2^15) >> 16.
fn luma(r: u8, g: u8, b: u8) -> u8 {
    let l = 19595u32
        .saturating_mul(u32::from(r))
        .saturating_add(38470u32.saturating_mul(u32::from(g)))
        .saturating_add(7471u32.saturating_mul(u32::from(b)))
        .saturating_add(1 << 15);
    u8::try_from(l >> 16).unwrap_or(u8::MAX)
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
    Pixels::new(p.width, p.height, out_layout, p.data)
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn resize_keeps_flat_colour_and_alpha() {
        let p = Pixels::new(64, 32, Layout::Rgba, [10u8, 200, 30, 255].repeat(64 * 32)).unwrap();
        let r = resize(p, 16, 8).unwrap();
        assert_eq!((r.width, r.height), (16, 8));
        assert!(r.data.chunks(4).all(|c| c == [10, 200, 30, 255]));
    }
}
