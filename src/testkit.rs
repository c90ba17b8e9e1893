//! Fixture generator for the tests, the sample images and the benchmarks.
//!
//! Every test image the project uses is made here, from code, with the crate's own encoders
//! (jpeg-encoder, png, image-webp) or as hand-crafted bytes: nothing is copied in from
//! elsewhere. The images carry the metadata a real upload carries (EXIF with an orientation
//! and GPS, XMP, IPTC, ICC, comments, PNG text chunks) so tests can prove that none of it
//! survives, and marked corners so tests can prove that orientation is applied.
//!
//! Not part of the product API: it is public only so integration tests and examples can reach
//! it, and hidden from the docs.
#![allow(
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::panic,
    reason = "fixture generator: every input is a constant of ours, so a failure is a bug in \
              the generator and should be loud, never a condition to handle"
)]

use crate::core::pixels::{Layout, Pixels};

/// An ASCII string written into the GPS IFD of every EXIF block made here. Tests search the
/// output bytes for it: if it is there, GPS metadata leaked.
pub const GPS_MARKER: &str = "TESTKIT-GPS-51.5007N-0.1246W";
/// An ASCII string written into comments, text chunks, XMP and IPTC.
pub const TEXT_MARKER: &str = "TESTKIT-SECRET-AUTHOR-NOTE";

/// Byte strings whose presence in an output means metadata leaked. Each names a container
/// for metadata in one of our three formats.
pub const METADATA_MARKERS: &[&[u8]] = &[
    b"Exif",
    b"http://ns.adobe.com/xap",
    b"Photoshop 3.0",
    b"iCCP",
    b"tEXt",
    b"zTXt",
    b"iTXt",
    b"eXIf",
    b"ICC_PROFILE",
    b"XMP ",
    b"EXIF",
    b"ICCP",
    GPS_MARKER.as_bytes(),
    TEXT_MARKER.as_bytes(),
];

/// Returns the first metadata marker found in `bytes`, if any.
pub fn find_metadata_marker(bytes: &[u8]) -> Option<&'static str> {
    METADATA_MARKERS
        .iter()
        .find(|m| contains(bytes, m))
        .map(|m| std::str::from_utf8(m).unwrap_or("?"))
}

/// Whether `needle` occurs in `hay`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

// ---------------------------------------------------------------------------------------
// Pixels
// ---------------------------------------------------------------------------------------

/// A smooth, photo-like gradient with a little texture, in any layout. Alpha (when the layout
/// has it) rises from transparent on the left to opaque on the right.
pub fn gradient(w: u32, h: u32, layout: Layout) -> Pixels {
    let mut data = Vec::with_capacity(w as usize * h as usize * layout.channels());
    let (wd, hd) = (f64::from(w.max(2) - 1), f64::from(h.max(2) - 1));
    for y in 0..h {
        for x in 0..w {
            let (fx, fy) = (f64::from(x) / wd, f64::from(y) / hd);
            // A soft "sky to ground" photo look: warm at the bottom, blue at the top, with
            // a gentle ripple so the resampler has something to do.
            let ripple = ((fx * 23.0).sin() * (fy * 17.0).cos()) * 12.0;
            let r = 40.0 + 180.0 * fy + ripple;
            let g = 70.0 + 120.0 * fx + ripple * 0.5;
            let b = 220.0 - 170.0 * fy - ripple;
            let a = 255.0 * fx;
            let [r, g, b, a] = [r, g, b, a].map(|v| v.round().clamp(0.0, 255.0) as u8);
            let luma =
                ((u32::from(r) * 299 + u32::from(g) * 587 + u32::from(b) * 114) / 1000) as u8;
            match layout {
                Layout::Gray => data.push(luma),
                Layout::GrayAlpha => data.extend_from_slice(&[luma, a]),
                Layout::Rgb => data.extend_from_slice(&[r, g, b]),
                Layout::Rgba => data.extend_from_slice(&[r, g, b, a]),
            }
        }
    }
    Pixels::new(w, h, layout, data).expect("gradient size")
}

/// The colours of the four quadrants of [`quadrants`]: top-left, top-right, bottom-left,
/// bottom-right. Strong and distinct, so they survive JPEG and can be told apart after any
/// rotation or flip.
pub const QUADRANT_COLOURS: [[u8; 3]; 4] =
    [[230, 20, 20], [20, 200, 20], [20, 20, 230], [240, 240, 240]];

