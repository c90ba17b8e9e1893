//! Every input the fuzzer found and we fixed, replayed through the same harness the fuzz
//! targets call (`image_processor::fuzzing`), so a fixed crash stays fixed without a nightly
//! compiler. The inputs live in `fuzz/corpus/<target>/regressions/`, one file each, named
//! after the input kind; each target's folder is walked whole, so adding a file adds a test
//! case. (The `s3_event` ones need the `events` feature, which `aws` implies.)
#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "tests: a failure should be loud"
)]

use std::fs;
use std::path::{Path, PathBuf};

use image_processor::fuzzing;

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

/// Runs every regression input of `target` through `harness`, reporting each file by name.
fn replay(target: &str, harness: fn(&[u8])) -> usize {
    let files = regressions(target);
    for f in &files {
        let data = fs::read(f).expect("readable regression input");
        let name = f.display().to_string();
        if std::panic::catch_unwind(|| harness(&data)).is_err() {
            panic!("{target}: regression input {name} fails again");
        }
    }
    files.len()
}

#[test]
fn decode_regressions() {
    replay("decode", fuzzing::decode);
}

#[test]
fn probe_regressions() {
    replay("probe", |d| {
        let _ = fuzzing::probe(d);
    });
}

#[test]
fn decode_jpeg_regressions() {
    replay("decode_jpeg", fuzzing::decode_jpeg);
}

#[test]
fn decode_png_regressions() {
    replay("decode_png", fuzzing::decode_png);
}

#[test]
fn decode_webp_regressions() {
    replay("decode_webp", fuzzing::decode_webp);
}

#[test]
fn naming_regressions() {
    replay("naming", fuzzing::naming);
}

#[cfg(feature = "events")]
#[test]
fn s3_event_regressions() {
    replay("s3_event", fuzzing::s3_event);
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
        "s3_event",
        "naming",
    ] {
        assert!(
            targets.join(format!("{t}.rs")).is_file(),
            "fuzz target {t} is missing"
        );
    }
}
