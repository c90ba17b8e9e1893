//! A baseline JPEG encoder for one-channel (gray) images, with Huffman tables optimised for
//! the image, that needs little memory beyond the pixels it encodes.
//!
//! Why our own: jpeg-encoder, which writes every colour JPEG output, builds optimised tables
//! by keeping every quantised DCT block of the image (2 bytes a pixel: 32 MiB for 4096x4096)
//! and a copy of its rows (another byte a pixel) until the second pass, and that pass and the
//! table search were 40% of a 4000x3000 grayscale run (perf). Here the first pass turns each
//! block straight into its Huffman symbols (a 32-bit word each: 0.65 to 1.8 bytes a pixel on
//! the benchmark photos at quality 85, against jpeg-encoder's 3) and counts them; the second
//! pass writes the counted symbols with the tables made from the counts. An image busier than
//! the budget for kept symbols (2 bytes a pixel; noise needs more) has its symbols made again
//! from the pixels for the second pass, so the worst case stays below jpeg-encoder's. Only
//! gray: colour output stays with jpeg-encoder, whose 4:2:0 chroma keeps its own buffers small.
//!
//! The bitstream is plain baseline sequential JPEG (SOF0, one component, one scan, JFIF),
//! which every decoder reads. The quantisation table is the JPEG standard's luminance table
//! (ITU-T T.81 Annex K) scaled for the quality as the IJG library and jpeg-encoder scale it,
//! the forward DCT is the floating-point AAN algorithm (as the IJG library's `JDCT_FLOAT`), and
//! the table construction is Annex K.2's, code lengths limited to 16 bits.
//!
//! The input is our own decoded pixels, never an upload's bytes.

use super::error::Rejection;

/// The JPEG standard's luminance quantisation table (T.81 Annex K, table K.1), in natural
/// (row-major) order.
const LUMA_TABLE: [u16; 64] = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113,
    92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];

/// `ZIGZAG[k]`: the natural index (row * 8 + column) of the k-th coefficient in zigzag order.
const ZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// The largest size the frame header can state.
const MAX_SIDE: u32 = 65_535;

/// The quantisation table for `quality` (1-100), natural order: the standard table scaled by
/// 5000 / q below 50 and 200 - 2q from 50, rounded, within 1..=255 (8-bit tables, as baseline
/// JPEG requires).
pub fn quant_table(quality: u8) -> [u8; 64] {
    let q = u32::from(quality.clamp(1, 100));
    let scale = if q < 50 {
        5000u32.checked_div(q).unwrap_or(5000)
    } else {
        200u32.saturating_sub(q.saturating_mul(2))
    };
    LUMA_TABLE.map(|v| {
        let scaled = u32::from(v).saturating_mul(scale).saturating_add(50) / 100;
        u8::try_from(scaled.clamp(1, 255)).unwrap_or(u8::MAX)
    })
}

/// Encodes `w`x`h` gray samples (`data`, one byte each, rows top to bottom) as a baseline
/// JPEG of `quality`.
pub fn encode(data: &[u8], w: u32, h: u32, quality: u8) -> Result<Vec<u8>, Rejection> {
    let (wu, hu) = (w as usize, h as usize);
    if w == 0 || h == 0 || w > MAX_SIDE || h > MAX_SIDE || Some(data.len()) != wu.checked_mul(hu) {
        return Err(Rejection::internal(format!(
            "gray JPEG encoder: {w}x{h} with {} samples",
            data.len()
        )));
    }
    let budget = data
        .len()
        .saturating_mul(STORED_SYMBOLS_PER_PIXEL.0)
        .checked_div(STORED_SYMBOLS_PER_PIXEL.1)
        .unwrap_or(0);
    Ok(encode_with_budget(data, (w, h), quality, budget))
}

/// [`encode`] once its arguments are checked, keeping at most `budget` symbols between the
/// passes.
fn encode_with_budget(data: &[u8], (w, h): (u32, u32), quality: u8, budget: usize) -> Vec<u8> {
    let (wu, hu) = (w as usize, h as usize);
    let table = quant_table(quality);
    // First pass: count the symbols, and keep them while they fit the budget.
    let mut kept = Stored::new(budget);
    let (mut dc_freq, mut ac_freq) = ([0u32; 257], [0u32; 257]);
    each_symbol(data, wu, hu, &table, |word| {
        let (is_ac, symbol, _) = unpack(word);
        let freq = if is_ac { &mut ac_freq } else { &mut dc_freq };
        if let Some(f) = freq.get_mut(usize::from(symbol)) {
            *f = f.saturating_add(1);
        }
        kept.push(word);
    });
    let dc = HuffmanTable::optimal(&dc_freq);
    let ac = HuffmanTable::optimal(&ac_freq);
    let mut out = Vec::with_capacity(data.len().checked_div(4).unwrap_or(0).saturating_add(1024));
    write_headers(&mut out, w, h, &table, &dc, &ac);
    let mut bits = BitWriter::new(out);
    let mut write = |word: u32| {
        let (is_ac, symbol, extra) = unpack(word);
        let t = if is_ac { &ac } else { &dc };
        let (code, len) = t.code(symbol);
        let size = u32::from(if is_ac { symbol & 0x0F } else { symbol });
        // The code and its extra bits in one write: at most 16 + 11 bits.
        let joined = (u32::from(code).checked_shl(size).unwrap_or(0)) | u32::from(extra);
        bits.put(joined, u32::from(len).saturating_add(size));
    };
    // Second pass: from the kept symbols, or (an image too busy for the budget) from the
    // pixels again, which gives the same symbols.
    match kept.chunks {
        Some(chunks) => chunks.iter().flatten().for_each(|&word| write(word)),
        None => each_symbol(data, wu, hu, &table, write),
    }
    let mut out = bits.finish();
    out.extend_from_slice(&[0xFF, 0xD9]);
    out
}