/// An upright, asymmetric RGB image: four flat quadrants of [`QUADRANT_COLOURS`].
pub fn quadrants(w: u32, h: u32) -> Pixels {
    let mut data = Vec::with_capacity(w as usize * h as usize * 3);
    for y in 0..h {
        for x in 0..w {
            let q = usize::from(x >= w / 2) + 2 * usize::from(y >= h / 2);
            data.extend_from_slice(&QUADRANT_COLOURS[q]);
        }
    }
    Pixels::new(w, h, Layout::Rgb, data).expect("quadrants size")
}

/// The stored image that, displayed with EXIF orientation `o`, looks like `upright`.
///
/// Written from the EXIF definitions (TIFF 6.0 tag 274) independently of `core::orient`, so
/// the tests check one against the other.
pub fn to_stored(upright: &Pixels, o: u16) -> Pixels {
    let (uw, uh) = (upright.width as usize, upright.height as usize);
    let swaps = matches!(o, 5..=8);
    let (sw, sh) = if swaps { (uh, uw) } else { (uw, uh) };
    let ch = upright.layout.channels();
    let mut data = vec![0u8; sw * sh * ch];
    for sy in 0..sh {
        for sx in 0..sw {
            // Where the stored pixel (sx, sy) lands on the display.
            let (dx, dy) = match o {
                2 => (sw - 1 - sx, sy),
                3 => (sw - 1 - sx, sh - 1 - sy),
                4 => (sx, sh - 1 - sy),
                5 => (sy, sx),
                6 => (sh - 1 - sy, sx),
                7 => (sh - 1 - sy, sw - 1 - sx),
                8 => (sy, sw - 1 - sx),
                _ => (sx, sy),
            };
            let from = (dy * uw + dx) * ch;
            let to = (sy * sw + sx) * ch;
            data[to..to + ch].copy_from_slice(&upright.data[from..from + ch]);
        }
    }
    Pixels::new(sw as u32, sh as u32, upright.layout, data).expect("stored size")
}

/// Mean colour of a `size`×`size` square centred at (`cx`, `cy`) of an RGB(A) or gray image.
pub fn mean_rgb(p: &Pixels, cx: u32, cy: u32, size: u32) -> [f64; 3] {
    let ch = p.layout.channels();
    let half = size / 2;
    let mut sum = [0f64; 3];
    let mut n = 0f64;
    for y in cy.saturating_sub(half)..(cy + half + 1).min(p.height) {
        for x in cx.saturating_sub(half)..(cx + half + 1).min(p.width) {
            let at = (y as usize * p.width as usize + x as usize) * ch;
            let px = &p.data[at..at + ch];
            let rgb = match p.layout {
                Layout::Gray | Layout::GrayAlpha => [px[0]; 3],
                Layout::Rgb | Layout::Rgba => [px[0], px[1], px[2]],
            };
            for (s, v) in sum.iter_mut().zip(rgb) {
                *s += f64::from(v);
            }
            n += 1.0;
        }
    }
    sum.map(|s| s / n.max(1.0))
}

/// Mean absolute difference per sample of two images of the same size and layout.
pub fn mean_abs_diff(a: &Pixels, b: &Pixels) -> f64 {
    assert_eq!((a.width, a.height), (b.width, b.height), "sizes differ");
    assert_eq!(a.layout, b.layout, "layouts differ");
    let sum: u64 = a
        .data
        .iter()
        .zip(&b.data)
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    sum as f64 / a.data.len().max(1) as f64
}

// ---------------------------------------------------------------------------------------
// Metadata blocks
// ---------------------------------------------------------------------------------------

/// Which metadata to embed in a fixture.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    /// A TIFF-structured EXIF block (without the `Exif\0\0` prefix; the encoders add it
    /// where the container wants it).
    pub exif: Option<Vec<u8>>,
    /// An ICC profile.
    pub icc: Option<Vec<u8>>,
    /// XMP, IPTC (JPEG), comments and text chunks carrying [`TEXT_MARKER`].
    pub text: bool,
}

impl Meta {
    /// Everything a phone upload carries: EXIF with `orientation` and GPS, XMP, IPTC and a
    /// comment. No ICC profile (that one changes colours; tests add it on purpose).
    pub fn phone(orientation: u16) -> Meta {
        Meta {
            exif: Some(exif(Some(orientation), true)),
            icc: None,
            text: true,
        }
    }
    /// Only an EXIF orientation.
    pub fn orientation(o: u16) -> Meta {
        Meta {
            exif: Some(exif(Some(o), false)),
            ..Meta::default()
        }
    }
}

