//! The command-line tool, run as a newcomer runs it: the built binary on real files, its JSON
//! records, its outputs and its exit codes (0 all processed, 1 any rejected, 2 usage or I/O).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    reason = "test code: inputs are ours, a failure should be loud"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use image_processor::core::pixels::Layout;
use image_processor::testkit::{self as tk, Meta};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_image-processor");

/// A fresh directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!(
            "image-processor-cli-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }
    /// A plain RGB gradient PNG of `w` x `h`, no metadata.
    fn png(&self, name: &str, w: u32, h: u32) -> PathBuf {
        self.write(name, &rgb_png(w, h))
    }
}

fn rgb_png(w: u32, h: u32) -> Vec<u8> {
    tk::png(&tk::gradient(w, h, Layout::Rgb), &Meta::default())
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn cli(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run the CLI")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn records(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exit code")
}

const FIELDS: [&str; 17] = [
    "input",
    "status",
    "reason",
    "blame",
    "message",
    "format",
    "width",
    "height",
    "bytes",
    "op",
    "output",
    "out_width",
    "out_height",
    "out_bytes",
    "sha256",
    "out_sha256",
    "duration_ms",
];

fn photo() -> Vec<u8> {
    tk::jpeg(
        &tk::to_stored(&tk::gradient(1600, 1200, Layout::Rgb), 6),
        &Meta::phone(6),
    )
}