/// How many symbols a pixel the first pass may keep, as a fraction: 1/2, i.e. 2 bytes a
/// pixel in 32-bit words. The benchmark photos need 0.65-1.8 bytes a pixel at quality 85; an
/// image of pure noise needs more (a symbol for nearly every coefficient): kept whole, a
/// 4096x4096 noise JPEG's grayscale peaked at 93.3 MiB, above jpeg-encoder's 76.9 (3 bytes a
/// pixel, with the rows it copies). Past the budget the symbols are made again from the pixels
/// in the second pass instead, at the cost of a second DCT pass: that image now peaks at
/// 61.4 MiB. (A budget of 1.5 bytes gave 53.5 MiB but sent the 2880x2160 camera photo down
/// the slower path: 214 -> 260 ms.)
const STORED_SYMBOLS_PER_PIXEL: (usize, usize) = (1, 2);

/// Symbols kept in chunks of this many words (1 MiB), so keeping them never copies or
/// over-allocates more than one chunk, as a growing vector would.
const CHUNK_WORDS: usize = 256 * 1024;

/// The first pass's kept symbols: `None` once they went over the budget (and were dropped).
struct Stored {
    chunks: Option<Vec<Vec<u32>>>,
    len: usize,
    budget: usize,
}

impl Stored {
    fn new(budget: usize) -> Self {
        Stored {
            chunks: Some(Vec::new()),
            len: 0,
            budget,
        }
    }

    fn push(&mut self, word: u32) {
        let Some(chunks) = self.chunks.as_mut() else {
            return;
        };
        if self.len >= self.budget {
            self.chunks = None;
            return;
        }
        self.len = self.len.saturating_add(1);
        match chunks.last_mut() {
            Some(c) if c.len() < CHUNK_WORDS => c.push(word),
            _ => {
                let mut c = Vec::with_capacity(CHUNK_WORDS.min(self.budget));
                c.push(word);
                chunks.push(c);
            }
        }
    }
}

/// A symbol as one word: bit 31 set for an AC symbol, bits 16-23 the symbol, bits 0-15 its
/// extra bits (as many as the symbol's size says).
fn pack(is_ac: bool, symbol: u8, extra: u16) -> u32 {
    (u32::from(is_ac) << 31) | (u32::from(symbol) << 16) | u32::from(extra)
}

fn unpack(word: u32) -> (bool, u8, u16) {
    let symbol = u8::try_from((word >> 16) & 0xFF).unwrap_or(0);
    let extra = u16::try_from(word & 0xFFFF).unwrap_or(0);
    (word >> 31 == 1, symbol, extra)
}

/// The size category of a coefficient (its bit length) and its extra bits (T.81 F.1.2.1: a
/// negative value is written as its one's complement in that many bits).
fn category(v: i32) -> (u8, u16) {
    let size = 32u32.saturating_sub(v.unsigned_abs().leading_zeros());
    let bits = if v < 0 { v.wrapping_sub(1) } else { v };
    let mask = 1u32.checked_shl(size).unwrap_or(0).wrapping_sub(1);
    let extra = u16::try_from(bits.cast_unsigned() & mask).unwrap_or(0);
    (u8::try_from(size).unwrap_or(0), extra)
}