struct Ifd {
    entries: Vec<(u16, u16, u32, Vec<u8>)>,
}

impl Ifd {
    fn ascii(&mut self, tag: u16, s: &str) {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        self.entries.push((tag, 2, v.len() as u32, v));
    }
    fn short(&mut self, tag: u16, v: u16) {
        self.entries.push((tag, 3, 1, v.to_be_bytes().to_vec()));
    }
    fn long(&mut self, tag: u16, v: u32) {
        self.entries.push((tag, 4, 1, v.to_be_bytes().to_vec()));
    }
    fn rationals(&mut self, tag: u16, vs: &[(u32, u32)]) {
        let mut b = Vec::new();
        for (n, d) in vs {
            b.extend_from_slice(&n.to_be_bytes());
            b.extend_from_slice(&d.to_be_bytes());
        }
        self.entries.push((tag, 5, vs.len() as u32, b));
    }
    fn size(&self) -> usize {
        2 + 12 * self.entries.len()
            + 4
            + self
                .entries
                .iter()
                .map(|e| {
                    if e.3.len() > 4 {
                        e.3.len() + (e.3.len() & 1)
                    } else {
                        0
                    }
                })
                .sum::<usize>()
    }
    /// Serialises at absolute TIFF offset `at`; values longer than 4 bytes follow the IFD.
    fn write(&self, out: &mut Vec<u8>, at: usize) {
        let mut extra_at = at + 2 + 12 * self.entries.len() + 4;
        let mut extra = Vec::new();
        out.extend_from_slice(&(self.entries.len() as u16).to_be_bytes());
        for (tag, typ, count, value) in &self.entries {
            out.extend_from_slice(&tag.to_be_bytes());
            out.extend_from_slice(&typ.to_be_bytes());
            out.extend_from_slice(&count.to_be_bytes());
            if value.len() <= 4 {
                let mut v = value.clone();
                v.resize(4, 0);
                out.extend_from_slice(&v);
            } else {
                out.extend_from_slice(&(extra_at as u32).to_be_bytes());
                extra.extend_from_slice(value);
                if value.len() & 1 == 1 {
                    extra.push(0);
                }
                extra_at += value.len() + (value.len() & 1);
            }
        }
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(&extra);
    }
}

/// A big-endian TIFF/EXIF block: IFD0 with Make, Model, Artist (carrying [`TEXT_MARKER`]) and
/// the orientation, plus (with `gps`) a GPS IFD with latitude, longitude and a map datum
/// string carrying [`GPS_MARKER`].
pub fn exif(orientation: Option<u16>, gps: bool) -> Vec<u8> {
    let mut ifd0 = Ifd {
        entries: Vec::new(),
    };
    ifd0.ascii(0x010F, "TestkitCam");
    ifd0.ascii(0x0110, "Model 1");
    if let Some(o) = orientation {
        ifd0.short(0x0112, o);
    }
    ifd0.ascii(0x013B, TEXT_MARKER);
    let mut gps_ifd = Ifd {
        entries: Vec::new(),
    };
    if gps {
        gps_ifd.ascii(0x0001, "N");
        gps_ifd.rationals(0x0002, &[(51, 1), (30, 1), (243, 100)]);
        gps_ifd.ascii(0x0003, "W");
        gps_ifd.rationals(0x0004, &[(0, 1), (7, 1), (2851, 100)]);
        gps_ifd.ascii(0x0012, GPS_MARKER);
        // The pointer's value is known only once IFD0's size is: placeholder first.
        ifd0.long(0x8825, 0);
    }
    // Tags must be sorted in an IFD.
    ifd0.entries.sort_by_key(|e| e.0);
    let gps_at = 8 + ifd0.size();
    if gps {
        for e in &mut ifd0.entries {
            if e.0 == 0x8825 {
                e.3 = (gps_at as u32).to_be_bytes().to_vec();
            }
        }
    }
    let mut out = b"MM\0*".to_vec();
    out.extend_from_slice(&8u32.to_be_bytes());
    ifd0.write(&mut out, 8);
    if gps {
        gps_ifd.write(&mut out, gps_at);
    }
    out
}

