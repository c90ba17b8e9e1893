//! The PNG row filter of an output, chosen by trial.
//!
//! No one filter compresses every image best, and neither does the usual per-row heuristic
//! (libpng's and png's `Adaptive`: the filter whose row has the smallest sum of absolute
//! values). On the benchmark inputs at zlib level 5: a flat-coloured graphic's fit was 25%
//! smaller with no filter at all (545 against 731 KB, where libvips, which does not filter,
//! wrote 562), an upscaled photo's full-size gray was 8% smaller with `Up` alone (3.28 against
//! 3.55 MB), and a graphic's gray 12% smaller with `Sub`. So each candidate filter is applied
//! to a sample of the image's rows, each with its true previous row, and the sample deflated
//! at a fast level; the output is written with the filter whose sample came out smallest.
//! The sample is the whole image when it is small, else evenly spaced bands of rows.

use flate2::write::ZlibEncoder;
use std::io::Write;

/// The most bytes of rows in a trial sample: large enough to see an image's texture, small
/// enough that trying six filters costs a small part of the real encode (each trial deflates
/// at [`TRIAL_LEVEL`], about half the cost a byte of level 5). Samples of 32 KiB to 512 KiB
/// chose the same filter for all nine benchmark PNG outputs.
const SAMPLE_BYTES: usize = 128 * 1024;

/// The smallest sample: a small image is sampled whole up to this size, and a larger one in
/// a quarter of its bytes but at least this many (a 200x125 RGBA thumbnail's six trials cost
/// more than its encode when the whole of it was tried).
const MIN_SAMPLE_BYTES: usize = 32 * 1024;

/// Rows in one band of the sample: a band's rows keep their neighbours, so a filter that
/// works across rows (or an LZ match a row above) is judged as it will be used.
const BAND_ROWS: usize = 16;

/// The zlib level of the trials. Level 2 ranks the filters as level 5 does on every benchmark
/// output tried (the 9 PNG outputs), at about half its time.
const TRIAL_LEVEL: u32 = 2;

/// How much smaller, in per cent, another filter's sample must come out than `Adaptive`'s for
/// that filter to be taken. A sample is a part of the image: on a 1024x640 graphic, a 128 KiB
/// sample had `Up` 0.3% ahead of `Adaptive`, which was 2.3% ahead on the whole image. The
/// wins that matter are large (8-41% on the benchmark outputs).
const MARGIN_PERCENT: usize = 2;

/// The candidates, in the order of preference when two samples tie.
const CANDIDATES: [png::Filter; 6] = [
    png::Filter::Adaptive,
    png::Filter::NoFilter,
    png::Filter::Sub,
    png::Filter::Up,
    png::Filter::Avg,
    png::Filter::Paeth,
];

/// The filter chosen for an image, and what its sample said the whole image would come to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    pub filter: png::Filter,
    /// The chosen filter's deflated sample scaled to the whole image, in bytes (level 2
    /// compresses no better than the output's level, so a representative sample
    /// overestimates). `None` for the fallback choice.
    pub expected: Option<usize>,
}

impl Choice {
    const FALLBACK: Choice = Choice {
        filter: png::Filter::Adaptive,
        expected: None,
    };

    /// Whether an output of `len` bytes written with this choice is so far above what its
    /// sample said ([`MISLED_PERCENT`]) that the sample was not like the rest of the image,
    /// and the output should be written again with `Adaptive` to keep the smaller. Only a
    /// filter other than `Adaptive` can be misled: `Adaptive` is the former fixed choice.
    pub fn misled(&self, len: usize) -> bool {
        match self.expected {
            Some(e) if self.filter != png::Filter::Adaptive => {
                len.saturating_mul(100) > e.saturating_mul(100usize.saturating_add(MISLED_PERCENT))
            }
            _ => false,
        }
    }
}

