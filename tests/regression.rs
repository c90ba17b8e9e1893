//! One test per bug found and fixed, each naming the input kind that showed it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    reason = "test code: inputs are ours, a failure should be loud"
)]

use image_processor::core::pixels::Layout;
use image_processor::core::{process, Job, Limits, Op};
use image_processor::testkit::{self as tk, Meta};

/// Bug: a 4:2:0 RGB JPEG re-encoded by the pipeline came out with the wrong colours when read
/// back by our own decoder (a flat red quadrant decoded as green). The encoder wrote optimised
/// Huffman tables that libjpeg and Pillow decode correctly but zune-jpeg 0.5.15 misreads, so
/// an output uploaded again (a thumbnail of a thumbnail) would have been processed with wrong
/// colours; real uploads with such tables too. Fix: zune-jpeg pinned to 0.5.16 (Cargo.toml),
/// which reads them right; the encoder writes optimised tables again, so this test exercises
/// exactly that path.
#[test]
fn small_flat_colour_jpeg_output_reads_back_with_the_same_colours() {
    let input = tk::jpeg(&tk::quadrants(64, 40), &Meta::default());
    let out = process(&input, &Job { op: Op::Fit }, &Limits::default()).unwrap();
    let px = tk::decode(&out.bytes);
    for (q, (cx, cy)) in [(16, 10), (48, 10), (16, 30), (48, 30)]
        .into_iter()
        .enumerate()
    {
        let got = tk::mean_rgb(&px, cx, cy, 5);
        let want = tk::QUADRANT_COLOURS[q];
        for c in 0..3 {
            assert!(
                (got[c] - f64::from(want[c])).abs() < 12.0,
                "quadrant {q}: {got:?}, want {want:?}"
            );
        }
    }
    // And processing the output again keeps the colours (the re-upload case).
    let again = process(&out.bytes, &Job { op: Op::Fit }, &Limits::default()).unwrap();
    let px2 = tk::decode(&again.bytes);
    assert!(
        tk::mean_abs_diff(&px, &px2) < 3.0,
        "re-processing shifted colours"
    );
    let _ = Layout::Rgb;
}

/// Bug: YCCK JPEGs (four components, Adobe APP14 transform 2, as Photoshop writes CMYK) came
/// out with inverted colours: the YCC → CMY step kept R where libjpeg keeps 255 - R. Shown by
/// a YCCK JPEG the project encodes from known RGB pixels, and by Pillow's `pil_sample_cmyk.jpg`
/// in the corpus (tests/pipeline.rs). Fix: core/colour.rs `ycck_to_cmyk_inplace`.
#[test]
fn ycck_jpeg_is_not_inverted() {
    let rgb = tk::gradient(64, 48, Layout::Rgb);
    let input = tk::cmyk_jpeg(&rgb, tk::CmykKind::Ycck);
    let px = tk::decode(
        &process(&input, &Job { op: Op::Fit }, &Limits::default())
            .unwrap()
            .bytes,
    );
    let mean = tk::mean_abs_diff(&px, &rgb);
    assert!(
        mean < 10.0,
        "YCCK output differs from its RGB source by {mean:.1} on average"
    );
}