/// Forward DCT, quantisation and symbol coding of every 8x8 block, left to right, top to
/// bottom, each symbol handed to `emit` in bitstream order. A partial block at the right or
/// bottom edge repeats the last column or row, as the IJG library pads.
fn each_symbol(data: &[u8], w: usize, h: usize, table: &[u8; 64], mut emit: impl FnMut(u32)) {
    let recip = reciprocals(table);
    let mut prev_dc = 0i32;
    let mut rows: [&[u8]; 8] = [&[]; 8];
    for by in 0..h.div_ceil(8) {
        for (r, slot) in rows.iter_mut().enumerate() {
            let y = by
                .saturating_mul(8)
                .saturating_add(r)
                .min(h.saturating_sub(1));
            let start = y.saturating_mul(w);
            *slot = data.get(start..start.saturating_add(w)).unwrap_or(&[]);
        }
        for bx in 0..w.div_ceil(8) {
            let x0 = bx.saturating_mul(8);
            let mut block = [[0f32; 8]; 8];
            for (dst, row) in block.iter_mut().zip(rows) {
                let last = row.last().copied().unwrap_or(0);
                match row.get(x0..x0.saturating_add(8)) {
                    Some(px) => {
                        for (d, &p) in dst.iter_mut().zip(px) {
                            *d = f32::from(p) - 128.0;
                        }
                    }
                    None => {
                        let mut px = row.get(x0..).unwrap_or(&[]).iter().copied();
                        for d in dst.iter_mut() {
                            *d = f32::from(px.next().unwrap_or(last)) - 128.0;
                        }
                    }
                }
            }
            let coefs = quantise(fdct(block), &recip);
            code_block(&coefs, &mut prev_dc, &mut emit);
        }
    }
}

/// One block's symbols: the DC difference, then runs of zeros and AC values (ZRL for sixteen
/// zeros, EOB after the last non-zero value).
fn code_block(coefs: &[i32; 64], prev_dc: &mut i32, emit: &mut impl FnMut(u32)) {
    let dc = coefs.first().copied().unwrap_or(0);
    let (size, extra) = category(dc.wrapping_sub(*prev_dc));
    *prev_dc = dc;
    emit(pack(false, size, extra));
    // Bit k set for a non-zero AC coefficient k (1-63): runs of zeros are the gaps.
    let mut mask = 0u64;
    for (k, &v) in coefs.iter().enumerate().skip(1) {
        mask |= u64::from(v != 0) << (k & 63);
    }
    let mut last = 0u32;
    while mask != 0 {
        let k = mask.trailing_zeros();
        mask &= mask.wrapping_sub(1);
        let mut run = k.saturating_sub(last).saturating_sub(1);
        last = k;
        while run > 15 {
            emit(pack(true, 0xF0, 0));
            run = run.saturating_sub(16);
        }
        let v = coefs
            .get(usize::try_from(k & 63).unwrap_or(0))
            .copied()
            .unwrap_or(0);
        let (size, extra) = category(v);
        let symbol = (u8::try_from(run).unwrap_or(0) << 4) | size;
        emit(pack(true, symbol, extra));
    }
    if last < 63 {
        emit(pack(true, 0x00, 0));
    }
}

/// The AAN DCT's output scale per frequency: 1 for 0, cos(k pi / 16) * sqrt(2) for 1-7.
const AAN_SCALE: [f64; 8] = [
    1.0,
    1.387_039_845,
    1.306_562_965,
    1.175_875_602,
    1.0,
    0.785_694_958,
    0.541_196_100,
    0.275_899_379,
];

/// Per coefficient, in the order [`fdct`] leaves them (transposed: index column * 8 + row),
/// the factor that turns the unscaled AAN output into the quantised value.
fn reciprocals(table: &[u8; 64]) -> [f32; 64] {
    let mut out = [0f32; 64];
    for (i, slot) in out.iter_mut().enumerate() {
        let (col, row) = (i / 8, i % 8);
        let q = table
            .get(row.saturating_mul(8).saturating_add(col))
            .copied()
            .unwrap_or(1);
        let sr = AAN_SCALE.get(row).copied().unwrap_or(1.0);
        let sc = AAN_SCALE.get(col).copied().unwrap_or(1.0);
        #[allow(
            clippy::cast_possible_truncation,
            reason = "a factor between 1/16000 and 1/8: f32 holds it to its precision"
        )]
        let r = (1.0 / (f64::from(q) * sr * sc * 8.0)) as f32;
        *slot = r;
    }
    out
}

/// For the k-th coefficient in zigzag order, its position in [`fdct`]'s transposed output:
/// natural index n = row * 8 + column is at column * 8 + row.
#[allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    reason = "evaluated while compiling: an index out of bounds would fail the build, not \
              panic at run time"
)]
const TRANSPOSED_ZIGZAG: [usize; 64] = {
    let mut t = [0usize; 64];
    let mut k = 0;
    while k < 64 {
        let n = ZIGZAG[k];
        t[k] = (n % 8) * 8 + n / 8;
        k += 1;
    }
    t
};

/// Quantises the transposed coefficients of [`fdct`] into zigzag order, rounding to nearest
/// and clamping to what baseline JPEG can code (AC sizes up to 10 bits,
/// DC differences up to 11).
fn quantise(t: [[f32; 8]; 8], recip: &[f32; 64]) -> [i32; 64] {
    // Quantise in the transposed order first (a straight loop the compiler vectorises), then
    // reorder the integers.
    let mut q = [0i32; 64];
    for ((o, &v), &r) in q.iter_mut().zip(t.as_flattened()).zip(recip) {
        *o = to_coef(v * r);
    }
    let mut out = [0i32; 64];
    for (o, &tpos) in out.iter_mut().zip(&TRANSPOSED_ZIGZAG) {
        // `& 63` lets the compiler see the index is in bounds (every entry is below 64).
        *o = q.get(tpos & 63).copied().unwrap_or(0);
    }
    out
}