/// An XMP packet carrying [`TEXT_MARKER`] and a GPS position.
pub fn xmp_packet() -> Vec<u8> {
    format!(
        "<?xpacket begin=\"\u{feff}\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\
         <x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\
         <rdf:Description xmlns:dc=\"http://purl.org/dc/elements/1.1/\" xmlns:exif=\"http://ns.adobe.com/exif/1.0/\" \
         dc:creator=\"{TEXT_MARKER}\" exif:GPSLatitude=\"{GPS_MARKER}\"/></rdf:RDF></x:xmpmeta>\
         <?xpacket end=\"w\"?>"
    )
    .into_bytes()
}

/// An IPTC-IIM block inside a Photoshop APP13 segment, carrying [`TEXT_MARKER`] as a caption.
pub fn iptc_app13() -> Vec<u8> {
    let mut iim = vec![0x1C, 2, 120];
    iim.extend_from_slice(&(TEXT_MARKER.len() as u16).to_be_bytes());
    iim.extend_from_slice(TEXT_MARKER.as_bytes());
    let mut v = b"Photoshop 3.0\0".to_vec();
    v.extend_from_slice(b"8BIM");
    v.extend_from_slice(&0x0404u16.to_be_bytes());
    v.extend_from_slice(&[0, 0]); // empty Pascal name, padded
    v.extend_from_slice(&(iim.len() as u32).to_be_bytes());
    v.extend_from_slice(&iim);
    if iim.len() & 1 == 1 {
        v.push(0);
    }
    v
}

/// A Display P3 ICC profile (made by moxcms).
pub fn display_p3_icc() -> Vec<u8> {
    moxcms::ColorProfile::new_display_p3()
        .encode()
        .expect("encode P3 profile")
}

/// An sRGB ICC profile (made by moxcms).
pub fn srgb_icc() -> Vec<u8> {
    moxcms::ColorProfile::new_srgb()
        .encode()
        .expect("encode sRGB profile")
}

// ---------------------------------------------------------------------------------------
// Encoders
// ---------------------------------------------------------------------------------------

/// JPEG options beyond the metadata.
#[derive(Debug, Clone, Copy)]
pub struct JpegOpts {
    pub quality: u8,
    pub progressive: bool,
    /// Chroma sampling factors (horizontal, vertical) of an RGB image, as `SamplingFactor`
    /// names them: (2, 2) is 4:2:0, (1, 1) 4:4:4. `None` is the encoder's default.
    pub sampling: Option<(u8, u8)>,
}

impl Default for JpegOpts {
    fn default() -> Self {
        JpegOpts {
            quality: 92,
            progressive: false,
            sampling: None,
        }
    }
}

/// A JPEG of gray or RGB pixels with `meta` (EXIF APP1, XMP APP1, IPTC APP13, ICC APP2 and a
/// COM segment).
pub fn jpeg(p: &Pixels, meta: &Meta) -> Vec<u8> {
    jpeg_with(p, meta, JpegOpts::default())
}

pub fn jpeg_with(p: &Pixels, meta: &Meta, opts: JpegOpts) -> Vec<u8> {
    use jpeg_encoder::{ColorType, Encoder};
    let ct = match p.layout {
        Layout::Gray => ColorType::Luma,
        Layout::Rgb => ColorType::Rgb,
        Layout::Rgba => ColorType::Rgba,
        Layout::GrayAlpha => panic!("JPEG has no gray+alpha"),
    };
    let mut out = Vec::new();
    let mut enc = Encoder::new(&mut out, opts.quality);
    enc.set_progressive(opts.progressive);
    if let Some((h, v)) = opts.sampling {
        enc.set_sampling_factor(
            jpeg_encoder::SamplingFactor::from_factors(h, v).expect("a sampling jpeg-encoder has"),
        );
    }
    add_jpeg_meta(&mut enc, meta);
    enc.encode(&p.data, p.width as u16, p.height as u16, ct)
        .expect("JPEG encode");
    if meta.text {
        out = insert_jpeg_comment(&out, TEXT_MARKER.as_bytes());
    }
    out
}

