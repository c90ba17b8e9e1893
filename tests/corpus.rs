//! Walks the real-world decoder corpus (`../shared/corpus/MANIFEST.tsv`, or the folder named by
//! `IMAGE_PROCESSOR_CORPUS`) and checks every row: the verdict (`expected`, or the row's
//! `alt_acceptable`), the reason code, the output size of the fit op (±1 px) and of the thumb
//! op (`out_thumb200`, ±1 px), that every output decodes again with our decoder, and that no
//! output carries a metadata marker. Prints the score and fails listing every mismatch.
//!
//! The corpus files are third-party test files: they stay in ../shared, never in this repo.
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

use image_processor::core::{process, Job, Limits, Op, Output, Rejection};
use image_processor::testkit as tk;

/// The metadata markers the issue names; none may appear in any output.
const MARKERS: &[&str] = &[
    "Exif",
    "http://ns.adobe.com/xap",
    "Photoshop 3.0",
    "iCCP",
    "tEXt",
    "zTXt",
    "iTXt",
    "eXIf",
    "ICC_PROFILE",
    "XMP ",
    "EXIF",
];

fn corpus_dir() -> PathBuf {
    std::env::var_os("IMAGE_PROCESSOR_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"))
}

fn parse_wxh(s: &str) -> Option<(u32, u32)> {
    let (w, h) = s.trim().split_once('x')?;
    Some((w.parse().ok()?, h.parse().ok()?))
}

fn near(got: (u32, u32), want: (u32, u32)) -> bool {
    got.0.abs_diff(want.0) <= 1 && got.1.abs_diff(want.1) <= 1
}

/// What a row allows.
#[derive(Debug)]
struct Expect {
    /// `Some(size)` when accepting is right (the size may be unknown for an alternative).
    accept: Option<Option<(u32, u32)>>,
    /// Reason codes a rejection may carry.
    reject: Vec<String>,
}

fn expectations(expected: &str, reason: &str, alt: &str) -> Expect {
    let mut e = Expect {
        accept: None,
        reject: Vec::new(),
    };
    match expected {
        "accept" => e.accept = Some(parse_wxh(reason)),
        "reject" => e.reject.push(reason.to_owned()),
        other => panic!("MANIFEST: unknown expectation {other:?}"),
    }
    let alt = alt.trim();
    if alt != "-" && !alt.is_empty() {
        let mut words = alt.split_whitespace();
        match words.next() {
            Some("accept") => {
                let size = words.next().and_then(parse_wxh);
                if e.accept.is_none() {
                    e.accept = Some(size);
                }
            }
            Some("reject") => {
                if let Some(code) = words.next() {
                    e.reject.push(code.to_owned());
                }
            }
            Some(code) if !code.contains(' ') => e.reject.push(code.to_owned()),
            _ => {}
        }
    }
    e
}

fn run(bytes: &[u8], op: Op) -> Result<Output, Rejection> {
    process(bytes, &Job { op }, &Limits::default())
}

/// Checks one accepted output: decodes again, no marker, the right size.
fn check_output(out: &Output, want: Option<(u32, u32)>, what: &str, problems: &mut Vec<String>) {
    if let Some(w) = want {
        if !near((out.width, out.height), w) {
            problems.push(format!(
                "{what}: {}x{} (want {}x{} ±1)",
                out.width, out.height, w.0, w.1
            ));
        }
    }
    let limits = Limits::default();
    // A lossless WebP input never gives a lossy output; a lossy one gives a lossy output when
    // the result is opaque and within the budget (src/core/encode.rs).
    if let Ok(h) = image_processor::core::probe::probe(&out.bytes, &limits) {
        if h.lossy && !out.header.lossy {
            problems.push(format!("{what}: lossy WebP output from a lossless input"));
        }
    }
    match image_processor::core::probe::probe(&out.bytes, &limits).and_then(|h| {
        image_processor::core::decode::decode(&out.bytes, &h, &limits).map(|d| d.pixels)
    }) {
        Ok(px) if (px.width, px.height) == (out.width, out.height) => {}
        Ok(px) => problems.push(format!(
            "{what}: output decodes as {}x{}",
            px.width, px.height
        )),
        Err(r) => problems.push(format!("{what}: output does not decode again: {r}")),
    }
    for m in MARKERS {
        if tk::contains(&out.bytes, m.as_bytes()) {
            problems.push(format!("{what}: output contains metadata marker {m:?}"));
        }
    }
}