/// 1.5 * 2^23: added to a float of magnitude below 2^22, it leaves the nearest integer in the
/// low bits of the sum's mantissa.
const ROUNDING_MAGIC: f32 = 12_582_912.0;

/// Rounds to the nearest integer (ties to even) and clamps to +-1023, with bit arithmetic
/// rather than a float-to-integer cast: Rust's saturating `as` and `f32::round` (a libm call
/// here) were a fifth of the encoder's instructions. `max` and `min` also turn a NaN into
/// -1023, so no input can make a value the bitstream cannot hold.
#[allow(
    clippy::manual_clamp,
    reason = "clamp keeps a NaN, max and min drop it: that is the point here"
)]
fn to_coef(v: f32) -> i32 {
    let c = v.max(-1023.0).min(1023.0) + ROUNDING_MAGIC;
    c.to_bits()
        .cast_signed()
        .wrapping_sub(ROUNDING_MAGIC.to_bits().cast_signed())
}

type Row8 = [f32; 8];

fn add(a: Row8, b: Row8) -> Row8 {
    let mut o = a;
    o.iter_mut().zip(b).for_each(|(x, y)| *x += y);
    o
}

fn sub(a: Row8, b: Row8) -> Row8 {
    let mut o = a;
    o.iter_mut().zip(b).for_each(|(x, y)| *x -= y);
    o
}

fn mul(a: Row8, k: f32) -> Row8 {
    a.map(|x| x * k)
}

/// One pass of the AAN forward DCT (the IJG library's `jfdctflt`) over eight rows at once:
/// `d[k]` is the k-th input row, each lane a column, and the result row k holds frequency k
/// of every column, unscaled (see [`AAN_SCALE`]).
fn aan(d: [Row8; 8]) -> [Row8; 8] {
    let [d0, d1, d2, d3, d4, d5, d6, d7] = d;
    let (t0, t7) = (add(d0, d7), sub(d0, d7));
    let (t1, t6) = (add(d1, d6), sub(d1, d6));
    let (t2, t5) = (add(d2, d5), sub(d2, d5));
    let (t3, t4) = (add(d3, d4), sub(d3, d4));
    // Even part.
    let (t10, t13) = (add(t0, t3), sub(t0, t3));
    let (t11, t12) = (add(t1, t2), sub(t1, t2));
    let o0 = add(t10, t11);
    let o4 = sub(t10, t11);
    let z1 = mul(add(t12, t13), std::f32::consts::FRAC_1_SQRT_2);
    let o2 = add(t13, z1);
    let o6 = sub(t13, z1);
    // Odd part.
    let t10 = add(t4, t5);
    let t11 = add(t5, t6);
    let t12 = add(t6, t7);
    let z5 = mul(sub(t10, t12), 0.382_683_43);
    let z2 = add(mul(t10, 0.541_196_1), z5);
    let z4 = add(mul(t12, 1.306_563), z5);
    let z3 = mul(t11, std::f32::consts::FRAC_1_SQRT_2);
    let z11 = add(t7, z3);
    let z13 = sub(t7, z3);
    [
        o0,
        add(z11, z4),
        o2,
        sub(z13, z2),
        o4,
        add(z13, z2),
        o6,
        sub(z11, z4),
    ]
}

fn transpose(b: [Row8; 8]) -> [Row8; 8] {
    let mut t = [[0f32; 8]; 8];
    for (r, row) in b.iter().enumerate() {
        for (c, &v) in row.iter().enumerate() {
            if let Some(slot) = t.get_mut(c).and_then(|tr| tr.get_mut(r)) {
                *slot = v;
            }
        }
    }
    t
}

/// The 2-D forward DCT of a block (rows of samples less 128), unscaled and transposed: entry
/// [column frequency][row frequency]. The columns are transformed first (each lane a column),
/// then, after one transpose, the rows.
fn fdct(block: [Row8; 8]) -> [Row8; 8] {
    aan(transpose(aan(block)))
}

/// Adds one bit to the code size of every symbol in the chain that starts at `start` (a tree
/// being merged in Annex K.2's procedure) and returns the chain's last symbol.
fn lengthen(size: &mut [usize; 257], others: &[usize; 257], start: usize) -> usize {
    let mut v = start;
    // A chain visits each of the 257 symbols at most once.
    for _ in 0..=256 {
        if let Some(s) = size.get_mut(v) {
            *s = s.saturating_add(1);
        }
        match others.get(v).copied() {
            Some(next) if next != usize::MAX => v = next,
            _ => break,
        }
    }
    v
}