/// The bytes of a PNG file around its deflated rows: signature, IHDR, the IDAT chunk's
/// framing and IEND (57), rounded up; the forecast adds them.
const PNG_OVERHEAD: usize = 64;

/// How far above its sample's forecast, in per cent, an output must come out for the sample
/// to count as misleading. The nine benchmark outputs came out at most 8% above their
/// forecasts (most below). Of 144 outputs of the shared corpus, the bench inputs and two
/// images a helper made to fool the sample (sampled bands built for `Up`, every other row for
/// `Sub`: 2.2 and 3.7 times the `Adaptive` size), four were more than 25% above: those two
/// and two corpus images whose sample misjudged them (a 2048x1536 graphic's gray 3.9 times
/// its forecast, 8.8% larger than with `Adaptive`).
pub const MISLED_PERCENT: usize = 25;

/// The filter for an 8-bit image of `bpp` bytes a pixel whose rows, `stride` bytes each, are
/// `data`. Falls back to `Adaptive` (the former fixed choice) if anything is off.
pub fn choose(data: &[u8], stride: usize, bpp: usize) -> Choice {
    if stride == 0 || bpp == 0 || data.is_empty() || data.len().checked_rem(stride) != Some(0) {
        return Choice::FALLBACK;
    }
    let rows = data.len().checked_div(stride).unwrap_or(0);
    let picked = sample_rows(rows, stride);
    let mut best = (png::Filter::Adaptive, usize::MAX);
    for filter in CANDIDATES {
        let Some(size) = trial(data, stride, bpp, &picked, filter) else {
            return Choice::FALLBACK;
        };
        // Adaptive is tried first; another filter must beat it by more than the sample's
        // noise, [`MARGIN_PERCENT`], to be taken.
        let bar = if best.1 == usize::MAX {
            usize::MAX
        } else if best.0 == png::Filter::Adaptive {
            best.1
                .saturating_mul(100usize.saturating_sub(MARGIN_PERCENT))
                .checked_div(100)
                .unwrap_or(0)
        } else {
            best.1
        };
        if size < bar {
            best = (filter, size);
        }
    }
    let expected = best
        .1
        .saturating_mul(rows)
        .checked_div(picked.len().max(1))
        .unwrap_or(usize::MAX)
        .saturating_add(PNG_OVERHEAD);
    Choice {
        filter: best.0,
        expected: Some(expected),
    }
}

/// The row numbers of the sample: every row of an image of at most [`MIN_SAMPLE_BYTES`],
/// else bands of [`BAND_ROWS`] spread evenly from top to bottom, a quarter of the image's
/// bytes but at least [`MIN_SAMPLE_BYTES`] and at most [`SAMPLE_BYTES`] (a band that does not
/// fit is still one band).
fn sample_rows(rows: usize, stride: usize) -> Vec<usize> {
    let total = rows.saturating_mul(stride);
    let sample_bytes = total
        .checked_div(4)
        .unwrap_or(0)
        .clamp(MIN_SAMPLE_BYTES, SAMPLE_BYTES);
    if total <= sample_bytes {
        return (0..rows).collect();
    }
    let band_bytes = BAND_ROWS.saturating_mul(stride).max(1);
    let bands = sample_bytes.checked_div(band_bytes).unwrap_or(0).max(1);
    let total_bands = rows.div_ceil(BAND_ROWS).max(1);
    let step = total_bands.checked_div(bands).unwrap_or(1).max(1);
    let mut out = Vec::new();
    let mut band = step.checked_div(2).unwrap_or(0);
    while band < total_bands && out.len() < bands.saturating_mul(BAND_ROWS) {
        let start = band.saturating_mul(BAND_ROWS);
        out.extend(start..start.saturating_add(BAND_ROWS).min(rows));
        band = band.saturating_add(step);
    }
    out
}