#[test]
fn process_out_dir_writes_outputs_and_one_record_per_input() {
    let dir = TempDir::new("outdir");
    let photo_bytes = photo();
    let a = dir.write("holiday.jpg", &photo_bytes);
    let b = dir.write(
        "icon_thumb.png",
        &tk::png(&tk::gradient(640, 320, Layout::Rgba), &Meta::phone(1)),
    );
    let c = dir.write(
        "scan_grayscale.webp",
        &tk::webp(&tk::gradient(300, 200, Layout::Rgb), &Meta::default()),
    );
    let out_dir = dir.path("out");
    let out = cli(&["process", s(&a), s(&b), s(&c), "--out-dir", s(&out_dir)]);
    assert_eq!(
        code(&out),
        0,
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recs = records(&out);
    assert_eq!(recs.len(), 3);
    for r in &recs {
        let obj = r.as_object().unwrap();
        for f in FIELDS {
            assert!(obj.contains_key(f), "record lacks {f}: {r}");
        }
        assert_eq!(r["status"], "processed");
        assert!(r["reason"].is_null());
        assert!(!r["message"].as_str().unwrap().is_empty());
        assert_eq!(r["sha256"].as_str().unwrap().len(), 64);
        assert_eq!(r["out_sha256"].as_str().unwrap().len(), 64);
        assert!(r["duration_ms"].as_f64().unwrap() >= 0.0);
        let written = std::fs::read(r["output"].as_str().unwrap()).unwrap();
        assert_eq!(written.len() as u64, r["out_bytes"].as_u64().unwrap());
        assert_eq!(
            image_processor::core::record::sha256_hex(&written),
            r["out_sha256"]
        );
        assert!(
            tk::find_metadata_marker(&written).is_none(),
            "metadata in {r}"
        );
    }
    // The photo: stored 1200x1600 (sideways), fit to 1024 upright.
    assert_eq!(recs[0]["format"], "jpeg");
    assert_eq!(
        (recs[0]["width"].as_u64(), recs[0]["height"].as_u64()),
        (Some(1200), Some(1600))
    );
    assert_eq!(recs[0]["op"], "fit");
    assert_eq!(
        (
            recs[0]["out_width"].as_u64(),
            recs[0]["out_height"].as_u64()
        ),
        (Some(1024), Some(768))
    );
    assert_eq!(recs[0]["bytes"].as_u64(), Some(photo_bytes.len() as u64));
    assert_eq!(
        recs[0]["sha256"],
        image_processor::core::record::sha256_hex(&photo_bytes)
    );
    assert_eq!(
        Path::new(recs[0]["output"].as_str().unwrap()),
        out_dir.join("holiday.jpg")
    );
    // The name picks the op.
    assert_eq!(recs[1]["op"], "thumb");
    assert_eq!(
        (
            recs[1]["out_width"].as_u64(),
            recs[1]["out_height"].as_u64()
        ),
        (Some(200), Some(100))
    );
    assert_eq!(recs[2]["op"], "grayscale");
    assert_eq!(
        (
            recs[2]["out_width"].as_u64(),
            recs[2]["out_height"].as_u64()
        ),
        (Some(300), Some(200))
    );
}

#[test]
fn process_to_one_file_and_op_override() {
    let dir = TempDir::new("single");
    let a = dir.write("holiday.jpg", &photo());
    let dest = dir.path("small.jpg");
    let out = cli(&["process", s(&a), "-o", s(&dest), "--op", "thumb"]);
    assert_eq!(
        code(&out),
        0,
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = &records(&out)[0];
    assert_eq!(r["op"], "thumb");
    // Stored sideways (1200x1600, orientation 6): the thumb is the upright landscape.
    assert_eq!(
        (r["out_width"].as_u64(), r["out_height"].as_u64()),
        (Some(200), Some(150))
    );
    let px = tk::decode(&std::fs::read(&dest).unwrap());
    assert_eq!((px.width, px.height), (200, 150));
    // --op grayscale overrides a _thumb name.
    let t = dir.png("logo_thumb.png", 500, 250);
    let out = cli(&[
        "process",
        s(&t),
        "-o",
        s(&dir.path("g.png")),
        "--op",
        "grayscale",
    ]);
    assert_eq!(code(&out), 0);
    let r = &records(&out)[0];
    assert_eq!(r["op"], "grayscale");
    assert_eq!(r["out_width"].as_u64(), Some(500));
    assert_eq!(
        tk::decode(&std::fs::read(dir.path("g.png")).unwrap()).layout,
        Layout::Gray
    );
    // -o takes exactly one input.
    let out = cli(&["process", s(&a), s(&t), "-o", s(&dir.path("x.jpg"))]);
    assert_eq!(code(&out), 2);
}

#[test]
fn a_rejected_input_exits_1_and_is_recorded() {
    let dir = TempDir::new("reject");
    let good = dir.png("ok.png", 30, 20);
    let gif = dir.write("cat.jpg", &tk::gif());
    let liar = dir.write(
        "big.png",
        &tk::png_with_ihdr_size(&rgb_png(4, 4), 5000, 5000),
    );
    let out_dir = dir.path("out");
    let out = cli(&[
        "process",
        s(&good),
        s(&gif),
        s(&liar),
        "--out-dir",
        s(&out_dir),
    ]);
    assert_eq!(code(&out), 1);
    let recs = records(&out);
    assert_eq!(recs.len(), 3);
    assert_eq!(recs[0]["status"], "processed");
    assert_eq!(recs[1]["status"], "rejected");
    assert_eq!(recs[1]["reason"], "unsupported-format");
    assert!(!recs[1]["message"].as_str().unwrap().is_empty());
    assert!(recs[1]["output"].is_null());
    assert_eq!(recs[2]["reason"], "too-large-dimensions");
    assert_eq!(
        recs[2]["width"].as_u64(),
        Some(5000),
        "the header's claim is recorded"
    );
    for r in &recs[1..] {
        for f in FIELDS {
            assert!(
                r.as_object().unwrap().contains_key(f),
                "record lacks {f}: {r}"
            );
        }
    }
    assert!(
        !out_dir.join("cat.jpg").exists(),
        "no output for a rejected input"
    );
    assert!(out_dir.join("ok.png").exists());
}

#[test]
fn a_too_large_file_is_rejected_not_read_whole() {
    let dir = TempDir::new("large");
    let img = rgb_png(16, 16);
    let exact = dir.write("exact.png", &tk::pad_to(&img, 10_485_760));
    let over = dir.write("over.png", &tk::pad_to(&img, 10_485_761));
    let out = cli(&[
        "process",
        s(&exact),
        s(&over),
        "--out-dir",
        s(&dir.path("out")),
    ]);
    assert_eq!(code(&out), 1);
    let recs = records(&out);
    assert_eq!(recs[0]["status"], "processed");
    assert_eq!(recs[0]["bytes"].as_u64(), Some(10_485_760));
    assert_eq!(recs[1]["reason"], "too-large-file");
    assert_eq!(recs[1]["blame"], "limit-exceeded");
    // Only limit + 1 bytes were read: no hash of a prefix posing as the file's hash, and the
    // size is the file's.
    assert!(recs[1]["sha256"].is_null(), "{}", recs[1]);
    assert_eq!(recs[1]["bytes"].as_u64(), Some(10_485_761));
    let probed = cli(&["probe", s(&over)]);
    let rep = records(&probed);
    assert!(rep[0]["sha256"].is_null());
    assert_eq!(rep[0]["bytes"].as_u64(), Some(10_485_761));
}

#[test]
fn usage_and_io_errors_exit_2() {
    let dir = TempDir::new("usage");
    // A missing file.
    let out = cli(&[
        "process",
        s(&dir.path("nope.jpg")),
        "--out-dir",
        s(&dir.path("out")),
    ]);
    assert_eq!(code(&out), 2);
    assert!(!out.stderr.is_empty());
    // Bad usage: no output given, an unknown op, an unknown subcommand, no arguments.
    let a = dir.png("a.png", 8, 8);
    for args in [
        vec!["process", s(&a)],
        vec!["process", s(&a), "--out-dir", "x", "--op", "sepia"],
        vec!["resize", s(&a)],
        vec![],
        vec!["process", "--out-dir", "x"],
    ] {
        let out = cli(&args);
        assert_eq!(code(&out), 2, "{args:?}");
    }
    // --help is not an error.
    assert_eq!(code(&cli(&["--help"])), 0);
    // A missing file among good ones: the good ones are still processed, exit 2.
    let out = cli(&[
        "process",
        s(&a),
        s(&dir.path("gone.png")),
        "--out-dir",
        s(&dir.path("out")),
    ]);
    assert_eq!(code(&out), 2);
    // One record per input, the unreadable one included.
    let recs = records(&out);
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0]["status"], "processed");
    assert_eq!(recs[1]["status"], "failed");
    assert_eq!(recs[1]["reason"], "dependency-failure");
    assert_eq!(recs[1]["blame"], "dependency");
    assert!(recs[1]["message"].as_str().unwrap().contains("gone.png"));
    // An -o FILE whose folder does not exist: the output cannot be written, which is a
    // dependency failure (not invalid-key, which is for names that would land on an input).
    let out = cli(&[
        "process",
        s(&a),
        "-o",
        s(&dir.path("missing/folder/out.png")),
    ]);
    assert_eq!(code(&out), 2);
    let rec = &records(&out)[0];
    assert_eq!(rec["status"], "failed");
    assert_eq!(rec["reason"], "dependency-failure");
    assert_eq!(rec["blame"], "dependency");
    // A directory as an input: a failed record too.
    let out = cli(&["process", s(&dir.0), "--out-dir", s(&dir.path("out"))]);
    assert_eq!(code(&out), 2);
    assert_eq!(records(&out)[0]["status"], "failed");
}