/// A Huffman table: code and length per symbol, and the two lists the DHT segment states.
struct HuffmanTable {
    /// BITS: how many codes of each length 1-16.
    counts: [u8; 16],
    /// HUFFVAL: the symbols, shortest codes first.
    values: Vec<u8>,
    codes: [(u16, u8); 256],
}

impl HuffmanTable {
    /// The optimal table for `freq` (T.81 Annex K.2): the Huffman code sizes, limited to 16
    /// bits, with the reserved code point (symbol 256) that keeps any code from being all ones.
    fn optimal(freq: &[u32; 257]) -> HuffmanTable {
        let mut freq: [u64; 257] = freq.map(u64::from);
        if let Some(f) = freq.get_mut(256) {
            *f = 1;
        }
        let mut size = [0usize; 257];
        let mut others = [usize::MAX; 257];
        loop {
            // The least frequent symbol (the last of equals), then the next least.
            let least = |skip: usize, freq: &[u64; 257]| {
                let mut pick: Option<(usize, u64)> = None;
                for (i, &f) in freq.iter().enumerate() {
                    if f > 0 && i != skip && pick.is_none_or(|(_, pf)| f <= pf) {
                        pick = Some((i, f));
                    }
                }
                pick.map(|(i, _)| i)
            };
            let Some(v1) = least(usize::MAX, &freq) else {
                break;
            };
            let Some(v2) = least(v1, &freq) else {
                break;
            };
            let f2 = freq.get(v2).copied().unwrap_or(0);
            if let Some(f1) = freq.get_mut(v1) {
                *f1 = f1.saturating_add(f2);
            }
            if let Some(f) = freq.get_mut(v2) {
                *f = 0;
            }
            // Lengthen every code of v1's tree, then chain v2's tree after it.
            let v1_last = lengthen(&mut size, &others, v1);
            if let Some(o) = others.get_mut(v1_last) {
                *o = v2;
            }
            lengthen(&mut size, &others, v2);
        }
        // BITS by length, up to 256 + 1 long before limiting.
        let mut bits = [0u32; 258];
        for &s in &size {
            if s > 0 {
                if let Some(b) = bits.get_mut(s) {
                    *b = b.saturating_add(1);
                }
            }
        }
        // Annex K.3 (figure K.3): move codes longer than 16 bits up, two at a time.
        let mut i = 257usize;
        while i > 16 {
            while bits.get(i).copied().unwrap_or(0) > 0 {
                let mut j = i.saturating_sub(2);
                while j > 0 && bits.get(j).copied().unwrap_or(0) == 0 {
                    j = j.saturating_sub(1);
                }
                for (k, delta) in [
                    (i, -2i64),
                    (i.saturating_sub(1), 1),
                    (j.saturating_add(1), 2),
                    (j, -1),
                ] {
                    if let Some(b) = bits.get_mut(k) {
                        *b = u32::try_from(i64::from(*b).saturating_add(delta).max(0)).unwrap_or(0);
                    }
                }
            }
            i = i.saturating_sub(1);
        }
        // Drop the reserved code point: one code of the longest length in use.
        let mut longest = 16usize;
        while longest > 0 && bits.get(longest).copied().unwrap_or(0) == 0 {
            longest = longest.saturating_sub(1);
        }
        if let Some(b) = bits.get_mut(longest) {
            *b = b.saturating_sub(1);
        }
        // HUFFVAL: symbols by code size, then by value (the reserved one left out).
        let mut values = Vec::new();
        for len in 1..=257usize {
            for (sym, &s) in size.iter().enumerate().take(256) {
                if s == len {
                    values.push(u8::try_from(sym).unwrap_or(0));
                }
            }
        }
        let mut counts = [0u8; 16];
        for (c, &b) in counts.iter_mut().zip(bits.iter().skip(1)) {
            *c = u8::try_from(b).unwrap_or(u8::MAX);
        }
        // Canonical codes (T.81 Annex C): consecutive within a length, shifted at each length.
        let mut codes = [(0u16, 0u8); 256];
        let mut code = 0u32;
        let mut syms = values.iter();
        for (len, &n) in (1u8..=16).zip(&counts) {
            for _ in 0..n {
                if let Some(slot) = syms.next().and_then(|&s| codes.get_mut(usize::from(s))) {
                    *slot = (u16::try_from(code).unwrap_or(u16::MAX), len);
                }
                code = code.saturating_add(1);
            }
            code = code.checked_shl(1).unwrap_or(0);
        }
        values.truncate(counts.iter().map(|&c| usize::from(c)).sum());
        HuffmanTable {
            counts,
            values,
            codes,
        }
    }

    fn code(&self, symbol: u8) -> (u16, u8) {
        self.codes
            .get(usize::from(symbol))
            .copied()
            .unwrap_or((0, 0))
    }
}