fn add_jpeg_meta<W: jpeg_encoder::JfifWrite>(enc: &mut jpeg_encoder::Encoder<W>, meta: &Meta) {
    if let Some(e) = &meta.exif {
        enc.add_exif_metadata(e).expect("EXIF segment");
    }
    if meta.text {
        let mut xmp = b"http://ns.adobe.com/xap/1.0/\0".to_vec();
        xmp.extend_from_slice(&xmp_packet());
        enc.add_app_segment(1, xmp).expect("XMP segment");
        enc.add_app_segment(13, iptc_app13()).expect("IPTC segment");
    }
    if let Some(icc) = &meta.icc {
        enc.add_icc_profile(icc).expect("ICC segments");
    }
}

/// Inserts a COM segment right after SOI.
pub fn insert_jpeg_comment(jpeg: &[u8], text: &[u8]) -> Vec<u8> {
    let mut v = jpeg[..2].to_vec();
    v.extend_from_slice(&[0xFF, 0xFE]);
    v.extend_from_slice(&((text.len() + 2) as u16).to_be_bytes());
    v.extend_from_slice(text);
    v.extend_from_slice(&jpeg[2..]);
    v
}

/// How a four-component JPEG stores its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmykKind {
    /// Adobe CMYK (APP14 transform 0), inverted as Photoshop writes it.
    Cmyk,
    /// Adobe YCCK (APP14 transform 2).
    Ycck,
}

/// A four-component JPEG whose colours, decoded correctly, are the RGB pixels `p` (naive
/// RGB → CMYK with full black generation; no ICC profile).
pub fn cmyk_jpeg(p: &Pixels, kind: CmykKind) -> Vec<u8> {
    use jpeg_encoder::{ColorType, Encoder};
    assert_eq!(p.layout, Layout::Rgb, "cmyk_jpeg takes RGB");
    let mut ink = Vec::with_capacity(p.data.len() / 3 * 4);
    for px in p.data.chunks_exact(3) {
        let (r, g, b) = (f64::from(px[0]), f64::from(px[1]), f64::from(px[2]));
        let k = 255.0 - r.max(g).max(b);
        let scale = if k >= 255.0 { 0.0 } else { 255.0 / (255.0 - k) };
        let c = (255.0 - r - k) * scale;
        let m = (255.0 - g - k) * scale;
        let y = (255.0 - b - k) * scale;
        ink.extend([c, m, y, k].map(|v| v.round().clamp(0.0, 255.0) as u8));
    }
    let ct = match kind {
        CmykKind::Cmyk => ColorType::Cmyk,
        CmykKind::Ycck => ColorType::CmykAsYcck,
    };
    let mut out = Vec::new();
    Encoder::new(&mut out, 95)
        .encode(&ink, p.width as u16, p.height as u16, ct)
        .expect("CMYK JPEG encode");
    out
}

fn png_color(l: Layout) -> png::ColorType {
    match l {
        Layout::Gray => png::ColorType::Grayscale,
        Layout::GrayAlpha => png::ColorType::GrayscaleAlpha,
        Layout::Rgb => png::ColorType::Rgb,
        Layout::Rgba => png::ColorType::Rgba,
    }
}

/// An 8-bit PNG of `p` with `meta` (eXIf, iCCP, tEXt, zTXt, iTXt).
pub fn png(p: &Pixels, meta: &Meta) -> Vec<u8> {
    let mut info = png::Info::with_size(p.width, p.height);
    info.color_type = png_color(p.layout);
    info.bit_depth = png::BitDepth::Eight;
    info.icc_profile = meta.icc.clone().map(Into::into);
    info.exif_metadata = meta.exif.clone().map(Into::into);
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::with_info(&mut out, info).expect("PNG info");
        if meta.text {
            enc.add_text_chunk("Comment".into(), TEXT_MARKER.into())
                .expect("tEXt");
            enc.add_ztxt_chunk("Description".into(), TEXT_MARKER.repeat(8))
                .expect("zTXt");
            enc.add_itxt_chunk(
                "XML:com.adobe.xmp".into(),
                String::from_utf8_lossy(&xmp_packet()).into_owned(),
            )
            .expect("iTXt");
        }
        let mut w = enc.write_header().expect("PNG header");
        w.write_image_data(&p.data).expect("PNG data");
        w.finish().expect("PNG finish");
    }
    out
}

/// An 8-bit palette PNG: `palette` is RGB triples, `trns` the alpha of the first entries,
/// `indices` one byte per pixel.
pub fn png_palette(w: u32, h: u32, palette: &[u8], trns: &[u8], indices: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Indexed);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_palette(palette.to_vec());
        if !trns.is_empty() {
            enc.set_trns(trns.to_vec());
        }
        let mut wr = enc.write_header().expect("PNG header");
        wr.write_image_data(indices).expect("PNG data");
        wr.finish().expect("PNG finish");
    }
    out
}

