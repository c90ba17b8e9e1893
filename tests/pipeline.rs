//! The pipeline's promises, proven on fixtures the project makes itself (`testkit`):
//! no metadata out, upright output for every EXIF orientation, correct colour for CMYK/YCCK
//! and ICC inputs, transparency kept, the size and dimension limits exact to the byte and the
//! pixel, and every refusal a typed reason with a message (never a caught panic).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    reason = "test code: inputs are ours, a failure should be loud"
)]

use std::path::PathBuf;

use image_processor::core::pixels::{Layout, Pixels};
use image_processor::core::{naming, process, Job, Limits, Op, Output, Reason, Rejection};
use image_processor::testkit::{self as tk, Meta};

fn run(bytes: &[u8], op: Op) -> Result<Output, Rejection> {
    process(bytes, &Job { op }, &Limits::default())
}

fn ok(bytes: &[u8], op: Op) -> Output {
    run(bytes, op).unwrap_or_else(|r| panic!("expected success, got {r}"))
}

fn reject(bytes: &[u8], op: Op) -> Rejection {
    match run(bytes, op) {
        Ok(o) => panic!("expected a rejection, got {}x{}", o.width, o.height),
        Err(r) => r,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fmt {
    Jpeg,
    Png,
    Webp,
}
const FORMATS: [Fmt; 3] = [Fmt::Jpeg, Fmt::Png, Fmt::Webp];

fn encode(fmt: Fmt, p: &Pixels, meta: &Meta) -> Vec<u8> {
    match fmt {
        Fmt::Jpeg => tk::jpeg(p, meta),
        Fmt::Png => tk::png(p, meta),
        Fmt::Webp => tk::webp(p, meta),
    }
}

/// Colour tolerance per format: JPEG is lossy (twice: the fixture and our output).
fn tol(fmt: Fmt) -> f64 {
    match fmt {
        Fmt::Jpeg => 40.0,
        Fmt::Png | Fmt::Webp => 1.0,
    }
}

use tk::mean_abs_diff;

fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("IMAGE_PROCESSOR_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    if dir.join("MANIFEST.tsv").is_file() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED corpus-based check: no corpus at {} (set IMAGE_PROCESSOR_CORPUS)",
            dir.display()
        );
        None
    }
}

// ------------------------------------------------------------------------------------------
// Metadata
// ------------------------------------------------------------------------------------------

/// Parts an output may have: image data only.
fn allowed_part(fmt: Fmt, part: &str) -> bool {
    match fmt {
        Fmt::Jpeg => {
            matches!(part, "APP0" | "DQT" | "DHT" | "DRI" | "SOS") || part.starts_with("SOF")
        }
        Fmt::Png => matches!(part, "IHDR" | "IDAT" | "IEND"),
        Fmt::Webp => matches!(part, "VP8L" | "VP8 "),
    }
}

fn assert_clean(fmt: Fmt, out: &[u8], what: &str) {
    if let Some(m) = tk::find_metadata_marker(out) {
        panic!("{what}: output contains metadata marker {m:?}");
    }
    let parts = tk::parts(out);
    assert!(!parts.is_empty(), "{what}: output structure unreadable");
    for p in &parts {
        assert!(
            allowed_part(fmt, p),
            "{what}: output has a {p:?} part: {parts:?}"
        );
    }
    if fmt == Fmt::Jpeg {
        // The one APP0 is the encoder's JFIF header, nothing else.
        let app0 = out.windows(5).any(|w| w == b"JFIF\0");
        assert!(
            app0 || !parts.iter().any(|p| p == "APP0"),
            "{what}: APP0 is not JFIF"
        );
    }
}

