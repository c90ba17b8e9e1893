//! The fuzz harness on the stable compiler: every input the fuzzer found and we fixed, and a
//! fixed set of known inputs made here (images with metadata for each format and op, the
//! bundled samples, hostile ones included, keys and event fixtures), replayed through the
//! same functions the fuzz targets call (`image_processor::fuzzing`). So a fixed crash stays
//! fixed without a nightly compiler, and the harness's property checks themselves run (and
//! must pass on good inputs) in every test run. The fuzzer's finds live in
//! `fuzz/corpus/<target>/regressions/`, one file each, named after the input kind; each
//! target's folder is walked whole, so adding a file adds a test case. (The `s3_event` ones
//! need the `events` feature, which `aws` implies.)
#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "tests: a failure should be loud"
)]

use std::fs;
use std::path::{Path, PathBuf};

use image_processor::core::pixels::Layout;
use image_processor::core::Op;
use image_processor::fuzzing;
use image_processor::testkit::{self as tk, Meta};

fn regressions(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
        .join("regressions");
    let Ok(entries) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("readable regressions folder").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Images of every format with metadata (EXIF with GPS and an orientation, XMP, ICC where
/// the format has it), the bundled samples and the hostile ones.
fn known_images() -> Vec<(String, Vec<u8>)> {
    let px = tk::gradient(96, 64, Layout::Rgb);
    let alpha = tk::gradient(40, 30, Layout::Rgba);
    let meta = Meta::phone(6);
    let mut v = vec![
        ("jpeg-phone".to_owned(), tk::jpeg(&px, &meta)),
        ("png-phone".to_owned(), tk::png(&px, &meta)),
        ("png-alpha".to_owned(), tk::png(&alpha, &Meta::default())),
        ("webp-phone".to_owned(), tk::webp(&px, &meta)),
        ("webp-alpha".to_owned(), tk::webp(&alpha, &Meta::default())),
        ("gif".to_owned(), tk::gif()),
        ("empty".to_owned(), Vec::new()),
    ];
    for dir in ["samples", "samples/hostile"] {
        let d = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        let mut files: Vec<PathBuf> = fs::read_dir(&d)
            .expect("samples folder")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for f in files {
            v.push((f.display().to_string(), fs::read(&f).expect("sample")));
        }
    }
    v
}

/// Runs `harness` on one input, naming it when a property breaks.
fn run_one(target: &str, name: &str, data: &[u8], harness: fn(&[u8])) {
    if std::panic::catch_unwind(|| harness(data)).is_err() {
        panic!("{target}: input {name} breaks a property");
    }
}

/// Runs every regression input of `target` and the `known` inputs through `harness`,
/// reporting each by name; returns how many ran (the caller asserts it is not zero).
fn replay(target: &str, harness: fn(&[u8]), known: &[(String, Vec<u8>)]) -> usize {
    let files = regressions(target);
    for f in &files {
        let data = fs::read(f).expect("readable regression input");
        run_one(target, &f.display().to_string(), &data, harness);
    }
    for (name, data) in known {
        run_one(target, name, data, harness);
    }
    files.len().saturating_add(known.len())
}

/// The known images behind the `decode` target's op selector byte, once per op.
fn with_selectors(images: &[(String, Vec<u8>)]) -> Vec<(String, Vec<u8>)> {
    let mut v = Vec::new();
    for op in [Op::Fit, Op::Thumb, Op::Grayscale] {
        for (name, img) in images {
            let mut data = vec![fuzzing::selector_for_op(op)];
            data.extend_from_slice(img);
            v.push((format!("{name} ({op:?})"), data));
        }
    }
    v
}

fn of_format(prefix: &str) -> Vec<(String, Vec<u8>)> {
    known_images()
        .into_iter()
        .filter(|(n, _)| n.starts_with(prefix) || n.ends_with(&format!(".{prefix}")))
        .collect()
}

#[test]
fn decode_regressions() {
    let known = with_selectors(&known_images());
    assert!(replay("decode", fuzzing::decode, &known) >= 30);
}

#[test]
fn the_decode_harness_accepts_good_images_and_sizes_them() {
    // The harness's own bookkeeping, on inputs whose outcome we know.
    let img = tk::jpeg(&tk::gradient(96, 64, Layout::Rgb), &Meta::default());
    assert_eq!(fuzzing::pipeline(&img, Op::Fit), Ok((96, 64)));
    let big = tk::png(&tk::gradient(400, 100, Layout::Rgb), &Meta::default());
    assert_eq!(fuzzing::pipeline(&big, Op::Thumb), Ok((200, 50)));
    assert!(fuzzing::pipeline(&tk::gif(), Op::Fit).is_err());
}

#[test]
fn probe_regressions() {
    let n = replay(
        "probe",
        |d| {
            let _ = fuzzing::probe(d);
        },
        &known_images(),
    );
    assert!(n >= 10);
}

#[test]
fn decode_jpeg_regressions() {
    assert!(replay("decode_jpeg", fuzzing::decode_jpeg, &of_format("jpeg")) >= 1);
}

#[test]
fn decode_png_regressions() {
    assert!(replay("decode_png", fuzzing::decode_png, &of_format("png")) >= 2);
}

#[test]
fn decode_webp_regressions() {
    assert!(replay("decode_webp", fuzzing::decode_webp, &of_format("webp")) >= 2);
}

/// The lossless WebP encoder's target: every layout and a range of widths over the pixels of
/// the known images (their bytes read as pixels: photos, headers, runs of zeros).
#[test]
fn encode_webp_regressions() {
    let inputs: Vec<(String, Vec<u8>)> = known_images()
        .into_iter()
        .flat_map(|(name, bytes)| {
            (0u8..4).map(move |layout| {
                let mut data = vec![layout | 0x04, 0x2a];
                data.extend(bytes.iter().take(40_000));
                (format!("{name} layout {layout}"), data)
            })
        })
        .collect();
    assert!(replay("encode_webp", fuzzing::encode_webp, &inputs) >= 8);
}

#[test]
fn naming_regressions() {
    let keys: Vec<(String, Vec<u8>)> = [
        "uploads/cat.jpg",
        "cat_thumb.jpg",
        "uploads/a b+c_grayscale.png",
        "uploads/../x.jpg",
        "uploads//x.jpg",
        "processed/x.jpg",
        "uploads/日本/写真_thumb.webp",
        "uploads/\u{7}bell.jpg",
        "",
    ]
    .iter()
    .map(|k| ((*k).to_owned(), k.as_bytes().to_vec()))
    .collect();
    assert!(replay("naming", fuzzing::naming, &keys) >= keys.len());
}

#[cfg(feature = "events")]
#[test]
fn s3_event_regressions() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/events");
    let mut events: Vec<(String, Vec<u8>)> = fs::read_dir(&dir)
        .expect("event fixtures")
        .map(|e| e.expect("entry").path())
        .map(|p| (p.display().to_string(), fs::read(&p).expect("event")))
        .collect();
    events.sort();
    events.push(("not json".to_owned(), b"{\"Records\": [".to_vec()));
    assert!(replay("s3_event", fuzzing::s3_event, &events) >= 3);
}

/// The folders the tests walk are where the fuzz targets keep them (a renamed target would
/// otherwise silently replay nothing).
#[test]
fn every_target_has_its_corpus_folder_name() {
    let targets = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/fuzz_targets");
    for t in [
        "decode",
        "probe",
        "decode_jpeg",
        "decode_png",
        "decode_webp",
        "encode_webp",
        "s3_event",
        "naming",
    ] {
        assert!(
            targets.join(format!("{t}.rs")).is_file(),
            "fuzz target {t} is missing"
        );
    }
}