/// The headers up to the entropy-coded data: SOI, JFIF APP0, DQT, SOF0, DHT (DC and AC), SOS.
fn write_headers(
    out: &mut Vec<u8>,
    w: u32,
    h: u32,
    table: &[u8; 64],
    dc: &HuffmanTable,
    ac: &HuffmanTable,
) {
    let be = |v: usize| u16::try_from(v).unwrap_or(u16::MAX).to_be_bytes();
    out.extend_from_slice(&[0xFF, 0xD8]);
    // JFIF 1.01, no density unit, aspect 1:1, no thumbnail.
    out.extend_from_slice(&[0xFF, 0xE0, 0, 16]);
    out.extend_from_slice(b"JFIF\0");
    out.extend_from_slice(&[1, 1, 0, 0, 1, 0, 1, 0, 0]);
    // DQT: table 0, 8-bit values, in zigzag order.
    out.extend_from_slice(&[0xFF, 0xDB, 0, 67, 0]);
    out.extend(ZIGZAG.iter().map(|&n| table.get(n).copied().unwrap_or(1)));
    // SOF0: 8-bit samples, one component (id 1, sampling 1x1, table 0).
    out.extend_from_slice(&[0xFF, 0xC0, 0, 11, 8]);
    out.extend_from_slice(&be(h as usize));
    out.extend_from_slice(&be(w as usize));
    out.extend_from_slice(&[1, 1, 0x11, 0]);
    // DHT: DC table 0, then AC table 0.
    let len = 2usize
        .saturating_add(17)
        .saturating_add(dc.values.len())
        .saturating_add(17)
        .saturating_add(ac.values.len());
    out.extend_from_slice(&[0xFF, 0xC4]);
    out.extend_from_slice(&be(len));
    for (class, t) in [(0x00u8, dc), (0x10, ac)] {
        out.push(class);
        out.extend_from_slice(&t.counts);
        out.extend_from_slice(&t.values);
    }
    // SOS: component 1 with tables 0/0, spectral 0-63, no successive approximation.
    out.extend_from_slice(&[0xFF, 0xDA, 0, 8, 1, 1, 0x00, 0, 63, 0]);
}

/// Entropy-coded bits, most significant first, with a zero byte stuffed after every 0xFF.
struct BitWriter {
    out: Vec<u8>,
    /// The bits not yet written, in the low `n` bits.
    acc: u64,
    n: u32,
}

impl BitWriter {
    fn new(out: Vec<u8>) -> Self {
        BitWriter { out, acc: 0, n: 0 }
    }

    /// Appends the low `len` bits of `value` (at most 32; callers write at most 27).
    fn put(&mut self, value: u32, len: u32) {
        let len = len.min(32);
        if len == 0 {
            return;
        }
        let mask = 1u64.checked_shl(len).unwrap_or(0).wrapping_sub(1);
        self.acc = (self.acc << len) | (u64::from(value) & mask);
        self.n = self.n.saturating_add(len);
        if self.n >= 32 {
            self.n = self.n.saturating_sub(32);
            let word = u32::try_from((self.acc >> self.n) & 0xFFFF_FFFF).unwrap_or(0);
            let bytes = word.to_be_bytes();
            if bytes.contains(&0xFF) {
                for b in bytes {
                    self.push_byte(b);
                }
            } else {
                self.out.extend_from_slice(&bytes);
            }
            self.acc &= 1u64.checked_shl(self.n).unwrap_or(0).wrapping_sub(1);
        }
    }

    fn push_byte(&mut self, b: u8) {
        self.out.push(b);
        if b == 0xFF {
            self.out.push(0);
        }
    }

    /// Writes the whole bytes left, pads the last with one bits (T.81 F.1.2.3) and returns
    /// the bytes.
    fn finish(mut self) -> Vec<u8> {
        let pad = (8u32.saturating_sub(self.n % 8)) % 8;
        self.acc = (self.acc << pad) | 1u64.checked_shl(pad).unwrap_or(0).wrapping_sub(1);
        self.n = self.n.saturating_add(pad);
        while self.n >= 8 {
            self.n = self.n.saturating_sub(8);
            let b = u8::try_from((self.acc >> self.n) & 0xFF).unwrap_or(0);
            self.push_byte(b);
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
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap,
    reason = "tests: a failure is a failed test"
)]
mod tests {
    use super::*;
    use crate::core::pixels::{Layout, Pixels};
    use crate::testkit as tk;

    /// A photo-like gray image: smooth shading, edges and fine noise.
    fn photo(w: u32, h: u32) -> Vec<u8> {
        let mut rng = tk::Rng(0x9E37_79B9_7F4A_7C15);
        (0..h)
            .flat_map(|y| (0..w).map(move |x| (x, y)))
            .map(|(x, y)| {
                let shade = (x * 255 / w.max(1) + y * 128 / h.max(1)) as i32 / 2;
                let edge = if (x / 13 + y / 17) % 4 == 0 { 60 } else { 0 };
                (shade + edge + (rng.below(17) as i32 - 8)).clamp(0, 255) as u8
            })
            .collect()
    }