#[test]
fn no_metadata_survives_in_any_output() {
    let mut checked = 0;
    for fmt in FORMATS {
        // Small enough to need no resize, and large enough to be resized.
        for (w, h) in [(64u32, 48u32), (1200, 700)] {
            let layout = if fmt == Fmt::Jpeg {
                Layout::Rgb
            } else {
                Layout::Rgba
            };
            let meta = Meta {
                icc: Some(tk::srgb_icc()),
                ..Meta::phone(1)
            };
            let input = encode(fmt, &tk::gradient(w, h, layout), &meta);
            // The fixture really carries what we then look for.
            assert!(
                tk::contains(&input, tk::GPS_MARKER.as_bytes()),
                "{fmt:?}: fixture has no GPS"
            );
            assert!(tk::find_metadata_marker(&input).is_some());
            for op in [Op::Fit, Op::Thumb, Op::Grayscale] {
                let out = ok(&input, op);
                assert_clean(fmt, &out.bytes, &format!("{fmt:?} {w}x{h} {op:?}"));
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 18);
}

#[test]
fn no_metadata_from_gray_jpeg_and_palette_png() {
    let gray = tk::jpeg(&tk::gradient(40, 30, Layout::Gray), &Meta::phone(3));
    assert_clean(Fmt::Jpeg, &ok(&gray, Op::Fit).bytes, "gray JPEG");
    let pal = tk::png_palette(4, 1, &[0, 0, 0, 255, 0, 0], &[0], &[0, 1, 1, 0]);
    let exif = tk::exif(Some(1), true);
    let mut with_exif = pal[..33].to_vec(); // signature + IHDR
    with_exif.extend_from_slice(&tk::png_chunk(b"eXIf", &exif));
    with_exif.extend_from_slice(&tk::png_chunk(
        b"tEXt",
        format!("Author\0{}", tk::TEXT_MARKER).as_bytes(),
    ));
    with_exif.extend_from_slice(&pal[33..]);
    assert!(tk::contains(&with_exif, tk::GPS_MARKER.as_bytes()));
    assert_clean(Fmt::Png, &ok(&with_exif, Op::Fit).bytes, "palette PNG");
}

#[test]
fn corpus_gps_jpeg_loses_its_gps() {
    let Some(dir) = corpus_dir() else { return };
    let input = std::fs::read(dir.join("real/jpeg/pillow__exif_gps.jpg")).unwrap();
    assert!(tk::contains(&input, b"Exif"));
    for op in [Op::Fit, Op::Thumb, Op::Grayscale] {
        assert_clean(Fmt::Jpeg, &ok(&input, op).bytes, "pillow__exif_gps.jpg");
    }
}

// ------------------------------------------------------------------------------------------
// Orientation
// ------------------------------------------------------------------------------------------

/// Checks that `p` shows the four quadrants of `testkit::quadrants` upright.
fn assert_upright(p: &Pixels, tolerance: f64, what: &str) {
    let (w, h) = (p.width, p.height);
    let centres = [
        (w / 4, h / 4),
        (3 * w / 4, h / 4),
        (w / 4, 3 * h / 4),
        (3 * w / 4, 3 * h / 4),
    ];
    for (q, (cx, cy)) in centres.into_iter().enumerate() {
        let got = tk::mean_rgb(p, cx, cy, (w.min(h) / 8).max(1));
        let want = tk::QUADRANT_COLOURS[q];
        for c in 0..3 {
            assert!(
                (got[c] - f64::from(want[c])).abs() <= tolerance,
                "{what}: quadrant {q} is {got:?}, want {want:?}"
            );
        }
    }
}

#[test]
fn all_eight_orientations_come_out_upright() {
    let upright = tk::quadrants(64, 40);
    for fmt in FORMATS {
        for o in 1..=8u16 {
            let stored = tk::to_stored(&upright, o);
            if o >= 5 {
                assert_eq!((stored.width, stored.height), (40, 64));
            }
            let input = encode(fmt, &stored, &Meta::orientation(o));
            let out = ok(&input, Op::Fit);
            assert_eq!(
                (out.width, out.height),
                (64, 40),
                "{fmt:?} orientation {o}: size"
            );
            let px = tk::decode(&out.bytes);
            assert_eq!((px.width, px.height), (64, 40));
            assert_upright(&px, tol(fmt), &format!("{fmt:?} orientation {o}"));
        }
    }
}

#[test]
fn orientation_applies_to_thumb_and_grayscale_too() {
    // A portrait (300 wide, 400 tall) shot sideways: stored 400x300 with orientation 6.
    let upright = tk::quadrants(300, 400);
    let stored = tk::to_stored(&upright, 6);
    assert_eq!((stored.width, stored.height), (400, 300));
    let input = tk::jpeg(&stored, &Meta::phone(6));
    let op = naming::op_for_name("portrait_thumb.jpg");
    assert_eq!(op, Op::Thumb);
    let out = ok(&input, op);
    assert_eq!(
        (out.width, out.height),
        (150, 200),
        "thumb is upright, axes swapped"
    );
    assert_upright(
        &tk::decode(&out.bytes),
        40.0,
        "thumb of a sideways portrait",
    );
    let gray = ok(&input, Op::Grayscale);
    assert_eq!((gray.width, gray.height), (300, 400));
    let fit = ok(&input, Op::Fit);
    assert_eq!((fit.width, fit.height), (300, 400));
}

#[test]
fn invalid_orientation_values_count_as_one() {
    let upright = tk::quadrants(32, 24);
    for o in [0u16, 9, 255, 65535] {
        let input = tk::png(&upright, &Meta::orientation(o));
        let px = tk::decode(&ok(&input, Op::Fit).bytes);
        assert_eq!((px.width, px.height), (32, 24), "orientation {o}");
        assert_upright(&px, 1.0, &format!("orientation {o}"));
    }
}

#[test]
fn corpus_landscape_orientations_match_orientation_one() {
    let Some(dir) = corpus_dir() else { return };
    let load = |name: &str| {
        let bytes = std::fs::read(dir.join("real/jpeg").join(name)).unwrap();
        tk::decode(&ok(&bytes, Op::Thumb).bytes)
    };
    let reference = load("sharp__Landscape_1.jpg");
    for o in 2..=8 {
        let p = load(&format!("sharp__Landscape_{o}.jpg"));
        let d = mean_abs_diff(&reference, &p);
        assert!(
            d < 8.0,
            "Landscape_{o} differs from Landscape_1 by {d:.2} on average"
        );
    }
}

// ------------------------------------------------------------------------------------------
// Colour
// ------------------------------------------------------------------------------------------

#[test]
fn cmyk_and_ycck_jpegs_decode_to_the_right_colours() {
    let rgb = tk::gradient(96, 64, Layout::Rgb);
    for kind in [tk::CmykKind::Cmyk, tk::CmykKind::Ycck] {
        let input = tk::cmyk_jpeg(&rgb, kind);
        let out = ok(&input, Op::Fit);
        let px = tk::decode(&out.bytes);
        let d = mean_abs_diff(&rgb, &px);
        assert!(
            d < 10.0,
            "{kind:?}: mean abs difference {d:.2} from the RGB source"
        );
    }
}

#[test]
fn corpus_cmyk_sample_matches_the_rgb_sample() {
    let Some(dir) = corpus_dir() else { return };
    let load = |name: &str| {
        let bytes = std::fs::read(dir.join("real/jpeg").join(name)).unwrap();
        tk::decode(&ok(&bytes, Op::Fit).bytes)
    };
    let cmyk = load("pillow__pil_sample_cmyk.jpg");
    let rgb = load("pillow__pil_sample_rgb.jpg");
    for c in 0..3 {
        let sum: u64 = cmyk
            .data
            .chunks(3)
            .zip(rgb.data.chunks(3))
            .map(|(a, b)| u64::from(a[c].abs_diff(b[c])))
            .sum();
        let mean = sum as f64 / f64::from(rgb.width * rgb.height);
        assert!(
            mean < 10.0,
            "channel {c}: CMYK differs from RGB by {mean:.2} on average"
        );
    }
}

#[test]
fn display_p3_profile_is_converted_to_srgb() {
    use moxcms::{ColorProfile, Layout as L, TransformOptions};
    let src = tk::gradient(48, 32, Layout::Rgb);
    let p3 = tk::display_p3_icc();
    let input = tk::png(
        &src,
        &Meta {
            icc: Some(p3.clone()),
            ..Meta::default()
        },
    );
    let out = tk::decode(&ok(&input, Op::Fit).bytes);
    let t = ColorProfile::new_from_slice(&p3)
        .unwrap()
        .create_transform_8bit(
            L::Rgb,
            &ColorProfile::new_srgb(),
            L::Rgb,
            TransformOptions::default(),
        )
        .unwrap();
    let mut want = vec![0u8; src.data.len()];
    t.transform(&src.data, &mut want).unwrap();
    let want = Pixels::new(48, 32, Layout::Rgb, want).unwrap();
    assert!(
        mean_abs_diff(&out, &want) < 1.0,
        "P3 was not converted to sRGB"
    );
    // And the conversion did something: P3 values taken as sRGB would be visibly off.
    assert!(mean_abs_diff(&src, &want) > 2.0);
    // An sRGB profile changes nothing.
    let same = tk::png(
        &src,
        &Meta {
            icc: Some(tk::srgb_icc()),
            ..Meta::default()
        },
    );
    assert!(mean_abs_diff(&tk::decode(&ok(&same, Op::Fit).bytes), &src) < 1.0);
}

// ------------------------------------------------------------------------------------------
// Transparency, bit depth, interlacing, grayscale
// ------------------------------------------------------------------------------------------

#[test]
fn palette_trns_transparency_is_kept() {
    // 8x8: left half palette entry 0 (fully transparent), right half entry 1 (opaque red),
    // one pixel entry 2 (half transparent green).
    let mut idx = vec![0u8; 64];
    for y in 0..8 {
        for x in 4..8 {
            idx[y * 8 + x] = 1;
        }
    }
    idx[7] = 2;
    let input = tk::png_palette(
        8,
        8,
        &[0, 0, 255, 255, 0, 0, 0, 255, 0],
        &[0, 255, 128],
        &idx,
    );
    let out = ok(&input, Op::Fit);
    let px = tk::decode(&out.bytes);
    assert_eq!(px.layout, Layout::Rgba, "PNG output keeps alpha");
    assert_eq!(&px.data[0..4][3..], &[0], "transparent entry");
    assert_eq!(
        &px.data[4 * 4..4 * 4 + 4],
        &[255, 0, 0, 255],
        "opaque entry"
    );
    assert_eq!(
        &px.data[7 * 4..7 * 4 + 4],
        &[0, 255, 0, 128],
        "half-transparent entry"
    );
    // Resized, the alpha survives too, and transparent stays transparent.
    let mut big = vec![0u8; 400 * 300];
    for (i, v) in big.iter_mut().enumerate() {
        *v = u8::from(i % 400 >= 200);
    }
    let input = tk::png_palette(400, 300, &[0, 0, 255, 255, 0, 0], &[0], &big);
    let px = tk::decode(&ok(&input, Op::Thumb).bytes);
    assert_eq!((px.width, px.height, px.layout), (200, 150, Layout::Rgba));
    assert_eq!(px.data[3], 0, "left edge transparent");
    let right = (75 * 200 + 199) * 4;
    assert_eq!(
        &px.data[right..right + 4],
        &[255, 0, 0, 255],
        "right edge opaque red"
    );
}

#[test]
fn rgb_trns_colour_key_becomes_alpha() {
    let ihdr = tk::Ihdr {
        width: 2,
        height: 1,
        bit_depth: 8,
        color_type: 2,
        interlaced: false,
    };
    let input = tk::png_raw(
        ihdr,
        &[10, 20, 30, 200, 100, 50],
        &[(b"tRNS", &[0, 10, 0, 20, 0, 30])],
    );
    let px = tk::decode(&ok(&input, Op::Fit).bytes);
    assert_eq!(px.layout, Layout::Rgba);
    assert_eq!(px.data[3], 0);
    assert_eq!(&px.data[4..8], &[200, 100, 50, 255]);
}

#[test]
fn sixteen_bit_png_comes_out_8_bit() {
    let src = tk::gradient(20, 10, Layout::Rgba);
    for (ct, layout) in [
        (6u8, Layout::Rgba),
        (2, Layout::Rgb),
        (0, Layout::Gray),
        (4, Layout::GrayAlpha),
    ] {
        let p = tk::gradient(20, 10, layout);
        let ihdr = tk::Ihdr {
            width: 20,
            height: 10,
            bit_depth: 16,
            color_type: ct,
            interlaced: false,
        };
        let input = tk::png_raw(ihdr, &tk::to_16bit(&p.data), &[]);
        let out = ok(&input, Op::Fit);
        assert_eq!(out.bytes[24], 8, "color type {ct}: output IHDR bit depth");
        assert_eq!(tk::decode(&out.bytes), p, "color type {ct}: pixels");
    }
    let _ = src;
}

#[test]
fn interlaced_png_decodes_exactly() {
    for (w, h) in [(37u32, 23u32), (1, 1), (3, 9), (300, 2)] {
        let p = tk::gradient(w, h, Layout::Rgb);
        let ihdr = tk::Ihdr {
            width: w,
            height: h,
            bit_depth: 8,
            color_type: 2,
            interlaced: true,
        };
        let input = tk::png_raw(ihdr, &p.data, &[]);
        assert_eq!(input[28], 1, "fixture is interlaced");
        let out = ok(&input, Op::Fit);
        assert_eq!(out.bytes[28], 0, "output is not interlaced");
        assert_eq!(tk::decode(&out.bytes), p, "{w}x{h}");
    }
    // Interlaced 16-bit RGBA, resized.
    let p = tk::gradient(500, 260, Layout::Rgba);
    let ihdr = tk::Ihdr {
        width: 500,
        height: 260,
        bit_depth: 16,
        color_type: 6,
        interlaced: true,
    };
    let out = ok(&tk::png_raw(ihdr, &tk::to_16bit(&p.data), &[]), Op::Thumb);
    assert_eq!((out.width, out.height), (200, 104));
}

#[test]
fn grayscale_output_is_gray() {
    let rgb = tk::gradient(80, 60, Layout::Rgb);
    // JPEG: a single-component frame.
    let out = ok(&tk::jpeg(&rgb, &Meta::default()), Op::Grayscale);
    let h = image_processor::core::probe::probe(&out.bytes, &Limits::default()).unwrap();
    assert_eq!(h.jpeg.unwrap().components, 1, "gray JPEG has one component");
    assert_eq!(tk::decode(&out.bytes).layout, Layout::Gray);
    // PNG: gray colour type, ITU-R 601 luma as Pillow's "L".
    let red = Pixels::new(2, 1, Layout::Rgb, vec![255, 0, 0, 0, 0, 255]).unwrap();
    let px = tk::decode(&ok(&tk::png(&red, &Meta::default()), Op::Grayscale).bytes);
    assert_eq!(
        (px.layout, px.data.as_slice()),
        (Layout::Gray, &[76u8, 29][..])
    );
    // WebP: R = G = B whatever the decoder's channel layout.
    let px = tk::decode(&ok(&tk::webp(&rgb, &Meta::default()), Op::Grayscale).bytes);
    let ch = px.layout.channels();
    assert!(ch >= 3, "WebP decodes to RGB(A)");
    assert!(
        px.data.chunks(ch).all(|c| c[0] == c[1] && c[1] == c[2]),
        "WebP output is gray"
    );
    // Grayscale keeps the oriented size, never resizes.
    let big = ok(
        &tk::png(&tk::gradient(1500, 30, Layout::Rgb), &Meta::default()),
        Op::Grayscale,
    );
    assert_eq!((big.width, big.height), (1500, 30));
}

#[test]
fn grayscale_keeps_alpha_in_png_and_webp() {
    let rgba = tk::gradient(40, 20, Layout::Rgba);
    let alpha: Vec<u8> = rgba.data.chunks(4).map(|c| c[3]).collect();
    let px = tk::decode(&ok(&tk::png(&rgba, &Meta::default()), Op::Grayscale).bytes);
    assert_eq!(px.layout, Layout::GrayAlpha);
    assert_eq!(px.data.chunks(2).map(|c| c[1]).collect::<Vec<_>>(), alpha);
    let px = tk::decode(&ok(&tk::webp(&rgba, &Meta::default()), Op::Grayscale).bytes);
    assert_eq!(px.layout, Layout::Rgba, "WebP with alpha decodes as RGBA");
    assert_eq!(px.data.chunks(4).map(|c| c[3]).collect::<Vec<_>>(), alpha);
    assert!(px.data.chunks(4).all(|c| c[0] == c[1] && c[1] == c[2]));
}

#[test]
fn alpha_is_kept_when_resizing_png_and_webp() {
    let rgba = tk::gradient(1600, 400, Layout::Rgba);
    for fmt in [Fmt::Png, Fmt::Webp] {
        let px = tk::decode(&ok(&encode(fmt, &rgba, &Meta::default()), Op::Fit).bytes);
        assert_eq!(
            (px.width, px.height, px.layout),
            (1024, 256, Layout::Rgba),
            "{fmt:?}"
        );
        // Alpha rises left to right in the source; so it must in the output.
        let row = 128 * 1024 * 4;
        let (left, right) = (px.data[row + 3], px.data[row + 1023 * 4 + 3]);
        assert!(left < 5 && right > 250, "{fmt:?}: alpha {left}..{right}");
    }
}

#[test]
fn progressive_and_gray_jpegs_decode() {
    let rgb = tk::gradient(120, 90, Layout::Rgb);
    let prog = tk::jpeg_with(
        &rgb,
        &Meta::phone(1),
        tk::JpegOpts {
            quality: 90,
            progressive: true,
            ..Default::default()
        },
    );
    assert!(
        tk::parts(&prog).iter().any(|p| p == "SOF2"),
        "fixture is progressive"
    );
    let px = tk::decode(&ok(&prog, Op::Fit).bytes);
    assert!(mean_abs_diff(&px, &rgb) < 6.0);
    let gray = tk::gradient(120, 90, Layout::Gray);
    let px = tk::decode(&ok(&tk::jpeg(&gray, &Meta::default()), Op::Fit).bytes);
    assert_eq!(px.layout, Layout::Gray);
    assert!(mean_abs_diff(&px, &gray) < 4.0);
}

#[test]
fn animated_png_keeps_its_default_image() {
    let (w, h) = (16u32, 8u32);
    let first = Pixels::new(w, h, Layout::Rgb, [200u8, 10, 10].repeat(128)).unwrap();
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_animated(2, 0).unwrap();
        let mut wr = enc.write_header().unwrap();
        wr.write_image_data(&first.data).unwrap();
        wr.write_image_data(&[10u8, 10, 200].repeat(128)).unwrap();
        wr.finish().unwrap();
    }
    let probe = image_processor::core::probe::probe(&out, &Limits::default()).unwrap();
    assert_eq!(probe.frames, 2);
    let px = tk::decode(&ok(&out, Op::Fit).bytes);
    assert_eq!(px, first);
}

// ------------------------------------------------------------------------------------------
// Limits: dimensions and bytes
// ------------------------------------------------------------------------------------------

#[test]
fn dimension_boundary_4096_allowed_4097_rejected() {
    for fmt in FORMATS {
        for (w, h) in [(4096u32, 1u32), (1, 4096)] {
            let input = encode(fmt, &tk::gradient(w, h, Layout::Rgb), &Meta::default());
            let out = ok(&input, Op::Fit);
            let want = if w > h { (1024, 1) } else { (1, 1024) };
            assert_eq!((out.width, out.height), want, "{fmt:?} {w}x{h}");
        }
        for (w, h) in [(4097u32, 1u32), (1, 4097)] {
            let input = encode(fmt, &tk::gradient(w, h, Layout::Rgb), &Meta::default());
            let r = reject(&input, Op::Fit);
            assert_eq!(r.reason, Reason::TooLargeDimensions, "{fmt:?} {w}x{h}: {r}");
        }
    }
}

#[test]
fn lying_headers_are_rejected_before_decoding() {
    let cases: Vec<(&str, Vec<u8>, Reason)> = vec![
        (
            "PNG IHDR 5000x5000",
            tk::png_with_ihdr_size(
                &tk::png(&tk::gradient(4, 4, Layout::Rgb), &Meta::default()),
                5000,
                5000,
            ),
            Reason::TooLargeDimensions,
        ),
        (
            "PNG IHDR 4097x4096",
            tk::png_with_ihdr_size(
                &tk::png(&tk::gradient(4, 4, Layout::Rgb), &Meta::default()),
                4097,
                4096,
            ),
            Reason::TooLargeDimensions,
        ),
        (
            "PNG IHDR u32::MAX",
            tk::png_with_ihdr_size(
                &tk::png(&tk::gradient(4, 4, Layout::Rgb), &Meta::default()),
                u32::MAX,
                u32::MAX,
            ),
            Reason::TooLargeDimensions,
        ),
        (
            "PNG IHDR 0x4",
            tk::png_with_ihdr_size(
                &tk::png(&tk::gradient(4, 4, Layout::Rgb), &Meta::default()),
                0,
                4,
            ),
            Reason::Corrupt,
        ),
        (
            "PNG IHDR 4096x4096 over a 4x4 image",
            tk::png_with_ihdr_size(
                &tk::png(&tk::gradient(4, 4, Layout::Rgb), &Meta::default()),
                4096,
                4096,
            ),
            Reason::Corrupt,
        ),
        (
            "JPEG SOF 65535x65535",
            tk::jpeg_sof_header(65535, 65535),
            Reason::TooLargeDimensions,
        ),
        (
            "JPEG SOF 4097x4096",
            tk::jpeg_sof_header(4097, 4096),
            Reason::TooLargeDimensions,
        ),
        ("JPEG SOF 0x10", tk::jpeg_sof_header(0, 10), Reason::Corrupt),
        (
            "WebP VP8L 16384x16384",
            tk::webp_vp8l_header(16384, 16384),
            Reason::TooLargeDimensions,
        ),
        (
            "WebP VP8L 4096x4097",
            tk::webp_vp8l_header(4096, 4097),
            Reason::TooLargeDimensions,
        ),
    ];
    for (what, bytes, want) in cases {
        let r = reject(&bytes, Op::Fit);
        assert_eq!(r.reason, want, "{what}: {r}");
    }
}

#[test]
fn ten_mib_exactly_is_allowed_one_more_byte_is_not() {
    const LIMIT: usize = 10 * 1024 * 1024;
    assert_eq!(LIMIT, 10_485_760);
    assert_eq!(Limits::default().max_input_bytes, LIMIT);
    let png = tk::png(&tk::gradient(64, 48, Layout::Rgb), &Meta::default());
    let jpeg = tk::jpeg(&tk::gradient(64, 48, Layout::Rgb), &Meta::default());
    for (what, img) in [("PNG after IEND", png), ("JPEG after EOI", jpeg)] {
        let exact = tk::pad_to(&img, LIMIT);
        assert_eq!(exact.len(), 10_485_760);
        let out = ok(&exact, Op::Fit);
        assert_eq!((out.width, out.height), (64, 48), "{what}");
        let over = tk::pad_to(&img, LIMIT + 1);
        let r = reject(&over, Op::Fit);
        assert_eq!(r.reason, Reason::TooLargeFile, "{what}: {r}");
        assert_eq!(r.reason.code(), "too-large-file");
    }
}

#[test]
fn one_pixel_wide_images_keep_at_least_one_pixel() {
    for (w, h, op, want) in [
        (1u32, 4096u32, Op::Thumb, (1u32, 200u32)),
        (4096, 1, Op::Thumb, (200, 1)),
        (1, 4096, Op::Fit, (1, 1024)),
        (3, 4000, Op::Thumb, (1, 200)),
    ] {
        let out = ok(
            &tk::png(&tk::gradient(w, h, Layout::Gray), &Meta::default()),
            op,
        );
        assert_eq!((out.width, out.height), want, "{w}x{h} {op:?}");
        let px = tk::decode(&out.bytes);
        assert_eq!((px.width, px.height), want);
    }
}

#[test]
fn fit_never_enlarges_and_rounds_half_up() {
    for ((w, h), op, want) in [
        ((100u32, 50u32), Op::Fit, (100u32, 50u32)),
        ((100, 50), Op::Thumb, (100, 50)),
        ((2400, 2000), Op::Thumb, (200, 167)),
        ((1280, 720), Op::Fit, (1024, 576)),
        ((550, 368), Op::Thumb, (200, 134)),
        ((1025, 1025), Op::Fit, (1024, 1024)),
        ((200, 201), Op::Thumb, (199, 200)),
    ] {
        let out = ok(
            &tk::webp(&tk::gradient(w, h, Layout::Rgb), &Meta::default()),
            op,
        );
        assert_eq!((out.width, out.height), want, "{w}x{h} {op:?}");
    }
}

// ------------------------------------------------------------------------------------------
// Rejections: typed, explained, never a caught panic
// ------------------------------------------------------------------------------------------

fn hostile_inputs() -> Vec<(String, Vec<u8>)> {
    let png = tk::png(&tk::gradient(32, 32, Layout::Rgb), &Meta::default());
    let jpeg = tk::jpeg(&tk::gradient(32, 32, Layout::Rgb), &Meta::phone(6));
    let webp = tk::webp(&tk::gradient(32, 32, Layout::Rgba), &Meta::default());
    let mut v: Vec<(String, Vec<u8>)> = vec![
        ("empty".into(), vec![]),
        ("one byte".into(), vec![0xFF]),
        ("GIF".into(), tk::gif()),
        ("BMP".into(), b"BM\x3a\0\0\0\0\0\0\0\x36\0\0\0".to_vec()),
        ("TIFF".into(), b"II*\0\x08\0\0\0".to_vec()),
        (
            "SVG".into(),
            b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>".to_vec(),
        ),
        ("HTML".into(), b"<!DOCTYPE html><html></html>".to_vec()),
        ("PNG signature only".into(), png[..8].to_vec()),
        ("JPEG SOI only".into(), vec![0xFF, 0xD8, 0xFF]),
        ("RIFF WEBP only".into(), b"RIFF\x04\0\0\0WEBP".to_vec()),
        ("12-bit JPEG".into(), {
            let mut j = tk::jpeg_sof_header(8, 8);
            j[6] = 12;
            j
        }),
        ("arithmetic JPEG".into(), {
            let mut j = tk::jpeg_sof_header(8, 8);
            j[3] = 0xC9;
            j
        }),
        ("lossless JPEG".into(), {
            let mut j = tk::jpeg_sof_header(8, 8);
            j[3] = 0xC3;
            j
        }),
        (
            "JPEG headers without tables".into(),
            tk::jpeg_sof_header(8, 8),
        ),
        (
            "PNG 5000x5000 header".into(),
            tk::png_with_ihdr_size(&png, 5000, 5000),
        ),
        ("too large".into(), tk::pad_to(&png, 10_485_761)),
    ];
    for cut in [png.len() / 3, png.len() - 13, png.len() - 1] {
        v.push((format!("PNG cut at {cut}"), png[..cut].to_vec()));
    }
    for cut in [jpeg.len() / 2, jpeg.len() - 2] {
        v.push((format!("JPEG cut at {cut}"), jpeg[..cut].to_vec()));
    }
    for cut in [webp.len() / 2, 30] {
        v.push((format!("WebP cut at {cut}"), webp[..cut].to_vec()));
    }
    let mut bad_crc = png.clone();
    let idat = bad_crc.windows(4).position(|w| w == b"IDAT").unwrap();
    bad_crc[idat + 6] ^= 0x55;
    v.push(("PNG IDAT bit flip".into(), bad_crc));
    v
}

#[test]
fn every_rejection_has_a_reason_code_and_a_message() {
    for (what, bytes) in hostile_inputs() {
        let r = reject(&bytes, Op::Fit);
        assert!(!r.reason.code().is_empty(), "{what}");
        assert!(!r.message.trim().is_empty(), "{what}: empty message");
        assert!(
            !matches!(r.reason, Reason::DecoderCrash | Reason::Internal),
            "{what}: {r}"
        );
        assert_eq!(Reason::from_code(r.reason.code()), Some(r.reason));
    }
}

#[test]
fn truncated_files_are_corrupt() {
    for (what, bytes) in hostile_inputs() {
        if what.contains(" cut at ") || what.contains("bit flip") {
            let r = reject(&bytes, Op::Fit);
            assert_eq!(r.reason, Reason::Corrupt, "{what}: {r}");
        }
    }
}

#[test]
fn unsupported_formats_are_refused_whatever_the_name() {
    for (what, bytes) in hostile_inputs().into_iter().take(7) {
        let r = reject(&bytes, Op::Fit);
        assert_eq!(r.reason, Reason::UnsupportedFormat, "{what}: {r}");
    }
}

/// Mutated valid files (truncations and byte flips, deterministic): every result is an image
/// or a typed bad-input/limit rejection. `decoder-crash` (a panic caught by `catch_unwind`)
/// or `internal` would mean a decoder or our code panicked or broke an invariant on input.
#[test]
fn mutated_inputs_never_reach_the_panic_path() {
    let seeds: Vec<(&str, Vec<u8>)> = vec![
        (
            "jpeg",
            tk::jpeg(&tk::gradient(24, 16, Layout::Rgb), &Meta::phone(6)),
        ),
        (
            "progressive jpeg",
            tk::jpeg_with(
                &tk::gradient(24, 16, Layout::Rgb),
                &Meta::default(),
                tk::JpegOpts {
                    quality: 80,
                    progressive: true,
                    ..Default::default()
                },
            ),
        ),
        (
            "cmyk jpeg",
            tk::cmyk_jpeg(&tk::gradient(16, 16, Layout::Rgb), tk::CmykKind::Ycck),
        ),
        (
            "png",
            tk::png(&tk::gradient(24, 16, Layout::Rgba), &Meta::phone(3)),
        ),
        (
            "interlaced png",
            tk::png_raw(
                tk::Ihdr {
                    width: 9,
                    height: 7,
                    bit_depth: 16,
                    color_type: 2,
                    interlaced: true,
                },
                &tk::to_16bit(&tk::gradient(9, 7, Layout::Rgb).data),
                &[],
            ),
        ),
        (
            "palette png",
            tk::png_palette(
                4,
                4,
                &[0, 0, 0, 255, 255, 255],
                &[0, 128],
                &[0, 1, 1, 0, 1, 0, 0, 1, 0, 0, 1, 1, 1, 1, 0, 0],
            ),
        ),
        (
            "webp",
            tk::webp(&tk::gradient(24, 16, Layout::Rgba), &Meta::phone(8)),
        ),
    ];
    let mut rng = tk::Rng(0x1234_5678_9ABC_DEF1);
    let mut runs = 0;
    for (what, seed) in &seeds {
        let mut cases: Vec<Vec<u8>> = (0..seed.len())
            .step_by((seed.len() / 24).max(1))
            .map(|n| seed[..n].to_vec())
            .collect();
        for _ in 0..60 {
            let mut m = seed.clone();
            for _ in 0..=rng.below(4) {
                let at = rng.below(m.len());
                m[at] = match rng.below(4) {
                    0 => 0xFF,
                    1 => 0,
                    2 => m[at] ^ (1 << rng.below(8)),
                    _ => rng.below(256) as u8,
                };
            }
            cases.push(m);
        }
        for case in cases {
            for op in [Op::Fit, Op::Grayscale] {
                if let Err(r) = run(&case, op) {
                    assert!(
                        !matches!(r.reason, Reason::DecoderCrash | Reason::Internal),
                        "{what} mutation reached {r}"
                    );
                    assert!(!r.message.is_empty());
                }
                runs += 1;
            }
        }
    }
    assert!(runs > 500, "{runs} runs");
}

#[test]
fn output_is_deterministic_and_in_the_input_format() {
    for fmt in FORMATS {
        let input = encode(fmt, &tk::gradient(300, 200, Layout::Rgb), &Meta::phone(6));
        let a = ok(&input, Op::Thumb);
        let b = ok(&input, Op::Thumb);
        assert_eq!(a.bytes, b.bytes, "{fmt:?}");
        let sniffed = image_processor::core::format::sniff(&a.bytes).unwrap();
        assert_eq!(sniffed, a.format);
        assert_eq!(format!("{fmt:?}").to_lowercase(), sniffed.name());
    }
}