/// The deflated size of the sample filtered with `filter`, or `None` on a deflate error.
fn trial(
    data: &[u8],
    stride: usize,
    bpp: usize,
    picked: &[usize],
    filter: png::Filter,
) -> Option<usize> {
    let zero = vec![0u8; stride];
    let mut z = ZlibEncoder::new(Vec::new(), flate2::Compression::new(TRIAL_LEVEL));
    let mut line = Vec::with_capacity(stride.saturating_add(1));
    let mut scratch = Vec::with_capacity(stride.saturating_add(1));
    for &y in picked {
        let row = data.get(y.checked_mul(stride)?..y.saturating_add(1).checked_mul(stride)?)?;
        let prev = match y.checked_sub(1) {
            Some(p) => data.get(p.checked_mul(stride)?..y.checked_mul(stride)?)?,
            None => &zero,
        };
        match fixed_kind(filter) {
            None => {
                let mut best_sum = u64::MAX;
                for kind in 0u8..=4 {
                    filter_row(kind, row, prev, bpp, &mut scratch);
                    let sum = signed_sum(scratch.get(1..).unwrap_or(&[]));
                    if sum < best_sum {
                        best_sum = sum;
                        std::mem::swap(&mut line, &mut scratch);
                    }
                }
            }
            Some(kind) => filter_row(kind, row, prev, bpp, &mut line),
        }
        z.write_all(&line).ok()?;
    }
    z.finish().ok().map(|v| v.len())
}

/// The filter-type byte of a fixed filter; `None` for `Adaptive` (and any other per-row
/// heuristic, judged as `Adaptive`).
fn fixed_kind(filter: png::Filter) -> Option<u8> {
    match filter {
        png::Filter::NoFilter => Some(0),
        png::Filter::Sub => Some(1),
        png::Filter::Up => Some(2),
        png::Filter::Avg => Some(3),
        png::Filter::Paeth => Some(4),
        _ => None,
    }
}

/// The per-row heuristic of png's `Adaptive` filter: the sum of the filtered bytes read as
/// signed values, in absolute value.
fn signed_sum(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .map(|&b| u64::from(i8::from_ne_bytes([b]).unsigned_abs()))
        .sum()
}

/// Writes the PNG filter-type byte `kind` (0 None, 1 Sub, 2 Up, 3 Average, 4 Paeth) and `row`
/// filtered against `prev` (the row above; zeros above the first) into `out`.
fn filter_row(kind: u8, row: &[u8], prev: &[u8], bpp: usize, out: &mut Vec<u8>) {
    out.clear();
    out.push(kind);
    // `left` and `upleft` are the bytes `bpp` before; zero before the row's first pixel.
    let lefts = std::iter::repeat_n(0u8, bpp).chain(row.iter().copied());
    let uplefts = std::iter::repeat_n(0u8, bpp).chain(prev.iter().copied());
    let it = row.iter().zip(prev).zip(lefts.zip(uplefts));
    match kind {
        1 => out.extend(it.map(|((&x, _), (a, _))| x.wrapping_sub(a))),
        2 => out.extend(it.map(|((&x, &b), _)| x.wrapping_sub(b))),
        3 => out.extend(it.map(|((&x, &b), (a, _))| {
            let avg = u16::from(a).saturating_add(u16::from(b)) >> 1;
            x.wrapping_sub(u8::try_from(avg).unwrap_or(u8::MAX))
        })),
        4 => out.extend(it.map(|((&x, &b), (a, c))| x.wrapping_sub(paeth(a, b, c)))),
        _ => out.extend_from_slice(row),
    }
}

/// The Paeth predictor of the PNG specification.
fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let (ia, ib, ic) = (i16::from(a), i16::from(b), i16::from(c));
    let p = ia.saturating_add(ib).saturating_sub(ic);
    let (pa, pb, pc) = (
        p.saturating_sub(ia).abs(),
        p.saturating_sub(ib).abs(),
        p.saturating_sub(ic).abs(),
    );
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    reason = "tests: a failure is a failed test"
)]
mod tests {
    use super::*;
    use crate::testkit as tk;