#[test]
fn no_output_lands_on_another_input_or_on_an_earlier_output() {
    let dir = TempDir::new("batch");
    let first = rgb_png(60, 40);
    let second = rgb_png(30, 20);
    std::fs::create_dir_all(dir.path("a")).unwrap();
    std::fs::create_dir_all(dir.path("b")).unwrap();
    let a = dir.write("a/x.png", &first);
    let b = dir.write("b/x.png", &second);
    // a's output would land on b, which is an input of the same run: refused, b untouched,
    // and b itself (whose output would be itself) refused too.
    let out = cli(&["process", s(&a), s(&b), "--out-dir", s(&dir.path("b"))]);
    assert_eq!(code(&out), 2);
    assert_eq!(std::fs::read(&b).unwrap(), second, "input b untouched");
    let recs = records(&out);
    assert_eq!(recs.len(), 2);
    for r in &recs {
        assert_eq!(r["status"], "failed", "{r}");
        assert_eq!(r["reason"], "invalid-key");
        assert!(r["message"]
            .as_str()
            .unwrap()
            .contains("overwrite the input"));
    }
    // Two inputs with the same file name into one folder: the first is written, the second
    // is refused instead of silently replacing it.
    let out_dir = dir.path("out");
    let out = cli(&["process", s(&a), s(&b), "--out-dir", s(&out_dir)]);
    assert_eq!(code(&out), 2);
    let recs = records(&out);
    assert_eq!(recs[0]["status"], "processed");
    assert_eq!(recs[1]["status"], "failed");
    assert!(recs[1]["message"]
        .as_str()
        .unwrap()
        .contains("already written"));
    let written = std::fs::read(out_dir.join("x.png")).unwrap();
    assert_eq!(
        image_processor::core::record::sha256_hex(&written),
        recs[0]["out_sha256"].as_str().unwrap(),
        "the first output is the one on disk"
    );
}

