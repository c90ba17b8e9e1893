//! Writes our lossless WebP encoder's own output (`webp_lossless::encode_own`, without the
//! product's check and fallback) for a set of generated images, beside each image's expected
//! RGBA pixels, so that another decoder can check the bitstream: `tests/py/test_quality.py`
//! decodes them with Pillow, that is libwebp.
//!
//!     cargo run --release --example vp8l_conformance -- DIR
//!
//! For each case it writes `DIR/NAME.webp` and `DIR/NAME.rgba` (4 bytes a pixel, gray
//! widened, alpha 255 where the layout has none) and prints `NAME WIDTH HEIGHT` on a line.
//! The images cover every layout, the palette sizes that bundle 8, 4, 2 and 1 pixels, noise
//! (the predictor), runs longer than a copy can be, and repeats farther back than the hash
//! window.
#![allow(
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    reason = "a generator of small test images: the coordinates are below 1024 and the indexes constant"
)]

use std::path::PathBuf;
use std::process::ExitCode;

use image_processor::core::pixels::{Layout, Pixels};
use image_processor::core::webp_lossless::encode_own;

fn noise(x: u32, y: u32, k: u32, seed: u32) -> u8 {
    let mut v = x.wrapping_mul(0x9E37_79B9)
        ^ y.wrapping_mul(0x85EB_CA6B)
        ^ k.wrapping_add(seed).wrapping_mul(0xC2B2_AE35);
    v ^= v >> 15;
    v = v.wrapping_mul(0x2C1B_3C6D);
    v.to_be_bytes()[0]
}

fn byte(v: u32) -> u8 {
    v.to_le_bytes()[0]
}

/// Case name, size, layout and the value of channel `k` at (x, y).
type Case = (String, u32, u32, Layout, Box<dyn Fn(u32, u32, u32) -> u8>);

fn cases() -> Vec<Case> {
    let mut out: Vec<Case> = Vec::new();
    let layouts = [
        ("gray", Layout::Gray),
        ("graya", Layout::GrayAlpha),
        ("rgb", Layout::Rgb),
        ("rgba", Layout::Rgba),
    ];
    for (lname, layout) in layouts {
        for (w, h) in [(1, 1), (7, 1), (1, 9), (17, 33), (130, 70), (300, 200)] {
            out.push((
                format!("noise_{lname}_{w}x{h}"),
                w,
                h,
                layout,
                Box::new(|x, y, k| noise(x, y, k, 1)),
            ));
            out.push((
                format!("gradient_{lname}_{w}x{h}"),
                w,
                h,
                layout,
                Box::new(|x, y, k| {
                    byte(
                        x.wrapping_mul(3)
                            .wrapping_add(y.wrapping_mul(5))
                            .wrapping_add(k.wrapping_mul(40)),
                    )
                }),
            ));
            out.push((
                format!("checks_{lname}_{w}x{h}"),
                w,
                h,
                layout,
                Box::new(|x, y, k| if (x / 3 + y / 2 + k) % 2 == 0 { 0 } else { 255 }),
            ));
        }
    }
    for colours in [2u32, 4, 5, 16, 17, 200, 256] {
        for (w, h) in [(13, 40), (301, 150)] {
            out.push((
                format!("palette{colours}_{w}x{h}"),
                w,
                h,
                Layout::Rgba,
                Box::new(move |x, y, k| {
                    let c = (x.wrapping_mul(7).wrapping_add(y.wrapping_mul(13) / 5)) % colours;
                    match k {
                        0 => byte(c.wrapping_mul(37)),
                        1 => byte(c.wrapping_mul(11)),
                        2 => byte(c / 3),
                        _ => {
                            if c % 5 == 0 {
                                0
                            } else {
                                255
                            }
                        }
                    }
                }),
            ));
        }
    }
    // Repeats 300,000 pixels back (past the 2^18-pixel hash window) and long flat runs.
    out.push((
        "far_repeats_rgb_700x900".into(),
        700,
        900,
        Layout::Rgb,
        Box::new(|x, y, k| noise((y.wrapping_mul(700).wrapping_add(x)) % 300_000, 0, k, 3)),
    ));
    out.push((
        "tiles_rgba_1024x640".into(),
        1024,
        640,
        Layout::Rgba,
        Box::new(|x, y, k| match ((x / 40 + y / 30) % 3, k) {
            (0, _) => 0,
            (1, _) => [200, 120, 40, 255][usize::try_from(k).unwrap_or(0) % 4],
            _ => byte(x.wrapping_add(y).wrapping_add(k)),
        }),
    ));
    out
}

fn main() -> ExitCode {
    let Some(dir) = std::env::args().nth(1).map(PathBuf::from) else {
        eprintln!("usage: vp8l_conformance DIR");
        return ExitCode::from(2);
    };
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("vp8l_conformance: {}: {e}", dir.display());
        return ExitCode::from(2);
    }
    for (name, w, h, layout, f) in cases() {
        let c = u32::try_from(layout.channels()).unwrap_or(4);
        let mut data = Vec::new();
        for y in 0..h {
            for x in 0..w {
                for k in 0..c {
                    data.push(f(x, y, k));
                }
            }
        }
        let Ok(p) = Pixels::new(w, h, layout, data) else {
            eprintln!("vp8l_conformance: {name}: bad pixel buffer");
            return ExitCode::FAILURE;
        };
        let Some(webp) = encode_own(&p) else {
            eprintln!("vp8l_conformance: {name}: the encoder gave nothing");
            return ExitCode::FAILURE;
        };
        let rgba: Vec<u8> = p
            .data
            .chunks_exact(layout.channels())
            .flat_map(|px| match *px {
                [g] => [g, g, g, 255],
                [g, a] => [g, g, g, a],
                [r, g, b] => [r, g, b, 255],
                [r, g, b, a] => [r, g, b, a],
                _ => [0, 0, 0, 0],
            })
            .collect();
        for (ext, bytes) in [("webp", &webp), ("rgba", &rgba)] {
            let path = dir.join(format!("{name}.{ext}"));
            if let Err(e) = std::fs::write(&path, bytes) {
                eprintln!("vp8l_conformance: {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        }
        println!("{name} {w} {h}");
    }
    ExitCode::SUCCESS
}