/// The raw PNG header fields, for hand-crafted PNGs.
#[derive(Debug, Clone, Copy)]
pub struct Ihdr {
    pub width: u32,
    pub height: u32,
    pub bit_depth: u8,
    /// 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA.
    pub color_type: u8,
    pub interlaced: bool,
}

impl Ihdr {
    fn channels(&self) -> usize {
        match self.color_type {
            2 => 3,
            4 => 2,
            6 => 4,
            _ => 1,
        }
    }
    /// Bytes per pixel (byte-aligned depths only: 8 and 16).
    fn bpp(&self) -> usize {
        self.channels() * usize::from(self.bit_depth) / 8
    }
}

/// CRC-32 (ISO-HDLC), as PNG chunks use it.
pub fn crc32(parts: &[&[u8]]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for part in parts {
        for &b in *part {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
    }
    !crc
}

/// One PNG chunk: length, type, data, CRC.
pub fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut v = (data.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(kind);
    v.extend_from_slice(data);
    v.extend_from_slice(&crc32(&[kind, data]).to_be_bytes());
    v
}

/// A zlib stream of stored (uncompressed) deflate blocks.
pub fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut v = vec![0x78, 0x01];
    let mut chunks = data.chunks(65_535).peekable();
    if data.is_empty() {
        v.extend_from_slice(&[1, 0, 0, 0xFF, 0xFF]);
    }
    while let Some(c) = chunks.next() {
        v.push(u8::from(chunks.peek().is_none()));
        let len = c.len() as u16;
        v.extend_from_slice(&len.to_le_bytes());
        v.extend_from_slice(&(!len).to_le_bytes());
        v.extend_from_slice(c);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + u32::from(x)) % 65_521;
        b = (b + a) % 65_521;
    }
    v.extend_from_slice(&((b << 16) | a).to_be_bytes());
    v
}

/// The Adam7 passes: (x start, y start, x step, y step).
const ADAM7: [(usize, usize, usize, usize); 7] = [
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
];

/// A hand-crafted PNG: `pixels` are the samples in PNG byte order (big-endian for 16-bit),
/// row after row without filter bytes; with `ihdr.interlaced` they are split into the seven
/// Adam7 passes here. `chunks` go between IHDR and IDAT.
pub fn png_raw(ihdr: Ihdr, pixels: &[u8], chunks: &[(&[u8; 4], &[u8])]) -> Vec<u8> {
    let (w, h, bpp) = (ihdr.width as usize, ihdr.height as usize, ihdr.bpp());
    assert_eq!(pixels.len(), w * h * bpp, "png_raw pixel count");
    let mut raw = Vec::new();
    let mut push_row = |xs: &mut dyn Iterator<Item = usize>, y: usize| {
        raw.push(0u8);
        for x in xs {
            let at = (y * w + x) * bpp;
            raw.extend_from_slice(&pixels[at..at + bpp]);
        }
    };
    if ihdr.interlaced {
        for (x0, y0, dx, dy) in ADAM7 {
            if x0 >= w || y0 >= h {
                continue; // an empty pass has no rows at all
            }
            for y in (y0..h).step_by(dy) {
                push_row(&mut (x0..w).step_by(dx), y);
            }
        }
    } else {
        for y in 0..h {
            push_row(&mut (0..w), y);
        }
    }
    let mut head = Vec::new();
    head.extend_from_slice(&ihdr.width.to_be_bytes());
    head.extend_from_slice(&ihdr.height.to_be_bytes());
    head.extend_from_slice(&[
        ihdr.bit_depth,
        ihdr.color_type,
        0,
        0,
        u8::from(ihdr.interlaced),
    ]);
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    v.extend_from_slice(&png_chunk(b"IHDR", &head));
    for (kind, data) in chunks {
        v.extend_from_slice(&png_chunk(kind, data));
    }
    v.extend_from_slice(&png_chunk(b"IDAT", &zlib_stored(&raw)));
    v.extend_from_slice(&png_chunk(b"IEND", b""));
    v
}

/// A 16-bit-per-channel version of 8-bit samples (v * 257, big-endian), for `png_raw`.
pub fn to_16bit(samples: &[u8]) -> Vec<u8> {
    samples
        .iter()
        .flat_map(|&s| (u16::from(s) * 257).to_be_bytes())
        .collect()
}

