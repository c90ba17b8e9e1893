//! A lossless WebP (VP8L) encoder that compresses about as well as libwebp's default effort.
//!
//! Why our own: image-webp's encoder, which wrote every lossless WebP output until now, uses
//! one predictor for the whole image, codes repeats only as runs of the previous pixel, and has
//! no LZ77 and no colour cache. Its outputs were 1.5 to 2.8 times libwebp's on the benchmark
//! graphic (BENCHMARKS.md). This encoder writes the same format with the tools the format has:
//!
//! - a colour-indexing transform (a palette, pixels bundled 2, 4 or 8 to a byte) when the image
//!   has at most 256 colours, tried against
//! - subtract-green plus the predictor transform, one of the 14 predictors per 16x16 tile,
//!   chosen by the entropy it adds to the residuals so far;
//! - LZ77 backward references from a hash chain (a 256 Ki-pixel window) that also tries the
//!   pixel to the left and the one above, coded with the format's 2D distance map;
//! - a colour cache, its size (none or 2 to 1024 entries) chosen by the exact coded size;
//! - one set of Huffman codes, optimal for the image, lengths limited to 15 bits.
//!
//! The smaller of the two candidates is kept. Not done (libwebp does them): several Huffman
//! code groups over the image, the cross-colour transform, and a cost-optimal parse.
//!
//! The bitstream follows the WebP Lossless Bitstream Specification (RFC 9649). The input is
//! our own decoded pixels, never an upload's bytes; every output is decoded again by
//! image-webp in the tests.

use super::error::Rejection;
use super::pixels::{Layout, Pixels};

/// VP8L stores each side minus one in 14 bits.
const MAX_SIDE: u32 = 16_384;
/// The predictor tile: 2^4 = 16 pixels a side.
const TILE_BITS: u32 = 4;
/// Longest copy the format codes.
const MAX_COPY: usize = 4096;
/// The hash chain: positions kept (a power of two) and buckets.
const WINDOW: usize = 1 << 20;
/// The farthest copy: the largest distance code is 2^20 - 1, and codes below 121 are the 2D
/// map's, so a plain distance `d` is code `d + 120`.
const MAX_DISTANCE: usize = (1 << 20) - 121;
const HASH_BITS: u32 = 18;
/// A match this long ends the search at a position.
const NICE_LENGTH: usize = 256;
/// Candidates followed along one chain: 32 made the benchmark graphic's outputs 0.3-1.3%
/// smaller than 16 for a sixth more time, 8 1-2% larger.
const CHAIN_DEPTH: usize = 16;
/// The 2D map's first codes, tried at every position besides the hash chain.
/// (the pixel above, the one to the left and the two above it diagonally: 12 made outputs
/// 0.1-0.5% smaller for a tenth more time).
const NEAR_CANDIDATES: usize = 4;
/// Largest colour cache tried: 2^10 entries.
const MAX_CACHE_BITS: u32 = 10;
/// The green alphabet: 256 literals, 24 length prefixes, then the cache indexes.
const LENGTH_CODES: usize = 24;
const DISTANCE_CODES: usize = 40;
/// The code-length alphabet and the order its lengths are sent in.
const CODE_LENGTH_ORDER: [usize; 19] = [
    17, 18, 0, 1, 2, 3, 4, 5, 16, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
];
/// The 2D distance map (RFC 9649, section 4.2.2): code `i + 1` is `dx + dy * width`.
const DISTANCE_MAP: [(i8, i8); 120] = [
    (0, 1),
    (1, 0),
    (1, 1),
    (-1, 1),
    (0, 2),
    (2, 0),
    (1, 2),
    (-1, 2),
    (2, 1),
    (-2, 1),
    (2, 2),
    (-2, 2),
    (0, 3),
    (3, 0),
    (1, 3),
    (-1, 3),
    (3, 1),
    (-3, 1),
    (2, 3),
    (-2, 3),
    (3, 2),
    (-3, 2),
    (0, 4),
    (4, 0),
    (1, 4),
    (-1, 4),
    (4, 1),
    (-4, 1),
    (3, 3),
    (-3, 3),
    (2, 4),
    (-2, 4),
    (4, 2),
    (-4, 2),
    (0, 5),
    (3, 4),
    (-3, 4),
    (4, 3),
    (-4, 3),
    (5, 0),
    (1, 5),
    (-1, 5),
    (5, 1),
    (-5, 1),
    (2, 5),
    (-2, 5),
    (5, 2),
    (-5, 2),
    (4, 4),
    (-4, 4),
    (3, 5),
    (-3, 5),
    (5, 3),
    (-5, 3),
    (0, 6),
    (6, 0),
    (1, 6),
    (-1, 6),
    (6, 1),
    (-6, 1),
    (2, 6),
    (-2, 6),
    (6, 2),
    (-6, 2),
    (4, 5),
    (-4, 5),
    (5, 4),
    (-5, 4),
    (3, 6),
    (-3, 6),
    (6, 3),
    (-6, 3),
    (0, 7),
    (7, 0),
    (1, 7),
    (-1, 7),
    (5, 5),
    (-5, 5),
    (7, 1),
    (-7, 1),
    (4, 6),
    (-4, 6),
    (6, 4),
    (-6, 4),
    (2, 7),
    (-2, 7),
    (7, 2),
    (-7, 2),
    (3, 7),
    (-3, 7),
    (7, 3),
    (-7, 3),
    (5, 6),
    (-5, 6),
    (6, 5),
    (-6, 5),
    (8, 0),
    (4, 7),
    (-4, 7),
    (7, 4),
    (-7, 4),
    (8, 1),
    (8, 2),
    (6, 6),
    (-6, 6),
    (8, 3),
    (5, 7),
    (-5, 7),
    (7, 5),
    (-7, 5),
    (8, 4),
    (6, 7),
    (-6, 7),
    (7, 6),
    (-7, 6),
    (8, 5),
    (7, 7),
    (-7, 7),
    (8, 6),
    (8, 7),
];

/// The largest image this encoder writes, in pixels: 2048 x 2048 (4.2 Mpx, whatever its
/// shape), every `fit` and `thumb` output and the grayscale op up to that size. Its time grows
/// with the pixels (0.2-0.3 s a megapixel on one core of the benchmark machine); a larger
/// image, which only the grayscale op gives, is written by image-webp's encoder, which was
/// ten times faster and 6-7% larger on the 12 Mpx benchmark photo, where LZ77 finds little
/// (BENCHMARKS.md).
pub const MAX_PIXELS: u64 = 2048 * 2048;

/// Encodes `p` as a lossless WebP file (RIFF, one VP8L chunk): with this encoder up to
/// [`MAX_PIXELS`], and only when image-webp decodes its output back to exactly `p`'s pixels;
/// otherwise (a larger image, or a bug of ours, caught here instead of shipped) with
/// image-webp's encoder.
pub fn encode(p: &Pixels) -> Result<Vec<u8>, Rejection> {
    let pixels = u64::from(p.width).saturating_mul(u64::from(p.height));
    if pixels <= MAX_PIXELS {
        let ours = std::panic::catch_unwind(|| encode_own(p)).ok().flatten();
        if let Some(out) = ours.filter(|out| decodes_to(out, p)) {
            return Ok(out);
        }
    }
    encode_image_webp(p)
}

/// image-webp's encoder: one predictor for the whole image, runs of the previous pixel.
fn encode_image_webp(p: &Pixels) -> Result<Vec<u8>, Rejection> {
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
        .map_err(|e| Rejection::internal(format!("WebP encoder: {e}")))?;
    Ok(out)
}

/// Does image-webp decode `bytes` to exactly `p`'s pixels (RGBA when it reports alpha, RGB
/// otherwise, the gray layouts widened as VP8L stores them)?
#[doc(hidden)]
pub fn decodes_to(bytes: &[u8], p: &Pixels) -> bool {
    let Ok(mut dec) = image_webp::WebPDecoder::new(std::io::Cursor::new(bytes)) else {
        return false;
    };
    if dec.dimensions() != (p.width, p.height) {
        return false;
    }
    let alpha = dec.has_alpha();
    let Some(size) = dec.output_buffer_size() else {
        return false;
    };
    let mut buf = vec![0u8; size];
    if dec.read_image(&mut buf).is_err() {
        return false;
    }
    let channels = if alpha { 4 } else { 3 };
    if buf.len()
        != p.data
            .len()
            .checked_div(p.layout.channels())
            .unwrap_or(0)
            .saturating_mul(channels)
    {
        return false;
    }
    let want = p.data.chunks_exact(p.layout.channels());
    buf.chunks_exact(channels).zip(want).all(|(got, want)| {
        let (rgb, a) = match *want {
            [g] => ([g, g, g], u8::MAX),
            [g, a] => ([g, g, g], a),
            [r, g, b] => ([r, g, b], u8::MAX),
            [r, g, b, a] => ([r, g, b], a),
            _ => return false,
        };
        got.get(..3) == Some(&rgb[..]) && got.get(3).is_none_or(|&x| x == a)
    })
}

/// Our encoder alone, without the check and the fallback of [`encode`]: the candidates below,
/// tried on a sample of the image, the smallest written. `None` for a size VP8L cannot hold.
/// Public for the libwebp conformance check (`examples/vp8l_conformance.rs`) and the fuzz
/// harness, which must see this encoder's own output.
#[doc(hidden)]
pub fn encode_own(p: &Pixels) -> Option<Vec<u8>> {
    if p.width == 0 || p.height == 0 || p.width > MAX_SIDE || p.height > MAX_SIDE {
        return None;
    }
    let argb = to_argb(p);
    let palette = palette_of(&argb);
    let choice = choose(&argb, p.width, p.height, palette.as_deref(), false);
    if let Some(bytes) = choice.whole {
        // The sample was the whole image: its smallest encoding is the output.
        return Some(riff(bytes));
    }
    let encode_with = |argb: Vec<u32>, candidate: Candidate, coding: Option<Coding>| match (
        candidate,
        palette.as_deref(),
    ) {
        (Candidate::Indexed, Some(palette)) => {
            Some(encode_indexed(&argb, p.width, p.height, palette, coding, true).0)
        }
        (Candidate::Spatial(t), _) => {
            let alpha = argb.iter().any(|&px| px >> 24 != 0xff);
            Some(encode_transformed(argb, p.width, p.height, alpha, t, coding, true).0)
        }
        // `choose` tries the palette only when there is one.
        (Candidate::Indexed, None) => None,
    };
    let out = encode_with(argb, choice.candidate, Some(choice.coding))?;
    // A sample unlike the rest of the image shows as an output far above the sample's
    // forecast (flat sampled rows chose no transform and no colour cache for an image that
    // needed them: a third larger; a helper's find). Then the candidate is chosen again on
    // bands between the first ones, the cache size and the parse searched over the whole
    // image, and the smaller output kept: a second trial and encode, only for such images.
    let height = usize::try_from(p.height).unwrap_or(usize::MAX);
    let forecast = choice
        .sample_bytes
        .saturating_mul(height)
        .checked_div(choice.sample_rows)
        .unwrap_or(0);
    if out.len() > forecast.saturating_add(forecast / 4) {
        let argb = to_argb(p);
        let second = choose(&argb, p.width, p.height, palette.as_deref(), true);
        if let Some(again) =
            encode_with(argb, second.candidate, None).filter(|a| a.len() < out.len())
        {
            return Some(riff(again));
        }
    }
    Some(riff(out))
}

fn riff(vp8l: Vec<u8>) -> Vec<u8> {
    let pad = vp8l.len() & 1;
    let chunk = u32::try_from(vp8l.len()).unwrap_or(u32::MAX);
    let riff_size = chunk.saturating_add(12).saturating_add(u32::from(pad == 1));
    let mut out = Vec::with_capacity(vp8l.len().saturating_add(21));
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&riff_size.to_le_bytes());
    out.extend_from_slice(b"WEBPVP8L");
    out.extend_from_slice(&chunk.to_le_bytes());
    out.extend_from_slice(&vp8l);
    if pad == 1 {
        out.push(0);
    }
    out
}

/// The pixels as VP8L's ARGB words (alpha in the top byte, blue in the low).
fn to_argb(p: &Pixels) -> Vec<u32> {
    let gray = |g: u8| u32::from(g).wrapping_mul(0x0001_0101);
    match p.layout {
        Layout::Gray => p.data.iter().map(|&g| 0xff00_0000 | gray(g)).collect(),
        Layout::GrayAlpha => p
            .data
            .chunks_exact(2)
            .map(|c| match *c {
                [g, a] => (u32::from(a) << 24) | gray(g),
                _ => 0,
            })
            .collect(),
        Layout::Rgb => p
            .data
            .chunks_exact(3)
            .map(|c| match *c {
                [r, g, b] => 0xff00_0000 | u32::from_be_bytes([0, r, g, b]),
                _ => 0,
            })
            .collect(),
        Layout::Rgba => p
            .data
            .chunks_exact(4)
            .map(|c| match *c {
                [r, g, b, a] => u32::from_be_bytes([a, r, g, b]),
                _ => 0,
            })
            .collect(),
    }
}