    fn decode(bytes: &[u8]) -> Pixels {
        tk::decode(bytes)
    }

    /// The DCT against its definition: F(u,v) = 1/4 C(u) C(v) sum f(x,y) cos((2x+1)u pi/16)
    /// cos((2y+1)v pi/16), once the AAN output is scaled back.
    #[test]
    fn the_dct_matches_its_definition() {
        let mut rng = tk::Rng(0x2545_F491_4F6C_DD1D);
        let mut block = [[0f32; 8]; 8];
        for row in block.iter_mut() {
            for v in row.iter_mut() {
                *v = rng.below(256) as f32 - 128.0;
            }
        }
        let t = fdct(block);
        let c = |k: usize| if k == 0 { 1.0 / 2f64.sqrt() } else { 1.0 };
        for u in 0..8 {
            for v in 0..8 {
                let mut sum = 0.0;
                for (y, row) in block.iter().enumerate() {
                    for (x, &f) in row.iter().enumerate() {
                        sum += f64::from(f)
                            * ((2 * x + 1) as f64 * v as f64 * std::f64::consts::PI / 16.0).cos()
                            * ((2 * y + 1) as f64 * u as f64 * std::f64::consts::PI / 16.0).cos();
                    }
                }
                let want = 0.25 * c(u) * c(v) * sum;
                // t is [column frequency v][row frequency u], scaled by 8 * scale(u) * scale(v).
                let got = f64::from(t[v][u]) / (8.0 * AAN_SCALE[u] * AAN_SCALE[v]);
                assert!((got - want).abs() < 0.01, "({u},{v}): {got} against {want}");
            }
        }
    }

    #[test]
    fn coefficients_round_to_nearest_and_stay_codable() {
        for (v, want) in [
            (0.0, 0),
            (0.49, 0),
            (0.51, 1),
            (-0.51, -1),
            (1.5, 2),
            (-2.7, -3),
            (1022.6, 1023),
            (5000.0, 1023),
            (-5000.0, -1023),
            (f32::NAN, -1023),
            (f32::INFINITY, 1023),
        ] {
            assert_eq!(to_coef(v), want, "{v}");
        }
    }

    #[test]
    fn categories_follow_the_standard() {
        assert_eq!(category(0), (0, 0));
        assert_eq!(category(1), (1, 1));
        assert_eq!(category(-1), (1, 0));
        assert_eq!(category(5), (3, 5));
        assert_eq!(category(-5), (3, 2));
        assert_eq!(category(1023), (10, 1023));
        assert_eq!(category(-2047), (11, 0));
    }

    #[test]
    fn the_quality_85_table_is_the_standard_one_scaled() {
        let t = quant_table(85);
        assert_eq!(t[0], 5); // 16 * 30 / 100 rounded
        assert_eq!(t[63], 30); // 99 * 30 / 100 rounded
        assert!(quant_table(100).iter().all(|&v| v == 1));
        assert_eq!(quant_table(1)[0], 255);
    }

    /// Optimal tables are prefix codes no longer than 16 bits with no all-ones code, also
    /// for counts that push a plain Huffman code past 16 bits (Fibonacci counts) and for one
    /// symbol alone.
    #[test]
    fn huffman_tables_are_valid_prefix_codes() {
        let mut fib = [0u32; 257];
        let (mut a, mut b) = (1u32, 1u32);
        for f in fib.iter_mut().take(30) {
            *f = a;
            (a, b) = (b, a.saturating_add(b));
        }
        let mut one = [0u32; 257];
        one[0] = 1000;
        let mut all = [0u32; 257];
        for (i, f) in all.iter_mut().enumerate().take(256) {
            *f = 1 + (i as u32 * 7919) % 1000;
        }
        for freq in [fib, one, all] {
            let t = HuffmanTable::optimal(&freq);
            let used: Vec<usize> = (0..256).filter(|&s| freq[s] > 0).collect();
            assert_eq!(t.values.len(), used.len());
            let mut kraft = 0.0;
            for &s in &used {
                let (code, len) = t.codes[s];
                assert!((1..=16).contains(&len), "symbol {s}: length {len}");
                assert_ne!(u32::from(code), (1u32 << len) - 1, "all-ones code");
                kraft += 0.5f64.powi(i32::from(len));
                for &o in &used {
                    let (oc, ol) = t.codes[o];
                    if o != s && ol >= len {
                        assert_ne!(u32::from(oc) >> (ol - len), u32::from(code), "prefix");
                    }
                }
            }
            assert!(kraft < 1.0);
        }
    }