/// Rewrites the width and height in a PNG's IHDR (and its CRC): a header that lies.
pub fn png_with_ihdr_size(png: &[u8], w: u32, h: u32) -> Vec<u8> {
    let mut v = png.to_vec();
    v[16..20].copy_from_slice(&w.to_be_bytes());
    v[20..24].copy_from_slice(&h.to_be_bytes());
    let crc = crc32(&[&v[12..29]]);
    v[29..33].copy_from_slice(&crc.to_be_bytes());
    v
}

/// A lossless WebP (VP8L; extended VP8X container when there is metadata).
pub fn webp(p: &Pixels, meta: &Meta) -> Vec<u8> {
    use image_webp::{ColorType, WebPEncoder};
    let ct = match p.layout {
        Layout::Gray => ColorType::L8,
        Layout::GrayAlpha => ColorType::La8,
        Layout::Rgb => ColorType::Rgb8,
        Layout::Rgba => ColorType::Rgba8,
    };
    let mut out = Vec::new();
    let mut enc = WebPEncoder::new(&mut out);
    if let Some(e) = &meta.exif {
        enc.set_exif_metadata(e.clone());
    }
    if let Some(icc) = &meta.icc {
        enc.set_icc_profile(icc.clone());
    }
    if meta.text {
        enc.set_xmp_metadata(xmp_packet());
    }
    enc.encode(&p.data, p.width, p.height, ct)
        .expect("WebP encode");
    out
}

/// A VP8L WebP header declaring `w`×`h` (no image data: enough for the probe).
pub fn webp_vp8l_header(w: u32, h: u32) -> Vec<u8> {
    let mut v = b"RIFF".to_vec();
    v.extend_from_slice(&13u32.to_le_bytes());
    v.extend_from_slice(b"WEBPVP8L");
    v.extend_from_slice(&5u32.to_le_bytes());
    v.push(0x2F);
    let bits = (w - 1) | ((h - 1) << 14);
    v.extend_from_slice(&bits.to_le_bytes());
    v.push(0);
    v
}