    /// png's own encoder with `filter`, at the product's level: the size to compare (RGB).
    fn encoded(data: &[u8], w: u32, h: u32, filter: png::Filter) -> usize {
        encoded_as(png::ColorType::Rgb, data, w, h, filter)
    }

    fn encoded_as(ct: png::ColorType, data: &[u8], w: u32, h: u32, filter: png::Filter) -> usize {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(ct);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_deflate_compression(png::DeflateCompression::Level(
            crate::core::encode::PNG_LEVEL,
        ));
        enc.set_filter(filter);
        let mut wr = enc.write_header().unwrap();
        wr.write_image_data(data).unwrap();
        wr.finish().unwrap();
        out.len()
    }

    /// Our filters against the PNG specification's definitions, and against png's decoder:
    /// a row filtered here and unfiltered there gives the row back.
    #[test]
    fn each_filter_follows_the_specification() {
        let prev = [10u8, 20, 30, 40, 50, 60];
        let row = [15u8, 5, 250, 41, 0, 255];
        let mut out = Vec::new();
        filter_row(0, &row, &prev, 3, &mut out);
        assert_eq!(out, [0, 15, 5, 250, 41, 0, 255]);
        filter_row(1, &row, &prev, 3, &mut out);
        assert_eq!(out, [1, 15, 5, 250, 26, 251, 5]);
        filter_row(2, &row, &prev, 3, &mut out);
        assert_eq!(out, [2, 5, 241, 220, 1, 206, 195]);
        filter_row(3, &row, &prev, 3, &mut out);
        // x - floor((left + up) / 2): 15-5, 5-10, 250-15, 41-(15+40)/2, 0-(5+50)/2, 255-(250+60)/2
        assert_eq!(out, [3, 10, 251, 235, 14, 229, 100]);
        filter_row(4, &row, &prev, 3, &mut out);
        // First pixel: a = c = 0, so the predictor is b (up); then paeth(left, up, upleft).
        let want: Vec<u8> = std::iter::once(4)
            .chain((0..6).map(|i| {
                let (a, c) = if i < 3 {
                    (0, 0)
                } else {
                    (row[i - 3], prev[i - 3])
                };
                row[i].wrapping_sub(paeth(a, prev[i], c))
            }))
            .collect();
        assert_eq!(out, want);
        assert_eq!(paeth(10, 20, 10), 20);
        assert_eq!(paeth(20, 10, 10), 20);
        assert_eq!(paeth(10, 10, 20), 10);
    }

    /// Flat colour with sharp edges (a graphic): no filter beats `Adaptive`, and the chosen
    /// filter's PNG is no larger than the old fixed choice's.
    #[test]
    fn a_flat_graphic_gets_a_filter_no_worse_than_adaptive() {
        let (w, h) = (300u32, 200u32);
        let mut data = Vec::new();
        for y in 0..h {
            for x in 0..w {
                let c = if (x / 37 + y / 23) % 3 == 0 {
                    [200, 30, 90]
                } else {
                    [20, 200, 240]
                };
                data.extend_from_slice(&c);
            }
        }
        let f = choose(&data, w as usize * 3, 3).filter;
        let chosen = encoded(&data, w, h, f);
        assert!(chosen <= encoded(&data, w, h, png::Filter::Adaptive));
    }