/// The header every candidate starts with: signature, size and the alpha hint.
fn header(w: u32, h: u32, alpha: bool) -> BitWriter {
    let mut bw = BitWriter::default();
    bw.put(0x2f, 8);
    bw.put(w.saturating_sub(1), 14);
    bw.put(h.saturating_sub(1), 14);
    bw.put(u32::from(alpha), 1);
    bw.put(0, 3);
    bw
}

// ---------------------------------------------------------------------------------------------
// Candidate 1: subtract green, then the predictor transform.

/// Which of subtract-green and the predictor transform a candidate uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Transforms {
    subtract_green: bool,
    predict: bool,
}

/// The ways an image can be coded: a palette, or the pixels with some of the transforms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Candidate {
    Spatial(Transforms),
    Indexed,
}

/// The candidates, tried on a sample of the image's rows (the palette only when the image has
/// at most 256 colours).
const CANDIDATES: [Candidate; 4] = [
    Candidate::Spatial(Transforms {
        subtract_green: false,
        predict: false,
    }),
    Candidate::Spatial(Transforms {
        subtract_green: true,
        predict: false,
    }),
    Candidate::Spatial(Transforms {
        subtract_green: true,
        predict: true,
    }),
    Candidate::Indexed,
];
/// The sample: [`SAMPLE_BANDS`] bands of [`SAMPLE_ROWS`] rows spread over the image, more
/// rows in a narrow image so that a band holds at least [`SAMPLE_BAND_PIXELS`] (4 x 32 rows
/// chose the same candidate on the benchmark outputs, for a fifth more time; a 17-pixel-wide
/// image's 4 x 16 rows chose no transform where the whole image wanted the predictor, 28%
/// larger: a helper's find), or the whole image when the bands would cover most of it, and up
/// to [`WHOLE_ROWS`] rows, its best trial then being the output.
const SAMPLE_BANDS: usize = 4;
const SAMPLE_ROWS: usize = 16;
const SAMPLE_BAND_PIXELS: usize = 16_384;
const WHOLE_ROWS: usize = 128;

/// What the trial on the sample chose.
struct Choice {
    candidate: Candidate,
    /// The colour cache size and the parse that coded the sample smallest.
    coding: Coding,
    /// The sample's coded size and rows, for the forecast of the image's.
    sample_bytes: usize,
    sample_rows: usize,
    /// The output itself when the sample was the whole image.
    whole: Option<Vec<u8>>,
}

/// The candidate that codes a sample of the image smallest: graphics usually code best as
/// they are or with a palette (LZ77 and the cache find their repeats), photos with the
/// predictor. The colour cache size and the parse that coded the sample smallest are used for
/// the image (searching the cache size again over the whole image was a fifth of the time,
/// both parses a third).
fn choose(argb: &[u32], w: u32, h: u32, palette: Option<&[u32]>, shifted: bool) -> Choice {
    let width = usize::try_from(w).unwrap_or(0).max(1);
    let height = usize::try_from(h).unwrap_or(0);
    let band = SAMPLE_ROWS.max(SAMPLE_BAND_PIXELS.div_ceil(width));
    let whole = height <= WHOLE_ROWS.max(band.saturating_mul(SAMPLE_BANDS));
    let sample: Vec<u32> = if whole {
        argb.to_vec()
    } else {
        let step = height / SAMPLE_BANDS;
        let offset = if shifted { step / 2 } else { 0 };
        (0..SAMPLE_BANDS)
            .flat_map(|b| {
                let start = b
                    .saturating_mul(step)
                    .saturating_add(offset)
                    .saturating_mul(width);
                argb.get(start..start.saturating_add(band.saturating_mul(width)))
                    .unwrap_or(&[])
                    .iter()
                    .copied()
            })
            .collect()
    };
    let sample_rows = sample.len().checked_div(width).unwrap_or(0);
    let sample_h = u32::try_from(sample_rows).unwrap_or(0);
    let alpha = sample.iter().any(|&px| px >> 24 != 0xff);
    let mut best: (Candidate, Vec<u8>, Coding) = (CANDIDATES[2], Vec::new(), Coding::default());
    for c in CANDIDATES {
        let (bytes, coding) = match (c, palette) {
            (Candidate::Spatial(t), _) => {
                encode_transformed(sample.clone(), w, sample_h, alpha, t, None, whole)
            }
            (Candidate::Indexed, Some(palette)) => {
                encode_indexed(&sample, w, sample_h, palette, None, whole)
            }
            (Candidate::Indexed, None) => continue,
        };
        if best.1.is_empty() || bytes.len() < best.1.len() {
            best = (c, bytes, coding);
        }
    }
    Choice {
        candidate: best.0,
        coding: best.2,
        sample_bytes: best.1.len(),
        sample_rows,
        whole: whole.then_some(best.1),
    }
}

/// The image with transforms `t`, coded; with the colour cache and parse of `coding` or, for
/// `None`, the ones that code it smallest; with the cost-optimal parse when `trace` (the
/// output itself, not a trial). Also the coding used.
fn encode_transformed(
    mut argb: Vec<u32>,
    w: u32,
    h: u32,
    alpha: bool,
    t: Transforms,
    coding: Option<Coding>,
    trace: bool,
) -> (Vec<u8>, Coding) {
    let width = usize::try_from(w).unwrap_or(0);
    let height = usize::try_from(h).unwrap_or(0);
    let mut bw = header(w, h, alpha);
    // Transforms in the order applied; the decoder undoes them in reverse.
    if t.subtract_green {
        for px in &mut argb {
            *px = subtract_green(*px);
        }
        bw.put(1, 1);
        bw.put(2, 2);
    }
    if t.predict {
        let modes = choose_modes(&argb, width, height);
        apply_predictors(&mut argb, width, &modes);
        bw.put(1, 1);
        bw.put(0, 2);
        bw.put(TILE_BITS.saturating_sub(2), 3);
        let mode_image: Vec<u32> = modes.tiles.iter().map(|&m| u32::from(m) << 8).collect();
        write_image(&mut bw, &mode_image, modes.xsize, None, false);
    }
    bw.put(0, 1); // no more transforms
    let coding = write_image(&mut bw, &argb, width, Some(coding), trace);
    (bw.finish(), coding)
}

fn subtract_green(px: u32) -> u32 {
    let g = (px >> 8) & 0xff;
    let r = ((px >> 16).wrapping_sub(g)) & 0xff;
    let b = (px.wrapping_sub(g)) & 0xff;
    (px & 0xff00_ff00) | (r << 16) | b
}

/// Per-byte (per-channel) difference modulo 256.
fn sub_pixels(a: u32, b: u32) -> u32 {
    let ag = 0x00ff_00ffu32
        .wrapping_add(a & 0xff00_ff00)
        .wrapping_sub(b & 0xff00_ff00);
    let rb = 0xff00_ff00u32
        .wrapping_add(a & 0x00ff_00ff)
        .wrapping_sub(b & 0x00ff_00ff);
    (ag & 0xff00_ff00) | (rb & 0x00ff_00ff)
}

/// Per-channel floor of the mean.
fn average2(a: u32, b: u32) -> u32 {
    (((a ^ b) & 0xfefe_fefe) >> 1).wrapping_add(a & b)
}

fn channels(px: u32) -> [i16; 4] {
    px.to_be_bytes().map(i16::from)
}

fn from_channels(c: [i16; 4]) -> u32 {
    u32::from_be_bytes(c.map(|v| u8::try_from(v.clamp(0, 255)).unwrap_or(0)))
}

fn select(l: u32, t: u32, tl: u32) -> u32 {
    let (cl, ct, ctl) = (channels(l), channels(t), channels(tl));
    let mut to_left = 0i16;
    let mut to_top = 0i16;
    for ((&a, &b), &c) in cl.iter().zip(&ct).zip(&ctl) {
        // The estimate is L + T - TL; its distance to L is |T - TL|, to T |L - TL|.
        to_left = to_left.saturating_add(b.saturating_sub(c).saturating_abs());
        to_top = to_top.saturating_add(a.saturating_sub(c).saturating_abs());
    }
    if to_left < to_top {
        l
    } else {
        t
    }
}

fn clamp_add_subtract_full(a: u32, b: u32, c: u32) -> u32 {
    let (ca, cb, cc) = (channels(a), channels(b), channels(c));
    let mut out = [0i16; 4];
    for (((o, &x), &y), &z) in out.iter_mut().zip(&ca).zip(&cb).zip(&cc) {
        *o = x.saturating_add(y).saturating_sub(z);
    }
    from_channels(out)
}

fn clamp_add_subtract_half(a: u32, b: u32) -> u32 {
    let (ca, cb) = (channels(a), channels(b));
    let mut out = [0i16; 4];
    for ((o, &x), &y) in out.iter_mut().zip(&ca).zip(&cb) {
        // Truncating division, as the format defines it.
        *o = x.saturating_add(x.saturating_sub(y) / 2);
    }
    from_channels(out)
}

/// Predictor `mode` (0-13) from the left, top, top-left and top-right pixels.
fn predict(mode: u8, l: u32, t: u32, tl: u32, tr: u32) -> u32 {
    match mode {
        0 => 0xff00_0000,
        1 => l,
        2 => t,
        3 => tr,
        4 => tl,
        5 => average2(average2(l, tr), t),
        6 => average2(l, tl),
        7 => average2(l, t),
        8 => average2(tl, t),
        9 => average2(t, tr),
        10 => average2(average2(l, tl), average2(t, tr)),
        11 => select(l, t, tl),
        12 => clamp_add_subtract_full(l, t, tl),
        _ => clamp_add_subtract_half(average2(l, t), tl),
    }
}

/// The residual of pixel `i` (column `x`) under `mode`; the first row and column use the
/// format's fixed predictors whatever the mode.
fn residual(px: &[u32], i: usize, x: usize, width: usize, mode: u8) -> u32 {
    let at = |j: Option<usize>| j.and_then(|j| px.get(j)).copied().unwrap_or(0);
    let cur = at(Some(i));
    let pred = if i == 0 {
        0xff00_0000
    } else if i < width {
        at(i.checked_sub(1))
    } else if x == 0 {
        at(i.checked_sub(width))
    } else {
        let top = i.checked_sub(width);
        predict(
            mode,
            at(i.checked_sub(1)),
            at(top),
            at(top.and_then(|t| t.checked_sub(1))),
            at(top.map(|t| t.saturating_add(1))),
        )
    };
    sub_pixels(cur, pred)
}

struct Modes {
    tiles: Vec<u8>,
    xsize: usize,
}

/// One predictor per tile, the one whose residuals add the fewest bits to the residuals of the
/// tiles chosen before (each channel's Shannon cost under one histogram for the image).
fn choose_modes(px: &[u32], width: usize, height: usize) -> Modes {
    let tile = 1usize << TILE_BITS;
    let xsize = width.div_ceil(tile);
    let ysize = height.div_ceil(tile);
    let mut tiles = vec![0u8; xsize.saturating_mul(ysize)];
    let mut acc = Histo4::default();
    let mut cur = Histo4::default();
    let mut res: Vec<u32> = Vec::with_capacity(tile.saturating_mul(tile));
    let mut best_res: Vec<u32> = Vec::with_capacity(tile.saturating_mul(tile));
    for (t, slot) in tiles.iter_mut().enumerate() {
        let tx = t.checked_rem(xsize).unwrap_or(0);
        let ty = t.checked_div(xsize).unwrap_or(0);
        let x0 = tx.saturating_mul(tile);
        let y0 = ty.saturating_mul(tile);
        let x1 = x0.saturating_add(tile).min(width);
        let y1 = y0.saturating_add(tile).min(height);
        let mut best = (f64::INFINITY, 0u8);
        for mode in 0..14u8 {
            res.clear();
            // The first row and column do not depend on the mode.
            for y in y0.max(1)..y1 {
                for x in x0.max(1)..x1 {
                    let i = y.saturating_mul(width).saturating_add(x);
                    res.push(residual(px, i, x, width, mode));
                }
            }
            cur.set(&res);
            let cost = acc.added_cost(&cur);
            cur.clear(&res);
            if cost < best.0 {
                best = (cost, mode);
                std::mem::swap(&mut res, &mut best_res);
            }
        }
        *slot = best.1;
        acc.add(&best_res);
    }
    Modes { tiles, xsize }
}

/// Replaces each pixel by its residual, last pixel first so that every prediction still sees
/// the original pixels before it.
fn apply_predictors(px: &mut [u32], width: usize, modes: &Modes) {
    let tile_x = |x: usize| x >> TILE_BITS;
    for i in (0..px.len()).rev() {
        let x = i.checked_rem(width).unwrap_or(0);
        let y = i.checked_div(width).unwrap_or(0);
        let t = (y >> TILE_BITS)
            .saturating_mul(modes.xsize)
            .saturating_add(tile_x(x));
        let mode = modes.tiles.get(t).copied().unwrap_or(0);
        let r = residual(px, i, x, width, mode);
        if let Some(slot) = px.get_mut(i) {
            *slot = r;
        }
    }
}