    /// Round trips at odd sizes (partial blocks on both edges) down to 1x1, read back by
    /// zune-jpeg at the right size and close to the source.
    #[test]
    fn gray_jpegs_round_trip_at_any_size() {
        for (w, h) in [(1, 1), (8, 8), (9, 7), (17, 33), (64, 48), (301, 203)] {
            let data = photo(w, h);
            let out = encode(&data, w, h, 85).unwrap();
            let back = decode(&out);
            assert_eq!((back.width, back.height, back.layout), (w, h, Layout::Gray));
            let src = Pixels::new(w, h, Layout::Gray, data).unwrap();
            let err = tk::mean_abs_diff(&src, &back);
            assert!(err < 4.0, "{w}x{h}: mean error {err}");
        }
    }

    /// Against jpeg-encoder (the colour encoder) with optimised tables at the same quality:
    /// the same size within 2% and the same error within a tenth of a level.
    #[test]
    fn gray_jpegs_match_jpeg_encoder() {
        let (w, h) = (640u32, 480u32);
        let data = photo(w, h);
        let ours = encode(&data, w, h, 85).unwrap();
        let mut theirs = Vec::new();
        let mut enc = jpeg_encoder::Encoder::new(&mut theirs, 85);
        enc.set_optimized_huffman_tables(true);
        enc.encode(&data, w as u16, h as u16, jpeg_encoder::ColorType::Luma)
            .unwrap();
        let ratio = ours.len() as f64 / theirs.len() as f64;
        assert!((0.98..1.02).contains(&ratio), "size ratio {ratio}");
        let src = Pixels::new(w, h, Layout::Gray, data).unwrap();
        let e_ours = tk::mean_abs_diff(&src, &decode(&ours));
        let e_theirs = tk::mean_abs_diff(&src, &decode(&theirs));
        assert!(
            e_ours <= e_theirs + 0.1,
            "error {e_ours} against {e_theirs}"
        );
    }

    /// Flat images (one DC value, no AC: a one-symbol table each) and extreme values.
    #[test]
    fn flat_and_extreme_images_encode() {
        for v in [0u8, 128, 255] {
            let data = vec![v; 40 * 24];
            let back = decode(&encode(&data, 40, 24, 85).unwrap());
            assert!(back.data.iter().all(|&b| b.abs_diff(v) <= 1), "flat {v}");
        }
        let checker: Vec<u8> = (0..64 * 64)
            .map(|i| if (i % 64 + i / 64) % 2 == 0 { 0 } else { 255 })
            .collect();
        let back = decode(&encode(&checker, 64, 64, 100).unwrap());
        let src = Pixels::new(64, 64, Layout::Gray, checker).unwrap();
        assert!(tk::mean_abs_diff(&src, &back) < 8.0);
    }

    /// Pure noise needs a symbol for nearly every coefficient, more than the first pass may
    /// keep: the second pass makes them again from the pixels, and the file is the one the
    /// kept symbols give (the same bytes with a budget large enough to keep them all).
    #[test]
    fn an_image_too_busy_to_keep_its_symbols_encodes_the_same() {
        let (w, h) = (96u32, 80u32);
        let mut rng = tk::Rng(0x1234_5678_9ABC_DEF1);
        let data: Vec<u8> = (0..w * h).map(|_| rng.below(256) as u8).collect();
        let mut count = 0usize;
        each_symbol(&data, w as usize, h as usize, &quant_table(85), |_| {
            count += 1
        });
        let budget = data.len() * STORED_SYMBOLS_PER_PIXEL.0 / STORED_SYMBOLS_PER_PIXEL.1;
        assert!(count > budget, "{count} symbols, budget {budget}: not over");
        let mut kept = Stored::new(count);
        each_symbol(&data, w as usize, h as usize, &quant_table(85), |word| {
            kept.push(word)
        });
        assert_eq!(
            kept.chunks.as_ref().map(|c| c.iter().map(Vec::len).sum()),
            Some(count)
        );
        let mut dropped = Stored::new(budget);
        each_symbol(&data, w as usize, h as usize, &quant_table(85), |word| {
            dropped.push(word)
        });
        assert!(dropped.chunks.is_none());
        let out = encode(&data, w, h, 85).unwrap();
        assert_eq!(
            out,
            encode_with_budget(&data, (w, h), 85, count),
            "kept and remade differ"
        );
        assert_eq!(out, encode_with_budget(&data, (w, h), 85, 0));
        let back = decode(&out);
        let src = Pixels::new(w, h, Layout::Gray, data).unwrap();
        assert!(tk::mean_abs_diff(&src, &back) < 12.0);
    }

    #[test]
    fn wrong_arguments_are_internal_errors() {
        assert!(encode(&[], 0, 0, 85).is_err());
        assert!(encode(&[0; 10], 3, 3, 85).is_err());
        assert!(encode(&vec![0; 70_000], 70_000, 1, 85).is_err());
    }
}