    /// Rows of noise, each the row above plus 128: `Up` leaves a constant 128 that deflates
    /// to almost nothing, while the per-row heuristic of `Adaptive`, which counts 128 as the
    /// largest value a byte can have, picks a filter that leaves noise. The trial picks `Up`;
    /// the sample spans a large image's height in bands.
    #[test]
    fn a_filter_the_heuristic_misses_is_found_and_large_images_are_sampled_in_bands() {
        let (w, h) = (1024u32, 600u32);
        let mut state = 12345u32;
        let mut row: Vec<u8> = (0..w * 3)
            .map(|_| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (state >> 24) as u8
            })
            .collect();
        let mut data = Vec::new();
        for _ in 0..h {
            data.extend_from_slice(&row);
            row.iter_mut().for_each(|v| *v = v.wrapping_add(128));
        }
        let stride = w as usize * 3;
        let rows = sample_rows(h as usize, stride);
        assert!(rows.len() * stride <= SAMPLE_BYTES && rows.len() >= BAND_ROWS);
        assert!(
            *rows.last().unwrap() > h as usize / 2,
            "the sample reaches the lower half"
        );
        assert_eq!(choose(&data, stride, 3).filter, png::Filter::Up);
        let (up, adaptive) = (
            encoded(&data, w, h, png::Filter::Up),
            encoded(&data, w, h, png::Filter::Adaptive),
        );
        assert!(up * 2 < adaptive, "Up {up} against Adaptive {adaptive}");
        assert_eq!(sample_rows(10, 3), (0..10).collect::<Vec<_>>());
    }

    /// An image made to mislead the sample: its sampled bands are built for `Up` (rows of
    /// noise, each the row above plus 128), every other row is a random walk that `Sub` and
    /// `Adaptive` deflate well and `Up` does not (a helper's). The trial picks `Up`, the output
    /// comes out far above the sample's forecast, and the encoder writes it again with
    /// `Adaptive`: never larger than the former fixed choice.
    #[test]
    fn a_sample_made_to_mislead_costs_nothing_in_size() {
        let (w, h) = (1024u32, 1024u32);
        let stride = w as usize;
        let sampled: std::collections::HashSet<usize> =
            sample_rows(h as usize, stride).into_iter().collect();
        let mut rng = tk::Rng(0x0DDB_A11C_0FFE_E123);
        let mut data = vec![0u8; stride * h as usize];
        for y in 0..h as usize {
            let (prev, row) = data.split_at_mut(y * stride);
            let row = &mut row[..stride];
            if sampled.contains(&y) && y > 0 && sampled.contains(&(y - 1)) {
                for (v, p) in row.iter_mut().zip(&prev[(y - 1) * stride..]) {
                    *v = p.wrapping_add(128);
                }
            } else if sampled.contains(&y) {
                row.iter_mut().for_each(|v| *v = rng.below(256) as u8);
            } else {
                let mut x = rng.below(256) as i32;
                for v in row.iter_mut() {
                    x = (x + rng.below(5) as i32 - 2).clamp(0, 255);
                    *v = x as u8;
                }
            }
        }
        let choice = choose(&data, stride, 1);
        assert_eq!(choice.filter, png::Filter::Up, "the sample is misled");
        let p = crate::core::pixels::Pixels::new(w, h, crate::core::pixels::Layout::Gray, data)
            .unwrap();
        let out = crate::core::encode::encode(&p, crate::core::Format::Png, false).unwrap();
        let gray = |filter| encoded_as(png::ColorType::Grayscale, &p.data, w, h, filter);
        let (up, adaptive) = (gray(png::Filter::Up), gray(png::Filter::Adaptive));
        assert!(
            up * 2 > adaptive * 3,
            "Up {up} against Adaptive {adaptive}: not misleading"
        );
        assert!(choice.misled(up), "forecast {:?} for {up}", choice.expected);
        assert!(out.len() <= adaptive, "{} against {adaptive}", out.len());
        assert_eq!(tk::decode(&out).data, p.data);
    }

    /// Inputs the caller should never give fall back to the former fixed choice.
    #[test]
    fn odd_arguments_give_adaptive() {
        assert_eq!(choose(&[], 3, 3), Choice::FALLBACK);
        assert_eq!(choose(&[1, 2, 3, 4], 3, 3), Choice::FALLBACK);
        assert_eq!(choose(&[1, 2, 3], 0, 3), Choice::FALLBACK);
        assert!(!Choice::FALLBACK.misled(usize::MAX));
    }
}