#[test]
fn an_input_is_known_by_its_inode_not_its_path() {
    let dir = TempDir::new("inode");
    let bytes = rgb_png(30, 20);
    std::fs::create_dir_all(dir.path("a")).unwrap();
    std::fs::create_dir_all(dir.path("b")).unwrap();
    let a = dir.write("a/x.png", &bytes);
    // A hard link to the input where its output would go: refused, the input untouched.
    std::fs::hard_link(&a, dir.path("b/x.png")).unwrap();
    let out = cli(&["process", s(&a), "--out-dir", s(&dir.path("b"))]);
    assert_eq!(code(&out), 2);
    assert_eq!(records(&out)[0]["status"], "failed");
    assert_eq!(std::fs::read(&a).unwrap(), bytes, "input untouched");
}

#[test]
fn a_fifo_is_refused_without_waiting_for_a_writer() {
    let dir = TempDir::new("fifo");
    let fifo = dir.path("pipe.png");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let ok = dir.png("ok.png", 8, 8);
    let started = std::time::Instant::now();
    let out = cli(&[
        "process",
        s(&fifo),
        s(&ok),
        "--out-dir",
        s(&dir.path("out")),
    ]);
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert_eq!(code(&out), 2);
    let recs = records(&out);
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0]["status"], "failed");
    assert!(recs[0]["message"].as_str().unwrap().contains("FIFO"));
    assert_eq!(recs[1]["status"], "processed");
    let probed = cli(&["probe", s(&fifo)]);
    assert_eq!(records(&probed)[0]["verdict"], "error");
}

#[test]
fn an_output_folder_that_cannot_be_made_still_gives_every_input_a_record() {
    let dir = TempDir::new("nodir");
    let file = dir.write("not-a-dir", b"x");
    let a = dir.png("a.png", 8, 8);
    let out = cli(&["process", s(&a), s(&a), "--out-dir", s(&file.join("sub"))]);
    assert_eq!(code(&out), 2);
    let recs = records(&out);
    assert_eq!(recs.len(), 2);
    assert!(recs.iter().all(|r| r["status"] == "failed"));
}

