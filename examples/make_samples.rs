//! Regenerates `samples/` (the images the README's quick start runs on) from the project's
//! own fixture generator. Deterministic: running it again changes no byte.
//!
//!     cargo run --example make_samples [-- --check]
//!
//! With `--check` it writes nothing and exits 1 if any sample differs from what the generator
//! makes now (tests/regression.rs runs the same comparison).

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let check = std::env::args().any(|a| a == "--check");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("samples");
    let mut stale = 0u32;
    let mut total = 0usize;
    for (name, bytes) in image_processor::testkit::samples() {
        let path = dir.join(name);
        total = total.saturating_add(bytes.len());
        if check {
            if std::fs::read(&path).ok().as_deref() != Some(bytes.as_slice()) {
                eprintln!("stale: {}", path.display());
                stale = stale.saturating_add(1);
            }
            continue;
        }
        if let Some(parent) = path.parent() {
            if let Err(e) = std::fs::create_dir_all(parent) {
                eprintln!("make_samples: cannot create {}: {e}", parent.display());
                return ExitCode::from(2);
            }
        }
        if let Err(e) = std::fs::write(&path, &bytes) {
            eprintln!("make_samples: cannot write {}: {e}", path.display());
            return ExitCode::from(2);
        }
        println!("{:>8} bytes  {}", bytes.len(), path.display());
    }
    println!("{total} bytes in all");
    if stale > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