/// A JPEG whose SOF0 declares `w`×`h`, followed by a scan and EOI (enough for the probe).
pub fn jpeg_sof_header(w: u16, h: u16) -> Vec<u8> {
    let mut v = vec![0xFF, 0xD8, 0xFF, 0xC0, 0, 17, 8];
    v.extend_from_slice(&h.to_be_bytes());
    v.extend_from_slice(&w.to_be_bytes());
    v.extend_from_slice(&[3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
    v.extend_from_slice(&[0xFF, 0xDA, 0, 12, 3, 1, 0, 2, 0x11, 3, 0x11, 0, 63, 0]);
    v.extend_from_slice(&[0xFF, 0xD9]);
    v
}

/// Appends zero bytes so the file is exactly `len` bytes long (after PNG's IEND or JPEG's EOI
/// decoders stop reading, so the image stays valid).
pub fn pad_to(bytes: &[u8], len: usize) -> Vec<u8> {
    assert!(bytes.len() <= len, "pad_to: already longer");
    let mut v = bytes.to_vec();
    v.resize(len, 0);
    v
}

/// A minimal, valid 1×1 GIF89a.
pub fn gif() -> Vec<u8> {
    let mut v = b"GIF89a\x01\x00\x01\x00\x80\x00\x00".to_vec();
    v.extend_from_slice(&[0, 0, 0, 255, 255, 255]); // 2-colour table
    v.extend_from_slice(b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02\x44\x01\x00;");
    v
}

// ---------------------------------------------------------------------------------------
// The bundled samples
// ---------------------------------------------------------------------------------------

/// The sample images in `samples/`, by path below it: what a newcomer runs the CLI on. The
/// must-fail ones (`x_*`) live in `samples/hostile/`, so `process samples/*.*` exits 0.
/// Deterministic, so `cargo run --example make_samples` reproduces them byte for byte.
pub fn samples() -> Vec<(&'static str, Vec<u8>)> {
    // A landscape photo-like gradient stored sideways, as a phone writes it: EXIF orientation
    // 6 (displays rotated 90° clockwise) plus GPS, XMP, IPTC and a comment.
    let upright = gradient(640, 480, Layout::Rgb);
    let photo = jpeg(&to_stored(&upright, 6), &Meta::phone(6));

    // A logo with a palette and tRNS transparency; `_thumb` asks for a 200 px thumbnail.
    let (w, h) = (320u32, 320u32);
    let mut palette = Vec::new();
    let mut trns = Vec::new();
    for i in 0..16u32 {
        palette.extend_from_slice(&[(i * 16) as u8, (255 - i * 12) as u8, (40 + i * 10) as u8]);
        trns.push(if i == 0 { 0 } else { (100 + i * 10) as u8 });
    }
    let mut idx = Vec::with_capacity((w * h) as usize);
    for y in 0..h {
        for x in 0..w {
            let (dx, dy) = (f64::from(x) - 160.0, f64::from(y) - 160.0);
            let r = (dx * dx + dy * dy).sqrt();
            idx.push(if r > 150.0 {
                0
            } else {
                1 + ((r / 10.0) as u8 % 15)
            });
        }
    }
    let logo = png_palette(w, h, &palette, &trns, &idx);

    // A texture for the grayscale op, lossless WebP with alpha and EXIF/XMP.
    let texture = webp(
        &gradient(256, 192, Layout::Rgba),
        &Meta {
            exif: Some(exif(Some(1), true)),
            icc: None,
            text: true,
        },
    );

    // Hostile: a PNG header that declares 5000×5000 (over the 4096 limit) in front of a tiny
    // image, and a GIF wearing a .jpg name.
    let liar = png_with_ihdr_size(
        &png(&gradient(8, 8, Layout::Rgb), &Meta::default()),
        5000,
        5000,
    );
    vec![
        ("photo.jpg", photo),
        ("logo_thumb.png", logo),
        ("texture_grayscale.webp", texture),
        ("hostile/x_declares_5000x5000.png", liar),
        ("hostile/x_gif_renamed.jpg", gif()),
    ]
}

// ---------------------------------------------------------------------------------------
// Reading outputs back
// ---------------------------------------------------------------------------------------

/// Decodes an image with the project's own decoders (default limits), panicking on failure:
/// for checking outputs, which must always decode.
pub fn decode(bytes: &[u8]) -> Pixels {
    let limits = crate::core::Limits::default();
    let header = crate::core::probe::probe(bytes, &limits).expect("output probes");
    let d = crate::core::decode::decode(bytes, &header, &limits).expect("output decodes");
    assert!(d.cmyk.is_none(), "outputs are never CMYK");
    d.pixels
}

/// The structure of a file: JPEG marker segments up to the first scan (`APP0`, `DQT`, `SOF0`,
/// `COM`, …), PNG chunk types, or WebP RIFF chunk fourccs. Used to prove an output holds
/// nothing but image data.
pub fn parts(bytes: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    if bytes.starts_with(&[0xFF, 0xD8]) {
        let mut pos = 2;
        while pos + 4 <= bytes.len() && bytes[pos] == 0xFF {
            let m = bytes[pos + 1];
            let name = match m {
                0xE0..=0xEF => format!("APP{}", m - 0xE0),
                0xDB => "DQT".into(),
                0xC4 => "DHT".into(),
                0xDD => "DRI".into(),
                0xFE => "COM".into(),
                0xDA => "SOS".into(),
                0xC0..=0xCF => format!("SOF{}", m - 0xC0),
                _ => format!("FF{m:02X}"),
            };
            out.push(name);
            if m == 0xDA {
                break;
            }
            let len = usize::from(u16::from_be_bytes([bytes[pos + 2], bytes[pos + 3]]));
            pos += 2 + len;
        }
    } else if bytes.starts_with(b"\x89PNG") {
        let mut pos = 8;
        while pos + 8 <= bytes.len() {
            let len = u32::from_be_bytes(bytes[pos..pos + 4].try_into().expect("4 bytes")) as usize;
            out.push(String::from_utf8_lossy(&bytes[pos + 4..pos + 8]).into_owned());
            pos += 12 + len;
        }
    } else if bytes.starts_with(b"RIFF") {
        let mut pos = 12;
        while pos + 8 <= bytes.len() {
            let len =
                u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().expect("4 bytes")) as usize;
            out.push(String::from_utf8_lossy(&bytes[pos..pos + 4]).into_owned());
            pos += 8 + len + (len & 1);
        }
    }
    out
}

/// A small deterministic PRNG (xorshift64*) for mutation tests and noise.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// A value in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}