#[test]
fn the_output_keeps_the_inputs_privacy() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("mode");
    let a = dir.png("private.png", 20, 20);
    std::fs::set_permissions(&a, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out_dir = dir.path("out");
    let out = cli(&["process", s(&a), "--out-dir", s(&out_dir)]);
    assert_eq!(code(&out), 0);
    let mode = std::fs::metadata(out_dir.join("private.png"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn the_output_never_overwrites_the_input() {
    let dir = TempDir::new("overwrite");
    let bytes = tk::png(&tk::gradient(50, 40, Layout::Rgb), &Meta::phone(1));
    let a = dir.write("a.png", &bytes);
    let out = cli(&["process", s(&a), "--out-dir", s(&dir.0)]);
    assert_ne!(code(&out), 0);
    assert_eq!(std::fs::read(&a).unwrap(), bytes, "input untouched");
    let out = cli(&["process", s(&a), "-o", s(&a)]);
    assert_ne!(code(&out), 0);
    assert_eq!(std::fs::read(&a).unwrap(), bytes, "input untouched");
}

#[test]
fn probe_reads_headers_only() {
    let dir = TempDir::new("probe");
    let a = dir.write("a.jpg", &photo());
    let liar = dir.write(
        "liar.png",
        &tk::png_with_ihdr_size(&rgb_png(4, 4), 5000, 5000),
    );
    let gif = dir.write("g.webp", &tk::gif());
    let out = cli(&["probe", s(&a)]);
    assert_eq!(code(&out), 0);
    let r = &records(&out)[0];
    assert_eq!(r["verdict"], "accept");
    assert_eq!(r["format"], "jpeg");
    assert_eq!(
        (
            r["width"].as_u64(),
            r["height"].as_u64(),
            r["frames"].as_u64()
        ),
        (Some(1200), Some(1600), Some(1))
    );
    assert_eq!(r["sha256"].as_str().unwrap().len(), 64);
    let out = cli(&["probe", s(&a), s(&liar), s(&gif)]);
    assert_eq!(code(&out), 1);
    let recs = records(&out);
    assert_eq!(recs.len(), 3);
    assert_eq!(recs[1]["verdict"], "reject");
    assert_eq!(recs[1]["reason"], "too-large-dimensions");
    assert_eq!(recs[1]["width"].as_u64(), Some(5000));
    assert_eq!(recs[2]["reason"], "unsupported-format");
    // A lying header over a tiny body: probe says what the header claims and never decodes.
    let out = cli(&["probe", s(&dir.path("missing.png"))]);
    assert_eq!(code(&out), 2);
}

/// The README's quick start: the bundled samples process cleanly, the hostile ones are refused.
#[test]
fn bundled_samples_are_current_and_process() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (name, bytes) in tk::samples() {
        let path = root.join("samples").join(name);
        let on_disk = std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (run `cargo run --example make_samples`)",
                path.display()
            )
        });
        if name.ends_with(".jpg") && !name.starts_with("hostile/") {
            // JPEG encoding may differ in the last bit between SIMD paths; compare pixels.
            let (a, b) = (tk::decode(&on_disk), tk::decode(&bytes));
            assert_eq!((a.width, a.height), (b.width, b.height), "{name}");
            assert!(
                tk::mean_abs_diff(&a, &b) <= 1.0,
                "{name} is stale: run make_samples"
            );
        } else {
            assert_eq!(
                on_disk, bytes,
                "{name} is stale: run `cargo run --example make_samples`"
            );
        }
    }
    let total: u64 = tk::samples().iter().map(|(_, b)| b.len() as u64).sum();
    assert!(total < 300 * 1024, "samples are {total} bytes");
    let dir = TempDir::new("samples");
    let good: Vec<String> = tk::samples()
        .iter()
        .filter(|(n, _)| !n.starts_with("hostile/"))
        .map(|(n, _)| root.join("samples").join(n).to_string_lossy().into_owned())
        .collect();
    let mut args = vec!["process"];
    args.extend(good.iter().map(String::as_str));
    args.extend(["--out-dir", s(&dir.0)]);
    let out = cli(&args);
    assert_eq!(
        code(&out),
        0,
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recs = records(&out);
    let photo = recs
        .iter()
        .find(|r| r["input"].as_str().unwrap().ends_with("photo.jpg"))
        .unwrap();
    assert_eq!(
        (photo["out_width"].as_u64(), photo["out_height"].as_u64()),
        (Some(640), Some(480)),
        "upright"
    );
    let hostile: Vec<String> = tk::samples()
        .iter()
        .filter(|(n, _)| n.starts_with("hostile/"))
        .map(|(n, _)| root.join("samples").join(n).to_string_lossy().into_owned())
        .collect();
    let mut args = vec!["process"];
    args.extend(hostile.iter().map(String::as_str));
    args.extend(["--out-dir", s(&dir.0)]);
    let out = cli(&args);
    assert_eq!(code(&out), 1);
    assert!(records(&out).iter().all(|r| r["status"] == "rejected"));
}