/// Per-channel histograms of residuals, with their totals.
struct Histo4 {
    counts: Vec<u32>,
    total: u32,
}

impl Default for Histo4 {
    fn default() -> Self {
        Histo4 {
            counts: vec![0; 1024],
            total: 0,
        }
    }
}

fn bins(px: u32) -> [usize; 4] {
    let [a, r, g, b] = px.to_be_bytes().map(usize::from);
    [
        a,
        r.saturating_add(256),
        g.saturating_add(512),
        b.saturating_add(768),
    ]
}

fn n_log2_n(n: u32) -> f64 {
    if n < 2 {
        0.0
    } else {
        let n = f64::from(n);
        n * n.log2()
    }
}

impl Histo4 {
    fn add(&mut self, px: &[u32]) {
        for &p in px {
            for b in bins(p) {
                if let Some(c) = self.counts.get_mut(b) {
                    *c = c.saturating_add(1);
                }
            }
        }
        self.total = self
            .total
            .saturating_add(u32::try_from(px.len()).unwrap_or(u32::MAX));
    }

    fn set(&mut self, px: &[u32]) {
        self.add(px);
    }

    /// Undoes [`Histo4::set`] for the same pixels (cheaper than clearing 1024 bins).
    fn clear(&mut self, px: &[u32]) {
        for &p in px {
            for b in bins(p) {
                if let Some(c) = self.counts.get_mut(b) {
                    *c = 0;
                }
            }
        }
        self.total = 0;
    }

    /// How many bits `tile`'s pixels add to this histogram's Shannon cost, per channel.
    fn added_cost(&self, tile: &Histo4) -> f64 {
        let mut cost =
            4.0 * (n_log2_n(self.total.saturating_add(tile.total)) - n_log2_n(self.total));
        for (&a, &t) in self.counts.iter().zip(&tile.counts) {
            if t != 0 {
                cost -= n_log2_n(a.saturating_add(t)) - n_log2_n(a);
            }
        }
        cost
    }
}

// ---------------------------------------------------------------------------------------------
// Candidate 2: a palette (colour-indexing transform).

/// The image's colours, sorted, when there are at most 256.
fn palette_of(argb: &[u32]) -> Option<Vec<u32>> {
    let mut set = SmallSet::default();
    for &px in argb {
        if !set.insert(px) {
            return None;
        }
    }
    let mut colours = set.into_values();
    colours.sort_unstable();
    Some(colours)
}

/// An open-addressing set of at most 256 colours.
struct SmallSet {
    keys: Vec<u32>,
    used: Vec<bool>,
    len: usize,
}

impl Default for SmallSet {
    fn default() -> Self {
        SmallSet {
            keys: vec![0; 1024],
            used: vec![false; 1024],
            len: 0,
        }
    }
}

impl SmallSet {
    /// Adds `v`; false once a 257th colour is seen.
    fn insert(&mut self, v: u32) -> bool {
        let mut slot = usize::try_from(v.wrapping_mul(0x1e35_a7bd) >> 22).unwrap_or(0);
        loop {
            match (self.used.get(slot).copied(), self.keys.get(slot).copied()) {
                (Some(true), Some(k)) if k == v => return true,
                (Some(true), _) => slot = slot.wrapping_add(1) & 1023,
                _ => {
                    if self.len == 256 {
                        return false;
                    }
                    if let (Some(u), Some(k)) = (self.used.get_mut(slot), self.keys.get_mut(slot)) {
                        *u = true;
                        *k = v;
                    }
                    self.len = self.len.saturating_add(1);
                    return true;
                }
            }
        }
    }

    fn into_values(self) -> Vec<u32> {
        self.keys
            .into_iter()
            .zip(self.used)
            .filter_map(|(k, u)| u.then_some(k))
            .collect()
    }
}

/// The image through a palette, coded; `coding` and `trace` as for [`encode_transformed`].
fn encode_indexed(
    argb: &[u32],
    w: u32,
    h: u32,
    palette: &[u32],
    coding: Option<Coding>,
    trace: bool,
) -> (Vec<u8>, Coding) {
    let width = usize::try_from(w).unwrap_or(0);
    // 2, 4 or 16 colours bundle 8, 4 or 2 pixels into one.
    let xbits: u32 = match palette.len() {
        0..=2 => 3,
        3..=4 => 2,
        5..=16 => 1,
        _ => 0,
    };
    let per = 1usize << xbits;
    let bits_each = 8u32 >> xbits;
    let packed_width = width.div_ceil(per);
    let mut packed =
        Vec::with_capacity(packed_width.saturating_mul(argb.len().checked_div(width).unwrap_or(0)));
    for row in argb.chunks(width.max(1)) {
        for group in row.chunks(per) {
            let mut g = 0u32;
            for (k, &px) in group.iter().enumerate() {
                let index = palette.binary_search(&px).unwrap_or(0);
                let shift = u32::try_from(k).unwrap_or(0).saturating_mul(bits_each);
                g |= u32::try_from(index).unwrap_or(0) << shift;
            }
            packed.push(g << 8);
        }
    }
    let alpha = palette.iter().any(|&c| c >> 24 != 0xff);
    let mut bw = header(w, h, alpha);
    bw.put(1, 1);
    bw.put(3, 2); // colour indexing
    bw.put(
        u32::try_from(palette.len().saturating_sub(1)).unwrap_or(0),
        8,
    );
    let mut prev = 0u32;
    let deltas: Vec<u32> = palette
        .iter()
        .map(|&c| {
            let d = sub_pixels(c, prev);
            prev = c;
            d
        })
        .collect();
    write_image(&mut bw, &deltas, deltas.len(), None, false);
    bw.put(0, 1); // no more transforms
    let coding = write_image(&mut bw, &packed, packed_width, Some(coding), trace);
    (bw.finish(), coding)
}

// ---------------------------------------------------------------------------------------------
// Entropy-coded images: LZ77, colour cache, Huffman codes.

/// A backward reference: `len` pixels (1-4096) at `pos`, copied from distance code `code`
/// (RFC 9649 4.2.2; below 2^20 within [`MAX_DISTANCE`]), packed as `(len - 1) << 20 | code`.
#[derive(Clone, Copy)]
struct BackRef {
    pos: u32,
    packed: u32,
}

impl BackRef {
    fn new(pos: usize, len: usize, code: u32) -> BackRef {
        let len = u32::try_from(len.min(MAX_COPY)).unwrap_or(0);
        BackRef {
            pos: u32::try_from(pos).unwrap_or(u32::MAX),
            packed: (len.saturating_sub(1) << 20) | (code & 0xf_ffff),
        }
    }
    fn len(self) -> u32 {
        (self.packed >> 20).saturating_add(1)
    }
    fn code(self) -> u32 {
        self.packed & 0xf_ffff
    }
}

/// How an image's symbols are found: the colour cache size (in bits; 0 for none) and the
/// parse's hash chain depth (see [`PARSE_DEPTHS`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Coding {
    cache_bits: u32,
    depth: usize,
}

/// Writes `px` (`xsize` wide) as an entropy-coded image. The main image (`main` is
/// `Some(coding)`) has the colour cache and parse of `coding`, or for `None` the ones that
/// code it smallest, and one group of Huffman codes or a group per region; a transform's
/// sub-image (`main` is `None`) has no cache and one group. Returns the coding used.
fn write_image(
    bw: &mut BitWriter,
    px: &[u32],
    xsize: usize,
    main: Option<Option<Coding>>,
    trace: bool,
) -> Coding {
    // Of the parses, the one that codes smallest with its cache and one group of codes. (As
    // it will be coded, with its code groups, a 1024x699 screenshot came out 6% smaller, the
    // benchmark graphic's thumb 1% larger, and the fit took a fifth more time.)
    let literals = CostModel::from_literals(px);
    let given = main.flatten();
    let fixed;
    let depths: &[usize] = match given {
        Some(c) => {
            fixed = [c.depth];
            &fixed
        }
        None => &PARSE_DEPTHS,
    };
    let mut kept: Option<(u64, Vec<BackRef>, Coding)> = None;
    for &depth in depths {
        let copies = find_copies(px, xsize, &literals, depth);
        let (cache_bits, cost) = match main {
            Some(None) => best_cache_bits(px, &copies),
            // One parse: nothing to weigh.
            Some(Some(c)) => (c.cache_bits.min(MAX_CACHE_BITS), 0),
            None => (0, histograms(px, &copies, 0).cost()),
        };
        if kept.as_ref().is_none_or(|k| cost < k.0) {
            kept = Some((cost, copies, Coding { cache_bits, depth }));
        }
    }
    let (_, mut copies, coding) = kept.unwrap_or_default();
    let Coding { cache_bits, depth } = coding;
    bw.put(u32::from(cache_bits != 0), 1);
    if cache_bits != 0 {
        bw.put(cache_bits, 4);
    }
    if main.is_none() {
        let codes = histograms(px, &copies, cache_bits).codes();
        for code in &codes {
            code.write_header(bw);
        }
        walk(px, &copies, cache_bits, |_, s| write_symbol(bw, &codes, s));
        return coding;
    }
    let mut plan = plan(px, xsize, &copies, cache_bits);
    // The cost-optimal parse, priced by the last parse's statistics and over the same copies,
    // kept while it codes smaller as it will be coded, with its code groups (by one group's
    // cost a thumbnail took a traced parse that came out 2% larger: a helper's find). Where
    // the chained parse wins on a large image (a photo) it is not run: on a 1024x1024 photo
    // it came out 0.3% smaller for a quarter more time; on the benchmark graphic's 200x125
    // thumb 2.4% smaller for 5 ms.
    if trace && (depth == 0 || px.len() <= TRACE_CHAINED_PIXELS) {
        for _ in 0..TRACE_PASSES {
            let costs = CostModel::from_histograms(&histograms(px, &copies, cache_bits));
            let traced = optimal_copies(px, xsize, &costs, cache_bits, depth);
            let traced_plan = self::plan(px, xsize, &traced, cache_bits);
            if traced_plan.bits < plan.bits {
                copies = traced;
                plan = traced_plan;
            } else {
                break;
            }
        }
    }
    match plan.grouped {
        Some((g, entropy)) => {
            bw.put(1, 1);
            bw.put(g.bits.saturating_sub(2), 3);
            bw.append(entropy);
            let codes: Vec<[Code; 5]> = g.histos.iter().map(Histograms::codes).collect();
            for code in codes.iter().flatten() {
                code.write_header(bw);
            }
            walk(px, &copies, cache_bits, |i, s| {
                if let Some(set) = codes.get(g.group_at(i, xsize)) {
                    write_symbol(bw, set, s);
                }
            });
        }
        None => {
            bw.put(0, 1); // one group of codes for the whole image
            let codes = histograms(px, &copies, cache_bits).codes();
            for code in &codes {
                code.write_header(bw);
            }
            walk(px, &copies, cache_bits, |_, s| write_symbol(bw, &codes, s));
        }
    }
    coding
}

/// How the main image's symbols are coded: one group of codes, or a group per region where
/// that codes smaller; and the coded size in bits.
struct Plan {
    bits: u64,
    grouped: Option<(Groups, BitWriter)>,
}

fn plan(px: &[u32], xsize: usize, copies: &[BackRef], cache_bits: u32) -> Plan {
    let single = histograms(px, copies, cache_bits).cost();
    let grouped = group_tiles(px, xsize, copies, cache_bits).and_then(|g| {
        let mut entropy = BitWriter::default();
        write_image(&mut entropy, &g.entropy_image(), g.xsize, None, false);
        let cost = g
            .histos
            .iter()
            .map(Histograms::cost)
            .fold(entropy.bits().saturating_add(3), u64::saturating_add);
        (cost < single).then_some((cost, g, entropy))
    });
    match grouped {
        Some((bits, g, entropy)) => Plan {
            bits,
            grouped: Some((g, entropy)),
        },
        None => Plan {
            bits: single,
            grouped: None,
        },
    }
}

enum Symbol {
    Literal(u32),
    Cache(u32),
    Copy(BackRef),
}

/// The colour cache slot of `v` in a cache of `cache_bits` bits (RFC 9649 5.2.3).
fn cache_slot(v: u32, cache_bits: u32) -> usize {
    usize::try_from(
        v.wrapping_mul(0x1e35_a7bd)
            .checked_shr(32u32.saturating_sub(cache_bits))
            .unwrap_or(0),
    )
    .unwrap_or(0)
}