#[test]
fn every_corpus_row_is_as_expected() {
    let dir = corpus_dir();
    let manifest = dir.join("MANIFEST.tsv");
    let Ok(text) = std::fs::read_to_string(&manifest) else {
        eprintln!();
        eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
        eprintln!(
            "!! corpus: SKIPPED, no {} (set IMAGE_PROCESSOR_CORPUS)",
            manifest.display()
        );
        eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
        println!("corpus: SKIPPED (no {})", manifest.display());
        return;
    };
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("MANIFEST header").split('\t').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("MANIFEST has no {name} column"))
    };
    let (c_file, c_exp, c_reason, c_alt, c_thumb) = (
        col("file"),
        col("expected"),
        col("expected_reason"),
        col("alt_acceptable"),
        col("out_thumb200"),
    );
    let mut rows = 0usize;
    let mut bad: Vec<String> = Vec::new();
    let mut alt_used: Vec<String> = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        rows += 1;
        let file = f[c_file];
        let exp = expectations(f[c_exp], f[c_reason], f[c_alt]);
        let bytes = match std::fs::read(dir.join(file)) {
            Ok(b) => b,
            Err(e) => {
                bad.push(format!("{file}: cannot read: {e}"));
                continue;
            }
        };
        let mut problems = Vec::new();
        match run(&bytes, Op::Fit) {
            Ok(out) => match exp.accept {
                Some(size) => {
                    if f[c_exp] != "accept" {
                        alt_used.push(format!("{file}: accepted (alt_acceptable)"));
                    }
                    check_output(&out, size, "fit", &mut problems);
                    let thumb = if f[c_exp] == "accept" {
                        parse_wxh(f[c_thumb])
                    } else {
                        None
                    };
                    match run(&bytes, Op::Thumb) {
                        Ok(t) => check_output(&t, thumb, "thumb", &mut problems),
                        Err(r) => problems.push(format!("thumb: rejected {r}")),
                    }
                }
                None => problems.push(format!(
                    "accepted as {}x{}, want reject {}",
                    out.width,
                    out.height,
                    exp.reject.join(" or ")
                )),
            },
            Err(r) => {
                let code = r.reason.code();
                if exp.reject.iter().any(|c| c == code) {
                    if f[c_exp] != "reject" || f[c_reason] != code {
                        alt_used.push(format!("{file}: rejected {code} (alt_acceptable)"));
                    }
                    if r.message.trim().is_empty() {
                        problems.push(format!("rejected {code} with an empty message"));
                    }
                } else if exp.reject.is_empty() {
                    problems.push(format!("rejected {r}, want accept"));
                } else {
                    problems.push(format!(
                        "rejected {code} ({}), want {}",
                        r.message,
                        exp.reject.join(" or ")
                    ));
                }
            }
        }
        if !problems.is_empty() {
            bad.push(format!("{file}: {}", problems.join("; ")));
        }
    }
    let good = rows - bad.len();
    println!("corpus: {good}/{rows} rows as expected");
    eprintln!("corpus: {good}/{rows} rows as expected");
    for a in &alt_used {
        eprintln!("  via alt_acceptable: {a}");
    }
    assert!(rows > 0, "MANIFEST has no rows");
    assert!(
        bad.is_empty(),
        "corpus: {good}/{rows} rows as expected; mismatches:\n  {}",
        bad.join("\n  ")
    );
}