/// Visits the image as its symbols, mirroring the decoder's colour cache (every pixel goes in,
/// in order; a slot is used only once something was put there).
fn walk(px: &[u32], copies: &[BackRef], cache_bits: u32, mut visit: impl FnMut(usize, Symbol)) {
    let size = if cache_bits == 0 {
        0
    } else {
        1usize << cache_bits
    };
    let mut cache: Vec<Option<u32>> = vec![None; size];
    let slot = |v: u32| cache_slot(v, cache_bits);
    let insert = |cache: &mut Vec<Option<u32>>, v: u32| {
        if let Some(s) = cache.get_mut(slot(v)) {
            *s = Some(v);
        }
    };
    let mut next = copies.iter().peekable();
    let mut i = 0usize;
    while let Some(&v) = px.get(i) {
        match next.peek() {
            Some(c) if usize::try_from(c.pos).unwrap_or(usize::MAX) == i => {
                let c = **c;
                next.next();
                let len = usize::try_from(c.len()).unwrap_or(0);
                if size != 0 {
                    for &w in px.get(i..i.saturating_add(len)).unwrap_or(&[]) {
                        insert(&mut cache, w);
                    }
                }
                visit(i, Symbol::Copy(c));
                i = i.saturating_add(len.max(1));
            }
            _ => {
                let s = slot(v);
                if size != 0 && cache.get(s).copied().flatten() == Some(v) {
                    visit(i, Symbol::Cache(u32::try_from(s).unwrap_or(0)));
                } else {
                    visit(i, Symbol::Literal(v));
                    insert(&mut cache, v);
                }
                i = i.saturating_add(1);
            }
        }
    }
}

/// The prefix code of a length or distance code `v` (at least 1): symbol, extra bits, value.
fn prefix(v: u32) -> (usize, u32, u32) {
    let d = v.saturating_sub(1);
    if d < 4 {
        return (usize::try_from(d).unwrap_or(0), 0, 0);
    }
    let high = 31u32.saturating_sub(d.leading_zeros());
    let second = (d >> high.saturating_sub(1)) & 1;
    let extra_bits = high.saturating_sub(1);
    let symbol = high.saturating_mul(2).saturating_add(second);
    let extra = d & (1u32 << extra_bits).wrapping_sub(1);
    (usize::try_from(symbol).unwrap_or(0), extra_bits, extra)
}

/// The 2D map as a table: entry `dy * 16 + dx + 7` is the code for (dx, dy), 0 for none.
fn plane_table() -> [u8; 128] {
    let mut t = [0u8; 128];
    for (k, &(dx, dy)) in DISTANCE_MAP.iter().enumerate() {
        let at = i32::from(dy)
            .saturating_mul(16)
            .saturating_add(i32::from(dx))
            .saturating_add(7);
        if let Some(slot) = usize::try_from(at).ok().and_then(|a| t.get_mut(a)) {
            *slot = u8::try_from(k.saturating_add(1)).unwrap_or(0);
        }
    }
    t
}

/// The distance code for a copy `dist` pixels back in an image `xsize` wide: the smallest 2D
/// map code that gives `dist`, else `dist + 120`.
fn distance_code(plane: &[u8; 128], dist: usize, xsize: usize) -> u32 {
    let mut best = u32::try_from(dist).unwrap_or(u32::MAX).saturating_add(120);
    // The map reaches 7 rows up and 8 pixels along.
    if dist > xsize.saturating_mul(7).saturating_add(8) {
        return best;
    }
    for dy in 0..8usize {
        let Some(dx) = i64::try_from(dist)
            .ok()
            .zip(i64::try_from(dy.saturating_mul(xsize)).ok())
            .map(|(d, r)| d.saturating_sub(r))
        else {
            break;
        };
        if (-7..=8).contains(&dx) {
            let at = i64::try_from(dy.saturating_mul(16))
                .unwrap_or(0)
                .saturating_add(dx)
                .saturating_add(7);
            let code = usize::try_from(at)
                .ok()
                .and_then(|a| plane.get(a))
                .copied()
                .unwrap_or(0);
            if code != 0 {
                best = best.min(u32::from(code));
            }
        }
    }
    best
}

/// The hash chain's key: three pixels. With two, a 2048x2048 image of gray noise (65,536
/// pairs, each 64 times) filled every chain with useless candidates inside the window, each a
/// cache miss (2.3-3 s; a helper's find); copies of two pixels rarely pay for themselves.
fn hash3(a: u32, b: u32, c: u32) -> usize {
    let k = (u64::from(a) << 32 | u64::from(b))
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .rotate_left(23)
        ^ u64::from(c).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    usize::try_from(k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - HASH_BITS)).unwrap_or(0)
}

/// Bit costs the parse weighs a copy against the literals it replaces with: per channel value,
/// per length prefix and per distance prefix (extra bits added as they come).
struct CostModel {
    literal: [[f32; 256]; 4],
    /// The mean cost of a literal pixel.
    average_literal: f32,
    length: [f32; LENGTH_CODES],
    distance: [f32; DISTANCE_CODES],
    /// Per colour cache slot (empty without a cache).
    cache: Vec<f32>,
}

/// -log2 of each count's share of `total`; an unseen symbol costs as a count of one half.
fn bit_costs<const N: usize>(counts: &[u32]) -> [f32; N] {
    let mut out = [0f32; N];
    for (o, bits) in out.iter_mut().zip(symbol_bits(counts, 0.5)) {
        *o = bits;
    }
    out
}

/// -log2 of each count's share of the total, an unseen symbol counted as `unseen`: the bits
/// a code built from `counts` would spend on each symbol, as the parse and the grouping
/// estimate them.
fn symbol_bits(counts: &[u32], unseen: f64) -> impl Iterator<Item = f32> + '_ {
    let total: f64 = counts.iter().map(|&c| f64::from(c)).sum::<f64>().max(1.0);
    counts.iter().map(move |&c| {
        let c = if c == 0 { unseen } else { f64::from(c) };
        #[allow(
            clippy::cast_possible_truncation,
            reason = "a bit cost, far inside f32"
        )]
        {
            (total / c).log2() as f32
        }
    })
}

impl CostModel {
    /// From the image as if every pixel were a literal; lengths and distances all alike.
    fn from_literals(px: &[u32]) -> CostModel {
        let mut counts = vec![0u32; 1024];
        for &p in px {
            for b in bins(p) {
                if let Some(c) = counts.get_mut(b) {
                    *c = c.saturating_add(1);
                }
            }
        }
        CostModel::from_counts(&counts, &[1; LENGTH_CODES], &[1; DISTANCE_CODES])
    }

    /// `channels`: alpha, red, green and blue counts, 256 each.
    fn from_counts(channels: &[u32], lengths: &[u32], distances: &[u32]) -> CostModel {
        let mut literal = [[0f32; 256]; 4];
        let mut average = 0f64;
        for (k, (row, counts)) in literal.iter_mut().zip(channels.chunks(256)).enumerate() {
            *row = bit_costs::<256>(counts);
            // A literal's green symbol shares its code with the copies' lengths, so once there
            // is a copy it costs at least a bit, however common it is. Without this floor an
            // image of one colour priced its literals at nearly nothing, refused every copy,
            // and the parse compared a 4096-pixel match at every pixel (8 s for a megapixel;
            // found by a helper), writing a bit a pixel where copies cost next to none.
            if k == 2 {
                for b in row.iter_mut() {
                    *b = b.max(1.0);
                }
            }
            let total: f64 = counts.iter().map(|&c| f64::from(c)).sum::<f64>().max(1.0);
            average += row
                .iter()
                .zip(counts)
                .map(|(&b, &c)| f64::from(b) * f64::from(c))
                .sum::<f64>()
                / total;
        }
        #[allow(
            clippy::cast_possible_truncation,
            reason = "a bit cost, far inside f32"
        )]
        let average_literal = average as f32;
        CostModel {
            literal,
            average_literal,
            length: bit_costs::<LENGTH_CODES>(lengths),
            distance: bit_costs::<DISTANCE_CODES>(distances),
            cache: Vec::new(),
        }
    }

    /// From the symbols of a parse, for the cost-optimal parse: the green code's literals,
    /// lengths and cache slots priced as the one alphabet they are.
    fn from_histograms(h: &Histograms) -> CostModel {
        let green: Vec<f32> = symbol_bits(&h.green, 0.5).collect();
        let mut channels = Vec::with_capacity(1024);
        for counts in [&h.alpha, &h.red, &h.green, &h.blue] {
            channels.extend(counts.iter().take(256).copied());
        }
        let mut costs = CostModel::from_counts(&channels, &[1; LENGTH_CODES], &h.distance);
        for (c, &g) in costs.literal[2].iter_mut().zip(&green) {
            *c = g;
        }
        for (c, &g) in costs.length.iter_mut().zip(green.iter().skip(256)) {
            *c = g;
        }
        costs.cache = green
            .iter()
            .skip(256usize.saturating_add(LENGTH_CODES))
            .copied()
            .collect();
        costs
    }

    fn literal(&self, v: u32) -> f32 {
        let mut cost = 0f32;
        for (row, b) in self.literal.iter().zip(v.to_be_bytes()) {
            cost += row.get(usize::from(b)).copied().unwrap_or(0.0);
        }
        cost
    }

    #[allow(clippy::cast_precision_loss, reason = "extra bits are at most 18")]
    fn copy(&self, len: usize, code: u32) -> f32 {
        let (ls, lx, _) = prefix(u32::try_from(len).unwrap_or(0));
        let (ds, dx, _) = prefix(code);
        self.length.get(ls).copied().unwrap_or(0.0)
            + self.distance.get(ds).copied().unwrap_or(0.0)
            + (lx.saturating_add(dx)) as f32
    }
}

/// The copies available at one position, as [`Matcher::search`] finds them.
struct Found {
    /// The best ranked: its length less its cost in pixels of average literal, highest.
    best: (usize, usize),
    /// The longest: (length, distance).
    longest: (usize, usize),
}

/// The hash chain over the pixels and the 2D map's nearest distances: the copies each parse
/// weighs at a position. Every position is inserted, in order, after it is searched.
struct Matcher<'a> {
    px: &'a [u32],
    xsize: usize,
    plane: [u8; 128],
    /// How many earlier positions with the same hash are tried; 0: none, and no chain kept.
    depth: usize,
    head: Vec<u32>,
    prev: Vec<u32>,
    /// The nearest neighbours of the 2D distance map, the cheapest distances to code, with
    /// their codes.
    near: Vec<(usize, u32)>,
    /// Each nearest neighbour's match length at position `run_at`, with the most it could
    /// have been there: at the next position a match that ended short of it is one shorter,
    /// so a run of equal pixels is compared once, not again at each of its positions.
    runs: Vec<(usize, usize)>,
    run_at: Option<usize>,
}

impl<'a> Matcher<'a> {
    fn new(px: &'a [u32], xsize: usize, depth: usize) -> Matcher<'a> {
        let mut near: Vec<usize> = DISTANCE_MAP
            .iter()
            .take(NEAR_CANDIDATES)
            .filter_map(|&(dx, dy)| {
                let d = i64::from(dy)
                    .saturating_mul(i64::try_from(xsize).unwrap_or(0))
                    .saturating_add(i64::from(dx));
                usize::try_from(d).ok().filter(|&d| d >= 1)
            })
            .collect();
        near.dedup();
        let plane = plane_table();
        let near: Vec<(usize, u32)> = near
            .into_iter()
            .map(|d| (d, distance_code(&plane, d, xsize)))
            .collect();
        Matcher {
            px,
            xsize,
            plane,
            depth,
            head: if depth == 0 {
                Vec::new()
            } else {
                vec![u32::MAX; 1 << HASH_BITS]
            },
            prev: if depth == 0 {
                Vec::new()
            } else {
                vec![u32::MAX; WINDOW.min(px.len())]
            },
            runs: vec![(0, 0); near.len()],
            near,
            run_at: None,
        }
    }

    /// A matcher for a parse of `px` under `costs`, with the bits a pixel of literal costs on
    /// average (at least one); `None` for fewer than two pixels, where nothing can be copied.
    fn for_parse(
        px: &'a [u32],
        xsize: usize,
        costs: &CostModel,
        depth: usize,
    ) -> Option<(Matcher<'a>, f32)> {
        (px.len() >= 2).then(|| {
            (
                Matcher::new(px, xsize, depth),
                costs.average_literal.max(1.0),
            )
        })
    }

    fn code(&self, dist: usize) -> u32 {
        distance_code(&self.plane, dist, self.xsize)
    }

    fn insert(&mut self, i: usize) {
        if self.depth == 0 {
            return;
        }
        let px = self.px;
        if let (Some(&a), Some(&b), Some(&c)) = (
            px.get(i),
            px.get(i.saturating_add(1)),
            px.get(i.saturating_add(2)),
        ) {
            let h = hash3(a, b, c);
            if let Some(slot) = self.head.get_mut(h) {
                if let Some(p) = self.prev.get_mut(i & WINDOW.wrapping_sub(1)) {
                    *p = *slot;
                }
                *slot = u32::try_from(i).unwrap_or(u32::MAX);
            }
        }
    }

    /// The copies at `i`: the 2D map's nearest distances and up to `depth` earlier
    /// positions with the same three-pixel hash, ranked by length less the copy's cost under
    /// `costs` in pixels of `per_pixel` bits. `None` when nothing matches.
    fn search(&mut self, i: usize, costs: &CostModel, per_pixel: f32) -> Option<Found> {
        let px = self.px;
        let n = px.len();
        let max = MAX_COPY.min(n.saturating_sub(i));
        let cur = px.get(i..i.saturating_add(max))?;
        let mut best = (f32::NEG_INFINITY, 0usize, 0usize);
        let mut longest = (0usize, 0usize);
        let weigh = |len: usize,
                     d: usize,
                     code: u32,
                     best: &mut (f32, usize, usize),
                     longest: &mut (usize, usize)| {
            if len == 0 {
                return;
            }
            if len > longest.0 {
                *longest = (len, d);
            }
            #[allow(clippy::cast_precision_loss, reason = "a length of at most 4096")]
            let score = len as f32 * per_pixel - costs.copy(len, code);
            if score > best.0 {
                *best = (score, len, d);
            }
        };
        let follows = self.run_at.and_then(|r| r.checked_add(1)) == Some(i);
        self.run_at = Some(i);
        for (&(d, code), run) in self.near.iter().zip(self.runs.iter_mut()) {
            let (last, last_max) = *run;
            let len = if d > i {
                0
            } else if follows && last > 1 && last < last_max {
                last.saturating_sub(1)
            } else {
                px.get(i.saturating_sub(d)..).map_or(0, |old| {
                    cur.iter().zip(old).take_while(|(a, b)| a == b).count()
                })
            };
            *run = (len, max);
            weigh(len, d, code, &mut best, &mut longest);
        }
        if let (Some(&b), Some(&c)) = (px.get(i.saturating_add(1)), px.get(i.saturating_add(2))) {
            let mut cand = self
                .head
                .get(hash3(cur.first().copied().unwrap_or(0), b, c))
                .copied()
                .unwrap_or(u32::MAX);
            for _ in 0..self.depth {
                if longest.0 >= max.min(NICE_LENGTH) {
                    break;
                }
                let Ok(c) = usize::try_from(cand) else { break };
                if cand == u32::MAX || c >= i || i.saturating_sub(c) > MAX_DISTANCE {
                    break;
                }
                let d = i.saturating_sub(c);
                // Cannot beat the longest so far unless it matches one pixel further.
                let Some(old) = px.get(c..) else { break };
                if longest.0 == 0 || old.get(longest.0) == cur.get(longest.0) {
                    let len = cur.iter().zip(old).take_while(|(a, b)| a == b).count();
                    weigh(len, d, self.code(d), &mut best, &mut longest);
                }
                let next = self
                    .prev
                    .get(c & WINDOW.wrapping_sub(1))
                    .copied()
                    .unwrap_or(u32::MAX);
                if next >= cand {
                    break;
                }
                cand = next;
            }
        }
        (best.1 != 0).then_some(Found {
            best: (best.1, best.2),
            longest,
        })
    }
}

/// LZ77 over the pixels, each copy weighed by the bits it saves under `costs`: at each position
/// the best copy [`Matcher::search`] finds; a copy is deferred by one pixel when the next
/// position's best saves more.
fn find_copies(px: &[u32], xsize: usize, costs: &CostModel, depth: usize) -> Vec<BackRef> {
    let Some((mut m, per_pixel)) = Matcher::for_parse(px, xsize, costs, depth) else {
        return Vec::new();
    };
    let n = px.len();
    let mut copies = Vec::new();
    // The best copy at `i`: (bits saved, length, distance); only the winner's literals are
    // summed.
    let best_at = |m: &mut Matcher, i: usize| -> (f32, usize, usize) {
        let Some(Found { best: (len, d), .. }) = m.search(i, costs, per_pixel) else {
            return (0.0, 0, 0);
        };
        let saved: f32 = px
            .get(i..i.saturating_add(len))
            .unwrap_or(&[])
            .iter()
            .map(|&v| costs.literal(v))
            .sum();
        (saved - costs.copy(len, m.code(d)), len, d)
    };
    let mut i = 0usize;
    let mut ahead: Option<(f32, usize, usize)> = None;
    while i < n {
        let here = ahead.take().unwrap_or_else(|| best_at(&mut m, i));
        m.insert(i);
        if here.0 <= 0.0 {
            i = i.saturating_add(1);
            continue;
        }
        // A long copy is taken as it is; a short one waits a pixel if the next is better.
        let next = if here.1 >= 32 {
            (0.0, 0, 0)
        } else {
            best_at(&mut m, i.saturating_add(1))
        };
        if next.0 > here.0 {
            ahead = Some(next);
            i = i.saturating_add(1);
            continue;
        }
        let (_, len, dist) = here;
        copies.push(BackRef::new(i, len, m.code(dist)));
        for k in i.saturating_add(1)..i.saturating_add(len) {
            m.insert(k);
        }
        i = i.saturating_add(len.max(1));
    }
    copies
}

/// The hash chain depths of the parses tried, each weighed by the image's literal statistics;
/// the writer keeps the one that codes smaller with its colour cache (libwebp likewise tries
/// several): one with copies from the nearest neighbours only, one also from up to
/// [`CHAIN_DEPTH`] earlier positions with the same hash. With every copy priced alike before any is counted, far ones look as cheap as near
/// ones; on graphics they scatter the distances' statistics and came out larger (the benchmark
/// graphic's fit: 359 KB with them, 331 KB without), while photos gain a little from them.
/// The cost-optimal parse searches with the depth kept.
const PARSE_DEPTHS: [usize; 2] = [0, CHAIN_DEPTH];

/// How many times the cost-optimal parse runs, each priced by the last parse's statistics (a
/// pass stops the passes when it does not code smaller). On the benchmark graphic the greedy
/// parse's 331 KB fit came to 316 KB in one pass, 314 KB in two (libwebp's default effort on
/// the same pixels: 317 KB), the encoder's 101 ms to 144 and 180; its grayscale from 885 to
/// 846 and 834 KB (libwebp: 834 KB), 197 ms to 323 and 428. One pass: the second's 1% is not
/// worth a third more of the encoder's time.
const TRACE_PASSES: usize = 1;
/// The most pixels the cost-optimal parse runs on when the chained parse was kept.
const TRACE_CHAINED_PIXELS: usize = 1 << 18;

/// The cost-optimal parse works through the image in segments of this many pixels (its
/// tables take 14 bytes a pixel of a segment); no copy crosses a segment's end.
const PATH_SEGMENT: usize = 1 << 16;
/// At each position the path tries every length of a copy up to this one, and its full
/// length: the next position's search offers the same copy one pixel shorter.
const PATH_SHORT: usize = 16;

/// The cheapest sequence of literals, cache hits and copies under `costs` (a shortest path
/// through the positions, as libwebp's "trace backwards" and zopfli do), with the copies
/// [`Matcher::search`] finds at each position with a chain `depth` deep: its best ranked and
/// its longest, each at every length up to [`PATH_SHORT`] and at its full length. A copy
/// of [`NICE_LENGTH`] or more is taken at once, which bounds the work on repetitive images. The
/// colour cache holds every pixel in order whatever the parse, so whether a literal is a
/// cache hit does not depend on the path.
fn optimal_copies(
    px: &[u32],
    xsize: usize,
    costs: &CostModel,
    cache_bits: u32,
    depth: usize,
) -> Vec<BackRef> {
    let Some((mut m, per_pixel)) = Matcher::for_parse(px, xsize, costs, depth) else {
        return Vec::new();
    };
    let n = px.len();
    let mut copies = Vec::new();
    #[allow(clippy::cast_precision_loss, reason = "extra bits are at most 18")]
    let length_bits: Vec<f32> = (0..=MAX_COPY)
        .map(|l| {
            let (ls, lx, _) = prefix(u32::try_from(l).unwrap_or(0));
            costs.length.get(ls).copied().unwrap_or(0.0) + lx as f32
        })
        .collect();
    #[allow(clippy::cast_precision_loss, reason = "extra bits are at most 18")]
    let distance_bits = |code: u32| {
        let (ds, dx, _) = prefix(code);
        costs.distance.get(ds).copied().unwrap_or(0.0) + dx as f32
    };
    let mut cache: Vec<Option<u32>> = if cache_bits == 0 {
        Vec::new()
    } else {
        vec![None; 1usize << cache_bits]
    };
    let span = PATH_SEGMENT.min(n);
    let mut cost = vec![f64::INFINITY; span.saturating_add(1)];
    // How each position was reached: the copy's length (0 for a literal) and distance code.
    let mut step_len = vec![0u16; span.saturating_add(1)];
    let mut step_code = vec![0u32; span.saturating_add(1)];
    let mut start = 0usize;
    while start < n {
        let end = start.saturating_add(PATH_SEGMENT).min(n);
        let seg = end.saturating_sub(start);
        cost.fill(f64::INFINITY);
        if let Some(c) = cost.first_mut() {
            *c = 0.0;
        }
        let mut relax = |cost: &mut [f64], at: usize, c: f64, len: usize, code: u32| {
            if let Some(slot) = cost.get_mut(at) {
                if c < *slot {
                    *slot = c;
                    if let Some(l) = step_len.get_mut(at) {
                        *l = u16::try_from(len).unwrap_or(0);
                    }
                    if let Some(d) = step_code.get_mut(at) {
                        *d = code;
                    }
                }
            }
        };
        let mut taken_to = 0usize;
        for k in 0..seg {
            let i = start.saturating_add(k);
            let v = px.get(i).copied().unwrap_or(0);
            let literal = match cache.get_mut(cache_slot(v, cache_bits)) {
                Some(slot) if *slot == Some(v) => costs
                    .cache
                    .get(cache_slot(v, cache_bits))
                    .copied()
                    .unwrap_or(0.0),
                Some(slot) => {
                    *slot = Some(v);
                    costs.literal(v)
                }
                None => costs.literal(v),
            };
            let here = cost.get(k).copied().unwrap_or(f64::INFINITY);
            if k < taken_to || !here.is_finite() {
                m.insert(i);
                continue;
            }
            relax(
                &mut cost,
                k.saturating_add(1),
                here + f64::from(literal),
                0,
                0,
            );
            let found = m.search(i, costs, per_pixel);
            m.insert(i);
            let Some(found) = found else { continue };
            let room = seg.saturating_sub(k);
            let second = (found.best != found.longest).then_some(found.best);
            for (len, d) in std::iter::once(found.longest).chain(second) {
                let len = len.min(room);
                if len == 0 {
                    continue;
                }
                let code = m.code(d);
                let base = here + f64::from(distance_bits(code));
                let full = (len > PATH_SHORT).then_some(len);
                for l in (1..=len.min(PATH_SHORT)).chain(full) {
                    let c = base + f64::from(length_bits.get(l).copied().unwrap_or(0.0));
                    relax(&mut cost, k.saturating_add(l), c, l, code);
                }
            }
            if found.longest.0 >= NICE_LENGTH {
                taken_to = k.saturating_add(found.longest.0.min(room));
            }
        }
        // Back from the segment's end along the cheapest steps.
        let mut path = Vec::new();
        let mut k = seg;
        while k > 0 {
            let len = usize::from(step_len.get(k).copied().unwrap_or(0));
            if len == 0 {
                k = k.saturating_sub(1);
            } else {
                let code = step_code.get(k).copied().unwrap_or(0);
                k = k.saturating_sub(len);
                path.push(BackRef::new(start.saturating_add(k), len, code));
            }
        }
        copies.extend(path.into_iter().rev());
        start = end;
    }
    copies
}

/// The five histograms of an image's symbols.
#[derive(Default)]
struct Histograms {
    green: Vec<u32>,
    red: Vec<u32>,
    blue: Vec<u32>,
    alpha: Vec<u32>,
    distance: Vec<u32>,
    /// Extra bits of the lengths and distances.
    extra: u64,
}

fn histograms(px: &[u32], copies: &[BackRef], cache_bits: u32) -> Histograms {
    let mut h = Histograms::new(cache_bits);
    walk(px, copies, cache_bits, |_, s| h.add(&s));
    h
}

fn bump(v: &mut [u32], k: usize) {
    if let Some(c) = v.get_mut(k) {
        *c = c.saturating_add(1);
    }
}

impl Histograms {
    fn new(cache_bits: u32) -> Histograms {
        let cache = if cache_bits == 0 {
            0
        } else {
            1usize << cache_bits
        };
        Histograms {
            green: vec![0; 256usize.saturating_add(LENGTH_CODES).saturating_add(cache)],
            red: vec![0; 256],
            blue: vec![0; 256],
            alpha: vec![0; 256],
            distance: vec![0; DISTANCE_CODES],
            extra: 0,
        }
    }

    fn add(&mut self, s: &Symbol) {
        match *s {
            Symbol::Literal(v) => {
                let [a, r, g, b] = v.to_be_bytes().map(usize::from);
                bump(&mut self.green, g);
                bump(&mut self.red, r);
                bump(&mut self.blue, b);
                bump(&mut self.alpha, a);
            }
            Symbol::Cache(k) => {
                let k = usize::try_from(k).unwrap_or(0);
                bump(
                    &mut self.green,
                    256usize.saturating_add(LENGTH_CODES).saturating_add(k),
                );
            }
            Symbol::Copy(c) => {
                let (ls, lx, _) = prefix(c.len());
                let (ds, dx, _) = prefix(c.code());
                bump(&mut self.green, 256usize.saturating_add(ls));
                bump(&mut self.distance, ds);
                self.extra = self
                    .extra
                    .saturating_add(u64::from(lx))
                    .saturating_add(u64::from(dx));
            }
        }
    }

    fn alphabets(&self) -> [&Vec<u32>; 5] {
        [
            &self.green,
            &self.red,
            &self.blue,
            &self.alpha,
            &self.distance,
        ]
    }

    fn alphabets_mut(&mut self) -> [&mut Vec<u32>; 5] {
        [
            &mut self.green,
            &mut self.red,
            &mut self.blue,
            &mut self.alpha,
            &mut self.distance,
        ]
    }

    /// Adds `other`'s counts to these.
    fn absorb(&mut self, other: &Histograms) {
        for (mine, theirs) in self.alphabets_mut().into_iter().zip(other.alphabets()) {
            for (m, &t) in mine.iter_mut().zip(theirs.iter()) {
                *m = m.saturating_add(t);
            }
        }
        self.extra = self.extra.saturating_add(other.extra);
    }

    fn codes(&self) -> [Code; 5] {
        [
            Code::new(&self.green),
            Code::new(&self.red),
            Code::new(&self.blue),
            Code::new(&self.alpha),
            Code::new(&self.distance),
        ]
    }

    /// The coded size in bits: the five codes' headers and the symbols.
    fn cost(&self) -> u64 {
        let codes = self.codes();
        let mut scratch = BitWriter::default();
        let mut bits = self.extra;
        for (code, histo) in codes.iter().zip([
            &self.green,
            &self.red,
            &self.blue,
            &self.alpha,
            &self.distance,
        ]) {
            code.write_header(&mut scratch);
            bits = bits.saturating_add(code.data_bits(histo));
        }
        bits.saturating_add(scratch.bits())
    }
}

/// The colour cache size (in bits; 0 for none) that codes the image smallest. The sizes are
/// tried from none upwards; the coded size falls and then rises with the size, so the search
/// stops once it has risen twice in a row. Also that coded size in bits (one group of codes).
fn best_cache_bits(px: &[u32], copies: &[BackRef]) -> (u32, u64) {
    let mut best = (u64::MAX, 0u32);
    let mut rises = 0u32;
    let mut last = u64::MAX;
    for bits in 0..=MAX_CACHE_BITS {
        if bits == 1 {
            continue;
        }
        let cost = histograms(px, copies, bits).cost();
        if cost < best.0 {
            best = (cost, bits);
        }
        rises = if cost > last {
            rises.saturating_add(1)
        } else {
            0
        };
        if rises >= 2 {
            break;
        }
        last = cost;
    }
    (best.1, best.0)
}

fn write_symbol(bw: &mut BitWriter, codes: &[Code; 5], s: Symbol) {
    let [green, red, blue, alpha, distance] = codes;
    match s {
        Symbol::Literal(v) => {
            let [a, r, g, b] = v.to_be_bytes().map(usize::from);
            green.put(bw, g);
            red.put(bw, r);
            blue.put(bw, b);
            alpha.put(bw, a);
        }
        Symbol::Cache(k) => {
            let k = usize::try_from(k).unwrap_or(0);
            green.put(bw, 256usize.saturating_add(LENGTH_CODES).saturating_add(k));
        }
        Symbol::Copy(c) => {
            let (ls, lx, lv) = prefix(c.len());
            green.put(bw, 256usize.saturating_add(ls));
            bw.put(lv, lx);
            let (ds, dx, dv) = prefix(c.code());
            distance.put(bw, ds);
            bw.put(dv, dx);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Groups of codes over the image (the entropy image).

/// The most tiles the entropy image has while the groups are formed (each tile holds a set of
/// histograms, 8 KiB with the largest colour cache): the tile side grows from 16 pixels until
/// the image has at most this many.
const MAX_GROUP_TILES: usize = 1024;
/// The tiles start in groups by their cost a symbol in green, red and blue, each cut into this
/// many levels between the cheapest and the dearest tile: at most 64 groups, then merged.
const ENTROPY_LEVELS: usize = 4;

/// The entropy image: tiles 2^`bits` pixels a side, `xsize` across, each with its group's
/// index; and each group's histograms.
struct Groups {
    bits: u32,
    xsize: usize,
    of_tile: Vec<usize>,
    histos: Vec<Histograms>,
}

impl Groups {
    /// The group of the symbol that starts at pixel `i` of an image `width` wide.
    fn group_at(&self, i: usize, width: usize) -> usize {
        let x = i.checked_rem(width).unwrap_or(0) >> self.bits;
        let y = i.checked_div(width).unwrap_or(0) >> self.bits;
        self.of_tile
            .get(y.saturating_mul(self.xsize).saturating_add(x))
            .copied()
            .unwrap_or(0)
    }

    /// The entropy image's pixels: the group index in red (high byte) and green (low byte).
    fn entropy_image(&self) -> Vec<u32> {
        self.of_tile
            .iter()
            .map(|&g| {
                let g = u32::try_from(g).unwrap_or(0);
                (((g >> 8) & 0xff) << 16) | ((g & 0xff) << 8)
            })
            .collect()
    }
}

/// The estimated bits of one alphabet's code: the symbols' Shannon cost and its header (about
/// 5 bits a symbol used, as our headers come out).
fn alphabet_bits(counts: impl Iterator<Item = u32>) -> f64 {
    let (mut total, mut sum, mut used) = (0u32, 0f64, 0u32);
    for c in counts {
        if c != 0 {
            total = total.saturating_add(c);
            sum += n_log2_n(c);
            used = used.saturating_add(1);
        }
    }
    let header = if used <= 1 {
        4.0
    } else {
        16.0 + 5.0 * f64::from(used)
    };
    n_log2_n(total) - sum + header
}

fn estimate(h: &Histograms) -> f64 {
    h.alphabets()
        .into_iter()
        .map(|a| alphabet_bits(a.iter().copied()))
        .sum()
}

fn estimate_merged(a: &Histograms, b: &Histograms) -> f64 {
    a.alphabets()
        .into_iter()
        .zip(b.alphabets())
        .map(|(x, y)| alphabet_bits(x.iter().zip(y.iter()).map(|(&p, &q)| p.saturating_add(q))))
        .sum()
}

/// Forms the groups: per-tile histograms, first grouped by their cost a symbol, then merged
/// greedily while a merge saves bits (estimated), then each tile moved to the group whose
/// statistics code it cheapest. `None` for an image of one tile.
fn group_tiles(px: &[u32], width: usize, copies: &[BackRef], cache_bits: u32) -> Option<Groups> {
    let height = px.len().checked_div(width)?;
    let tiles_for = |bits: u32| {
        let side = 1usize << bits;
        (width.div_ceil(side), height.div_ceil(side))
    };
    let mut bits = 4u32;
    while bits < 9 && {
        let (x, y) = tiles_for(bits);
        x.saturating_mul(y) > MAX_GROUP_TILES
    } {
        bits = bits.saturating_add(1);
    }
    let (xsize, ysize) = tiles_for(bits);
    let n = xsize.saturating_mul(ysize);
    if !(2..=MAX_GROUP_TILES).contains(&n) {
        return None;
    }
    let tile_of = |i: usize| {
        let x = i.checked_rem(width).unwrap_or(0) >> bits;
        let y = i.checked_div(width).unwrap_or(0) >> bits;
        y.saturating_mul(xsize).saturating_add(x)
    };
    let mut tiles: Vec<Histograms> = (0..n).map(|_| Histograms::new(cache_bits)).collect();
    walk(px, copies, cache_bits, |i, s| {
        if let Some(t) = tiles.get_mut(tile_of(i)) {
            t.add(&s);
        }
    });

    // 1. Start groups: each tile's bits a symbol in green, red and blue, in levels.
    let per_symbol = |counts: &[u32]| {
        let total: u32 = counts.iter().fold(0u32, |a, &c| a.saturating_add(c));
        if total == 0 {
            0.0
        } else {
            alphabet_bits(counts.iter().copied()) / f64::from(total)
        }
    };
    let features: Vec<[f64; 3]> = tiles
        .iter()
        .map(|t| {
            [
                per_symbol(&t.green),
                per_symbol(&t.red),
                per_symbol(&t.blue),
            ]
        })
        .collect();
    let mut low = [f64::INFINITY; 3];
    let mut high = [f64::NEG_INFINITY; 3];
    for f in &features {
        for ((l, h), &v) in low.iter_mut().zip(high.iter_mut()).zip(f) {
            *l = l.min(v);
            *h = h.max(v);
        }
    }
    let mut group_of_bin: Vec<Option<usize>> = vec![None; ENTROPY_LEVELS.pow(3)];
    let mut groups: Vec<Histograms> = Vec::new();
    let mut of_tile = vec![0usize; n];
    for ((t, f), slot) in tiles.iter().zip(&features).zip(of_tile.iter_mut()) {
        let mut bin = 0usize;
        for ((&v, &l), &h) in f.iter().zip(&low).zip(&high) {
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "a level in 0..ENTROPY_LEVELS from a value between low and high"
            )]
            let level = if h > l {
                (((v - l) / (h - l)) * ENTROPY_LEVELS as f64) as usize
            } else {
                0
            };
            bin = bin
                .saturating_mul(ENTROPY_LEVELS)
                .saturating_add(level.min(ENTROPY_LEVELS.saturating_sub(1)));
        }
        let g = match group_of_bin.get(bin).copied().flatten() {
            Some(g) => g,
            None => {
                groups.push(Histograms::new(cache_bits));
                let g = groups.len().saturating_sub(1);
                if let Some(b) = group_of_bin.get_mut(bin) {
                    *b = Some(g);
                }
                g
            }
        };
        if let Some(h) = groups.get_mut(g) {
            h.absorb(t);
        }
        *slot = g;
    }

    // 2. Merge the pair that saves the most, while one saves anything.
    let k = groups.len();
    let mut alive = vec![true; k];
    let mut cost: Vec<f64> = groups.iter().map(estimate).collect();
    let mut saving = vec![f64::NEG_INFINITY; k.saturating_mul(k)];
    let pair_saving = |groups: &[Histograms], cost: &[f64], a: usize, b: usize| -> f64 {
        match (groups.get(a), groups.get(b), cost.get(a), cost.get(b)) {
            (Some(x), Some(y), Some(&cx), Some(&cy)) => cx + cy - estimate_merged(x, y),
            _ => f64::NEG_INFINITY,
        }
    };
    for a in 0..k {
        for b in a.saturating_add(1)..k {
            if let Some(s) = saving.get_mut(a.saturating_mul(k).saturating_add(b)) {
                *s = pair_saving(&groups, &cost, a, b);
            }
        }
    }
    loop {
        let mut best = (0.0f64, 0usize, 0usize);
        for a in 0..k {
            for b in a.saturating_add(1)..k {
                let s = saving
                    .get(a.saturating_mul(k).saturating_add(b))
                    .copied()
                    .unwrap_or(f64::NEG_INFINITY);
                if alive.get(a) == Some(&true) && alive.get(b) == Some(&true) && s > best.0 {
                    best = (s, a, b);
                }
            }
        }
        let (s, a, b) = best;
        if s <= 0.0 {
            break;
        }
        let taken = groups.get_mut(b).map(std::mem::take).unwrap_or_default();
        if let Some(h) = groups.get_mut(a) {
            h.absorb(&taken);
        }
        if let Some(x) = alive.get_mut(b) {
            *x = false;
        }
        if let Some(e) = groups.get(a).map(estimate) {
            if let Some(slot) = cost.get_mut(a) {
                *slot = e;
            }
        }
        for c in 0..k {
            if c == a || alive.get(c) != Some(&true) {
                continue;
            }
            let (lo, hi) = (a.min(c), a.max(c));
            let v = pair_saving(&groups, &cost, lo, hi);
            if let Some(slot) = saving.get_mut(lo.saturating_mul(k).saturating_add(hi)) {
                *slot = v;
            }
        }
        for g in &mut of_tile {
            if *g == b {
                *g = a;
            }
        }
    }

    // 3. Each tile to the group whose statistics code it cheapest.
    let models: Vec<(usize, Vec<Vec<f32>>)> = groups
        .iter()
        .enumerate()
        .filter(|(g, _)| alive.get(*g) == Some(&true))
        .map(|(g, h)| {
            (
                g,
                h.alphabets().into_iter().map(|a| code_costs(a)).collect(),
            )
        })
        .collect();
    for (t, slot) in tiles.iter().zip(of_tile.iter_mut()) {
        let mut best = (f32::INFINITY, *slot);
        for (g, model) in &models {
            let mut bits = 0f32;
            for (counts, costs) in t.alphabets().into_iter().zip(model) {
                for (&c, &b) in counts.iter().zip(costs) {
                    if c != 0 {
                        #[allow(clippy::cast_precision_loss, reason = "a count of at most 2^22")]
                        {
                            bits += c as f32 * b;
                        }
                    }
                }
            }
            if bits < best.0 {
                best = (bits, *g);
            }
        }
        *slot = best.1;
    }

    // The groups in use, numbered from 0, with their tiles' histograms.
    let mut index = vec![usize::MAX; k];
    let mut histos: Vec<Histograms> = Vec::new();
    for (t, g) in tiles.iter().zip(of_tile.iter_mut()) {
        let Some(slot) = index.get_mut(*g) else {
            continue;
        };
        if *slot == usize::MAX {
            *slot = histos.len();
            histos.push(Histograms::new(cache_bits));
        }
        *g = *slot;
        if let Some(h) = histos.get_mut(*slot) {
            h.absorb(t);
        }
    }
    (histos.len() > 1).then_some(Groups {
        bits,
        xsize,
        of_tile,
        histos,
    })
}

/// The bits each symbol costs under a code built from `counts`; an unseen symbol costs as if
/// it had been seen a quarter of a time.
fn code_costs(counts: &[u32]) -> Vec<f32> {
    symbol_bits(counts, 0.25).collect()
}

// ---------------------------------------------------------------------------------------------
// Huffman codes.

/// A canonical prefix code: per symbol its length and its bits, reversed for the LSB-first
/// stream. A code with one symbol writes no bits for it.
struct Code {
    lengths: Vec<u8>,
    bits: Vec<u16>,
    single: bool,
}

impl Code {
    fn new(histo: &[u32]) -> Code {
        Code::limited(histo, 15)
    }

    fn limited(histo: &[u32], limit: u8) -> Code {
        let mut lengths = huffman_lengths(histo, limit);
        let mut used = lengths.iter().filter(|&&l| l != 0).count();
        // One symbol at or above 256 (a length or cache code) has no simple form: give it a
        // partner, symbol 0, for a complete two-symbol code.
        if used == 1 && lengths.iter().position(|&l| l != 0) >= Some(256) {
            if let Some(l) = lengths.first_mut() {
                *l = 1;
            }
            used = 2;
        }
        let bits = canonical(&lengths);
        Code {
            lengths,
            bits,
            single: used <= 1,
        }
    }

    fn put(&self, bw: &mut BitWriter, symbol: usize) {
        if self.single {
            return;
        }
        let len = self.lengths.get(symbol).copied().unwrap_or(0);
        let bits = self.bits.get(symbol).copied().unwrap_or(0);
        bw.put(u32::from(bits), u32::from(len));
    }

    fn data_bits(&self, histo: &[u32]) -> u64 {
        if self.single {
            return 0;
        }
        self.lengths
            .iter()
            .zip(histo)
            .map(|(&l, &c)| u64::from(l).saturating_mul(u64::from(c)))
            .fold(0u64, u64::saturating_add)
    }

    /// Writes the code: the simple form for one or two symbols below 256, else the code
    /// lengths, run-length coded with a code-length code.
    fn write_header(&self, bw: &mut BitWriter) {
        let used: Vec<usize> = self
            .lengths
            .iter()
            .enumerate()
            .filter_map(|(s, &l)| (l != 0).then_some(s))
            .collect();
        if used.len() <= 2 && used.iter().all(|&s| s < 256) {
            bw.put(1, 1);
            let first = used.first().copied().unwrap_or(0);
            bw.put(u32::from(used.len() == 2), 1);
            let first32 = u32::try_from(first).unwrap_or(0);
            if first < 2 {
                bw.put(0, 1);
                bw.put(first32, 1);
            } else {
                bw.put(1, 1);
                bw.put(first32, 8);
            }
            if let Some(&second) = used.get(1) {
                bw.put(u32::try_from(second).unwrap_or(0), 8);
            }
            return;
        }
        let tokens = length_tokens(&self.lengths);
        let mut histo = [0u32; 19];
        for &(sym, _) in &tokens {
            if let Some(c) = histo.get_mut(usize::from(sym)) {
                *c = c.saturating_add(1);
            }
        }
        // Code-length code lengths are sent in 3 bits.
        let cl = Code::limited(&histo, 7);
        let cl_lengths: Vec<u8> = if cl.single {
            // One code-length symbol: declare it at length 1 (a decoder reads it with no bits).
            histo.iter().map(|&c| u8::from(c != 0)).collect()
        } else {
            cl.lengths.clone()
        };
        let count = CODE_LENGTH_ORDER
            .iter()
            .rposition(|&s| cl_lengths.get(s).copied().unwrap_or(0) != 0)
            .map_or(0, |p| p.saturating_add(1))
            .max(4);
        bw.put(0, 1);
        bw.put(u32::try_from(count.saturating_sub(4)).unwrap_or(0), 4);
        for &s in CODE_LENGTH_ORDER.iter().take(count) {
            bw.put(u32::from(cl_lengths.get(s).copied().unwrap_or(0)), 3);
        }
        bw.put(0, 1); // every symbol's length follows
        for (sym, extra) in tokens {
            cl.put(bw, usize::from(sym));
            match sym {
                16 => bw.put(u32::from(extra), 2),
                17 => bw.put(u32::from(extra), 3),
                18 => bw.put(u32::from(extra), 7),
                _ => {}
            }
        }
    }
}

/// Code lengths as code-length symbols: 0-15 a length, 16 the previous length 3-6 times, 17
/// and 18 zeros 3-10 and 11-138 times; each with its extra-bits value.
fn length_tokens(lengths: &[u8]) -> Vec<(u8, u8)> {
    let mut out = Vec::new();
    let mut i = 0usize;
    while let Some(&l) = lengths.get(i) {
        let run = lengths
            .get(i..)
            .unwrap_or(&[])
            .iter()
            .take_while(|&&x| x == l)
            .count()
            .max(1);
        i = i.saturating_add(run);
        let mut rest = run;
        if l == 0 {
            while rest >= 11 {
                let n = rest.min(138);
                out.push((18, u8::try_from(n.saturating_sub(11)).unwrap_or(0)));
                rest = rest.saturating_sub(n);
            }
            if rest >= 3 {
                out.push((17, u8::try_from(rest.saturating_sub(3)).unwrap_or(0)));
                rest = 0;
            }
        } else {
            out.push((l, 0));
            rest = rest.saturating_sub(1);
            while rest >= 3 {
                let n = rest.min(6);
                out.push((16, u8::try_from(n.saturating_sub(3)).unwrap_or(0)));
                rest = rest.saturating_sub(n);
            }
        }
        for _ in 0..rest {
            out.push((l, 0));
        }
    }
    out
}

/// Huffman code lengths for `histo`, at most `limit` bits: the counts are raised to a floor,
/// doubled until the tree fits (libwebp limits its codes the same way).
fn huffman_lengths(histo: &[u32], limit: u8) -> Vec<u8> {
    let mut lengths = vec![0u8; histo.len()];
    let used: Vec<(u64, usize)> = histo
        .iter()
        .enumerate()
        .filter_map(|(s, &c)| (c != 0).then_some((u64::from(c), s)))
        .collect();
    if used.len() <= 1 {
        if let Some(l) = used.first().and_then(|&(_, s)| lengths.get_mut(s)) {
            *l = 1;
        }
        return lengths;
    }
    let mut floor = 1u64;
    loop {
        let mut leaves: Vec<(u64, usize)> = used.iter().map(|&(c, s)| (c.max(floor), s)).collect();
        leaves.sort_unstable();
        let depths = tree_depths(&leaves);
        if depths.iter().all(|&d| d <= limit) {
            for (&(_, s), &d) in leaves.iter().zip(&depths) {
                if let Some(l) = lengths.get_mut(s) {
                    *l = d;
                }
            }
            return lengths;
        }
        floor = floor.saturating_mul(2);
    }
}

/// The depth of each leaf (sorted by weight) in a Huffman tree, by the two-queue method.
fn tree_depths(leaves: &[(u64, usize)]) -> Vec<u8> {
    let n = leaves.len();
    let total = n.saturating_mul(2).saturating_sub(1);
    let mut weight: Vec<u64> = leaves.iter().map(|&(w, _)| w).collect();
    weight.resize(total, 0);
    let mut parent = vec![0usize; total];
    let (mut leaf, mut inner) = (0usize, n);
    for node in n..total {
        let mut pick = || {
            let take_leaf = leaf < n
                && (inner >= node
                    || weight.get(leaf).copied().unwrap_or(u64::MAX)
                        <= weight.get(inner).copied().unwrap_or(u64::MAX));
            if take_leaf {
                leaf = leaf.saturating_add(1);
                leaf.saturating_sub(1)
            } else {
                inner = inner.saturating_add(1);
                inner.saturating_sub(1)
            }
        };
        let (a, b) = (pick(), pick());
        let w = weight
            .get(a)
            .copied()
            .unwrap_or(0)
            .saturating_add(weight.get(b).copied().unwrap_or(0));
        if let Some(x) = weight.get_mut(node) {
            *x = w;
        }
        for c in [a, b] {
            if let Some(p) = parent.get_mut(c) {
                *p = node;
            }
        }
    }
    let mut depth = vec![0u8; total];
    for node in (0..total.saturating_sub(1)).rev() {
        let d = parent
            .get(node)
            .and_then(|&p| depth.get(p))
            .copied()
            .unwrap_or(0)
            .saturating_add(1);
        if let Some(x) = depth.get_mut(node) {
            *x = d;
        }
    }
    depth.truncate(n);
    depth
}

/// Canonical codes for `lengths` (shorter first, then by symbol), bit-reversed.
fn canonical(lengths: &[u8]) -> Vec<u16> {
    let mut count = [0u16; 16];
    for &l in lengths {
        if let Some(c) = count.get_mut(usize::from(l)) {
            *c = c.saturating_add(1);
        }
    }
    if let Some(c) = count.get_mut(0) {
        *c = 0;
    }
    let mut next = [0u16; 16];
    let mut code = 0u16;
    for len in 1usize..16 {
        code = code
            .wrapping_add(count.get(len.saturating_sub(1)).copied().unwrap_or(0))
            .wrapping_shl(1);
        if let Some(n) = next.get_mut(len) {
            *n = code;
        }
    }
    lengths
        .iter()
        .map(|&l| {
            let Some(n) = next.get_mut(usize::from(l)) else {
                return 0;
            };
            if l == 0 {
                return 0;
            }
            let c = *n;
            *n = n.wrapping_add(1);
            c.reverse_bits() >> (16u32.saturating_sub(u32::from(l)))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------

/// An LSB-first bit writer.
#[derive(Default)]
struct BitWriter {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl BitWriter {
    /// Appends the low `len` bits of `value` (at most 32).
    fn put(&mut self, value: u32, len: u32) {
        if len == 0 {
            return;
        }
        let len = len.min(32);
        let mask = 1u64.checked_shl(len).unwrap_or(0).wrapping_sub(1);
        self.acc |= (u64::from(value) & mask) << self.n;
        self.n = self.n.saturating_add(len);
        if self.n >= 32 {
            let word = u32::try_from(self.acc & 0xFFFF_FFFF).unwrap_or(0);
            self.out.extend_from_slice(&word.to_le_bytes());
            self.acc >>= 32;
            self.n = self.n.saturating_sub(32);
        }
    }

    /// Appends everything `other` holds.
    fn append(&mut self, other: BitWriter) {
        for &byte in &other.out {
            self.put(u32::from(byte), 8);
        }
        self.put(u32::try_from(other.acc & 0xFFFF_FFFF).unwrap_or(0), other.n);
    }

    fn bits(&self) -> u64 {
        u64::try_from(self.out.len())
            .unwrap_or(u64::MAX)
            .saturating_mul(8)
            .saturating_add(u64::from(self.n))
    }

    fn finish(mut self) -> Vec<u8> {
        while self.n > 0 {
            self.out.push(u8::try_from(self.acc & 0xff).unwrap_or(0));
            self.acc >>= 8;
            self.n = self.n.saturating_sub(8);
        }
        self.out
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    reason = "tests: a panic is a failure, and the sizes are small"
)]
mod tests {
    use super::*;

    /// Our encoder's output for `p`, checked to decode (image-webp) to exactly `p`; its size.
    /// `encode_own`, not `encode`: the fallback to image-webp's encoder would hide a bug.
    fn round_trip(p: &Pixels) -> usize {
        let out = encode_own(p).unwrap();
        assert!(
            decodes_to(&out, p),
            "{}x{} {:?}",
            p.width,
            p.height,
            p.layout
        );
        assert_eq!(&out[12..16], b"VP8L");
        out.len()
    }

    fn image(w: u32, h: u32, layout: Layout, f: impl Fn(u32, u32, usize) -> u8) -> Pixels {
        let c = layout.channels();
        let mut data = Vec::new();
        for y in 0..h {
            for x in 0..w {
                for k in 0..c {
                    data.push(f(x, y, k));
                }
            }
        }
        Pixels::new(w, h, layout, data).unwrap()
    }

    fn noise(seed: u32) -> impl Fn(u32, u32, usize) -> u8 {
        move |x, y, k| {
            let mut v = x.wrapping_mul(0x9E37_79B9)
                ^ y.wrapping_mul(0x85EB_CA6B)
                ^ (k as u32 + seed).wrapping_mul(0xC2B2_AE35);
            v ^= v >> 15;
            v = v.wrapping_mul(0x2C1B_3C6D);
            (v >> 24) as u8
        }
    }

    /// Our exact output for `p` is below `tenths`/10 of image-webp's encoder's size.
    fn assert_below_image_webp(p: &Pixels, tenths: usize) {
        let ours = round_trip(p);
        let theirs = encode_image_webp(p).unwrap().len();
        assert!(
            ours * 10 < theirs * tenths,
            "ours {ours} bytes, image-webp {theirs}"
        );
    }

    const LAYOUTS: [Layout; 4] = [Layout::Gray, Layout::GrayAlpha, Layout::Rgb, Layout::Rgba];

    #[test]
    fn every_layout_and_size_round_trips() {
        for layout in LAYOUTS {
            for (w, h) in [
                (1, 1),
                (1, 7),
                (7, 1),
                (2, 2),
                (17, 33),
                (64, 48),
                (100, 3),
                (33, 200),
            ] {
                round_trip(&image(w, h, layout, noise(1)));
                round_trip(&image(w, h, layout, |x, y, k| {
                    ((x * 3 + y * 5) as usize + k * 40) as u8
                }));
                round_trip(&image(w, h, layout, |x, y, _| {
                    if (x / 3 + y / 2) % 2 == 0 {
                        0
                    } else {
                        255
                    }
                }));
            }
        }
    }

    /// 2, 4, 16 and 256 colours bundle 8, 4, 2 and 1 pixels into one, at widths that do and
    /// do not divide by the bundle; one more colour takes the next bundle size or no palette.
    #[test]
    fn every_palette_size_round_trips() {
        for colours in [1u32, 2, 3, 4, 5, 16, 17, 255, 256, 257] {
            for (w, h) in [(1, 1), (7, 3), (8, 8), (13, 40), (150, 70)] {
                let p = image(w, h, Layout::Rgba, |x, y, k| {
                    let c = (x * 7 + y * 13) % colours;
                    [
                        (c * 37) as u8,
                        (c * 11) as u8,
                        (c / 3) as u8,
                        if c % 5 == 0 { 0 } else { 255 },
                    ][k]
                });
                round_trip(&p);
            }
        }
    }

    /// Copies longer than the format's 4096 pixels, distances past the 2D map (a pattern
    /// repeated from 20,000 pixels back), and a uniform image. Repeats past the 2^18-pixel
    /// hash window are in `examples/vp8l_conformance.rs` (too slow for an unoptimised test).
    #[test]
    fn long_copies_and_far_distances_round_trip() {
        let (w, h) = (300u32, 200u32);
        let period = 20_000u32;
        let far = image(w, h, Layout::Rgb, |x, y, k| {
            noise(3)((y * w + x) % period, 0, k)
        });
        round_trip(&far);
        let flat = image(w, h, Layout::Rgba, |_, _, k| [10, 20, 30, 40][k]);
        let n = round_trip(&flat);
        assert!(n < 200, "a uniform image codes to {n} bytes");
        let stripes = image(5000, 2, Layout::Gray, |x, _, _| (x / 700) as u8);
        round_trip(&stripes);
    }

    /// A near-uniform image (a small patch of noise on white) codes to almost nothing: the
    /// parse once priced its literals at nearly zero bits, refused every copy and wrote a bit
    /// a pixel (132 KB for a megapixel where libwebp writes 1.7 KB), comparing a 4096-pixel
    /// match at every pixel on the way (seconds; found by a helper).
    #[test]
    fn a_near_uniform_image_is_copied_not_spelt_out() {
        let p = image(512, 512, Layout::Rgb, |x, y, k| {
            if (10..30).contains(&x) && (10..30).contains(&y) {
                noise(5)(x, y, k)
            } else {
                255
            }
        });
        let n = round_trip(&p);
        assert!(n < 3000, "{n} bytes");
    }

    /// Sampled rows unlike the rest of the image (flat, where the rest is 600 colours at
    /// random, which a colour cache codes in about 10 bits a pixel) once chose no cache and
    /// wrote a third more than with one (a helper's find): the output far above the sample's
    /// forecast makes the encoder choose again on other rows and search the cache size.
    #[test]
    fn a_sample_unlike_its_image_does_not_cost_its_size() {
        let palette: Vec<[u8; 3]> = (0..600u32)
            .map(|c| [noise(1)(c, 0, 0), noise(1)(c, 0, 1), noise(1)(c, 0, 2)])
            .collect();
        // 256 pixels wide: the trial's bands are 64 rows at rows 0, 128, 256 and 384.
        let p = image(256, 512, Layout::Rgb, |x, y, k| {
            if y % 128 < 64 {
                9
            } else {
                palette[(noise(2)(x, y, 0) as usize * 600) / 256 + (noise(3)(x, y, 0) as usize % 2)]
                    [k]
            }
        });
        assert_below_image_webp(&p, 8);
    }

    /// The encoder earns its place: on a graphic with runs, repeats and gradients it writes
    /// less than image-webp's encoder, by a margin.
    #[test]
    fn smaller_than_image_webp_on_a_graphic() {
        let p = image(400, 300, Layout::Rgba, |x, y, k| {
            let tile = ((x / 40) + (y / 30)) % 3;
            match (tile, k) {
                (0, 3) => 0,
                (0, _) => 0,
                (1, _) => [200, 120, 40, 255][k],
                _ => ((x + y) % 256) as u8,
            }
        });
        assert_below_image_webp(&p, 9);
    }

    /// A graphic where the parses differ: flat areas, antialiased stripes and a glyph-like
    /// block repeated with a few pixels changed.
    fn graphic(w: u32, h: u32) -> Pixels {
        image(w, h, Layout::Rgba, |x, y, k| {
            let glyph = (x % 23 < 9 && (y % 17) * 3 % 7 < 4) || (x ^ y) % 97 == 0;
            match (glyph, (x / 64 + y / 48) % 3, k) {
                (_, _, 3) => 255,
                (true, _, _) => (40 + (x * 7 + y) % 5 * 30) as u8,
                (false, 0, _) => 250,
                (false, 1, _) => ((x + 2 * y) / 3 % 256) as u8,
                (false, _, _) => [30, 90, 200][k],
            }
        })
    }

    /// The cost-optimal parse decodes to the same pixels and codes smaller than the greedy
    /// one it is priced by, on the near-neighbour candidates and on the chained ones.
    #[test]
    fn the_cost_optimal_parse_is_exact_and_smaller() {
        let p = graphic(301, 203);
        let argb = to_argb(&p);
        let t = Transforms {
            subtract_green: true,
            predict: true,
        };
        for depth in PARSE_DEPTHS {
            let coding = Some(Coding {
                cache_bits: 4,
                depth,
            });
            let (greedy, _) =
                encode_transformed(argb.clone(), p.width, p.height, false, t, coding, false);
            let (traced, _) =
                encode_transformed(argb.clone(), p.width, p.height, false, t, coding, true);
            assert!(decodes_to(&riff(greedy.clone()), &p));
            assert!(decodes_to(&riff(traced.clone()), &p));
            assert!(
                traced.len() < greedy.len(),
                "depth {depth}: traced {} greedy {}",
                traced.len(),
                greedy.len()
            );
        }
        for (depth, cache_bits) in [(0, 0), (0, 6), (CHAIN_DEPTH, 0), (CHAIN_DEPTH, 6)] {
            let costs = CostModel::from_literals(&argb);
            let before = find_copies(&argb, 301, &costs, depth);
            let h = histograms(&argb, &before, cache_bits);
            let after = optimal_copies(
                &argb,
                301,
                &CostModel::from_histograms(&h),
                cache_bits,
                depth,
            );
            // In order, apart and inside the image.
            let mut end = 0;
            for c in &after {
                let at = c.pos as usize;
                assert!(at >= end, "depth {depth}: a copy at {at} inside the last");
                end = at + c.len() as usize;
            }
            assert!(end <= argb.len());
            let (b, a) = (h.cost(), histograms(&argb, &after, cache_bits).cost());
            assert!(
                a < b,
                "depth {depth} cache {cache_bits}: traced {a} greedy {b}"
            );
        }
    }

    /// The cost-optimal parse is kept only where the output codes smaller with it, code
    /// groups and all (by one group's cost a thumbnail took one that came out 2% larger).
    #[test]
    fn the_cost_optimal_parse_never_makes_an_output_larger() {
        let images = [
            graphic(200, 125),
            graphic(64, 300),
            image(150, 90, Layout::Rgba, noise(3)),
            image(120, 80, Layout::Rgb, |x, y, k| {
                ((x * 3 + y * 5 + k as u32 * 40) % 256) as u8
            }),
            image(97, 61, Layout::GrayAlpha, |x, y, k| {
                if k == 1 {
                    ((x * y) % 7 * 40) as u8
                } else {
                    ((x / 5 + y / 3) % 2 * 200) as u8
                }
            }),
        ];
        let t = Transforms {
            subtract_green: true,
            predict: true,
        };
        for p in &images {
            let argb = to_argb(p);
            for depth in PARSE_DEPTHS {
                for cache_bits in [0, 5] {
                    let coding = Some(Coding { cache_bits, depth });
                    let encode = |trace| {
                        encode_transformed(argb.clone(), p.width, p.height, true, t, coding, trace)
                            .0
                    };
                    let (greedy, traced) = (encode(false), encode(true));
                    assert!(decodes_to(&riff(traced.clone()), p));
                    assert!(
                        traced.len() <= greedy.len(),
                        "{}x{} depth {depth} cache {cache_bits}: {} > {}",
                        p.width,
                        p.height,
                        traced.len(),
                        greedy.len()
                    );
                }
            }
        }
    }

    /// The nearest neighbours' match lengths carried from one position to the next are the
    /// ones a fresh comparison finds.
    #[test]
    fn carried_match_lengths_equal_fresh_ones() {
        let p = graphic(97, 61);
        let argb = to_argb(&p);
        let costs = CostModel::from_literals(&argb);
        let per_pixel = costs.average_literal.max(1.0);
        let mut carried = Matcher::new(&argb, 97, CHAIN_DEPTH);
        let mut fresh = Matcher::new(&argb, 97, CHAIN_DEPTH);
        for i in 0..argb.len() {
            fresh.run_at = None;
            let a = carried.search(i, &costs, per_pixel);
            let b = fresh.search(i, &costs, per_pixel);
            assert_eq!(
                a.map(|f| (f.best, f.longest)),
                b.map(|f| (f.best, f.longest)),
                "at {i}"
            );
            carried.insert(i);
            fresh.insert(i);
        }
    }

    /// Above [`MAX_PIXELS`] the output is image-webp's, and still exact.
    #[test]
    fn a_large_image_is_written_by_image_webp() {
        let p = image(4097, 1025, Layout::Gray, |x, y, _| ((x ^ y) & 0xff) as u8);
        assert!(u64::from(p.width) * u64::from(p.height) > MAX_PIXELS);
        let out = encode(&p).unwrap();
        assert_eq!(out, encode_image_webp(&p).unwrap());
        assert!(decodes_to(&out, &p));
    }

    /// The check that guards every output refuses one pixel off, and a wrong size.
    #[test]
    fn the_output_check_refuses_a_wrong_pixel() {
        let p = image(31, 17, Layout::Rgba, noise(9));
        let out = encode_own(&p).unwrap();
        assert!(decodes_to(&out, &p));
        let mut off = p.clone();
        off.data[40] ^= 1;
        assert!(!decodes_to(&out, &off));
        let other = image(17, 31, Layout::Rgba, noise(9));
        assert!(!decodes_to(&out, &other));
        assert!(!decodes_to(&out[..out.len() / 2], &p));
    }

    /// Huffman code lengths of random histograms form complete prefix codes (Kraft's sum is
    /// exactly 1) within the 15-bit limit, and canonical codes are distinct.
    #[test]
    fn huffman_lengths_are_complete_and_limited() {
        let mut seed = 12345u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) as u32
        };
        for _ in 0..5000 {
            let n = 2 + next() as usize % 300;
            // Skewed counts (Fibonacci-like spreads appear) force the length limit to act.
            let h: Vec<u32> = (0..n)
                .map(|i| {
                    let r = next();
                    if r % 3 == 0 {
                        0
                    } else {
                        (r % (1 + (i as u32 % 7) * 1000)) << (i % 17)
                    }
                })
                .collect();
            let l = huffman_lengths(&h, 15);
            let used: Vec<u8> = l.iter().copied().filter(|&x| x != 0).collect();
            if used.len() < 2 {
                continue;
            }
            assert!(used.iter().all(|&x| x <= 15));
            let kraft: f64 = used.iter().map(|&x| 0.5f64.powi(i32::from(x))).sum();
            assert!((kraft - 1.0).abs() < 1e-12, "Kraft sum {kraft} for {h:?}");
            let codes = canonical(&l);
            let mut seen: Vec<(u8, u16)> = l
                .iter()
                .zip(&codes)
                .filter(|(&x, _)| x != 0)
                .map(|(&x, &c)| (x, c))
                .collect();
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(seen.len(), used.len());
        }
    }
}
