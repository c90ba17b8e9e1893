//! The real Lambda binary, served through the Lambda Runtime API.
//!
//! `cargo lambda watch --only-lambda-apis` emulates the Runtime API (and the Invoke API in
//! front of it); this test starts it, starts `image-processor-lambda` against it with the
//! environment Terraform gives the function (sandbox `best-effort`, notifications signed
//! with an HMAC key that arrives as KMS ciphertext), and sends the fixture events in
//! `tests/fixtures/events/` with `cargo lambda invoke`. Everything the function does lands
//! in moto, where the test checks it.
//!
//! Needs `AWS_ENDPOINT_URL` (moto) and cargo-lambda (`CARGO_LAMBDA`, or the pinned one in
//! `.tools/lambda/bin`); `scripts/test_aws.sh` provides both. Without them it prints
//! SKIPPED and passes.
#![cfg(feature = "aws")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    reason = "tests: a failure is a failed test and should be loud"
)]

mod aws_support;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use aws_support::*;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");
const LAMBDA_BIN: &str = env!("CARGO_BIN_EXE_image-processor-lambda");
/// The name `cargo lambda watch --only-lambda-apis` serves the function under.
const FUNCTION_NAME: &str = "_";
const HMAC_KEY: &str = "test-notification-signing-key";

/// Kills (and reaps) the processes this test started, whatever happens.
struct Kill(Vec<Child>);

impl Drop for Kill {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn cargo_lambda() -> Option<PathBuf> {
    let p = std::env::var_os("CARGO_LAMBDA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(MANIFEST_DIR).join(".tools/lambda/bin/cargo-lambda"));
    p.exists().then_some(p)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16, within: Duration) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < within, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs a command to completion, or kills it after `within`.
fn run_with_timeout(cmd: &mut Command, within: Duration) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(within) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            // Only the process this function started, by its id.
            let _ = Command::new("kill").arg(pid.to_string()).status();
            panic!("command timed out after {within:?}: {cmd:?}");
        }
    }
}

fn invoke(cl: &Path, port: u16, fixture: &str) -> serde_json::Value {
    let out = run_with_timeout(
        Command::new(cl)
            .args(["lambda", "invoke", FUNCTION_NAME, "--data-file"])
            .arg(
                Path::new(MANIFEST_DIR)
                    .join("tests/fixtures/events")
                    .join(fixture),
            )
            .args(["--invoke-address", "127.0.0.1", "--invoke-port"])
            .arg(port.to_string())
            .args(["--output-format", "json"])
            .current_dir(MANIFEST_DIR),
        Duration::from_secs(120),
    );
    assert!(
        out.status.success(),
        "invoke {fixture}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "invoke {fixture}: not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn hmac_hex(key: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn the_lambda_binary_serves_fixture_events_through_the_runtime_api() {
    let test = "the_lambda_binary_serves_fixture_events_through_the_runtime_api";
    let Some(ep) = endpoint(test) else { return };
    let Some(cl) = cargo_lambda() else {
        eprintln!(
            "SKIPPED {test}: cargo-lambda not found (scripts/tools.sh lambda, or set CARGO_LAMBDA)"
        );
        return;
    };
    let _g = MOTO.lock().await;
    let w = World::new(&ep, true, false).await;

    // The objects the fixture events name (keys decoded: '+' in the fixtures is a space).
    let photo = jpeg(640, 480);
    w.put("uploads/fixture photo_thumb.jpg", &photo).await;
    w.put("uploads/renamed gif.jpg", &gif()).await;

    // The signing key as Terraform passes it: KMS ciphertext bound to the function name.
    let ct = w
        .kms
        .encrypt()
        .key_id(&w.key_arn)
        .plaintext(aws_sdk_kms::primitives::Blob::new(HMAC_KEY.as_bytes()))
        .encryption_context("LambdaFunctionName", FUNCTION_NAME)
        .send()
        .await
        .unwrap();
    let ct_b64 =
        base64::engine::general_purpose::STANDARD.encode(ct.ciphertext_blob().unwrap().as_ref());

    let port = free_port();
    let watch = Command::new(&cl)
        .args([
            "lambda",
            "watch",
            "--only-lambda-apis",
            "--invoke-address",
            "127.0.0.1",
        ])
        .args(["--invoke-port", &port.to_string()])
        .current_dir(MANIFEST_DIR)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut procs = Kill(vec![watch]);
    wait_for_port(port, Duration::from_secs(60));

    let mut f = Command::new(LAMBDA_BIN);
    f.env_clear()
        .envs(w.env())
        .env("SANDBOX_MODE", "best-effort")
        .env("MAX_INPUT_BYTES", "10485760")
        .env("NOTIFY_HMAC_KEY_CIPHERTEXT", &ct_b64)
        .env(
            "AWS_LAMBDA_RUNTIME_API",
            format!("http://127.0.0.1:{port}/.rt"),
        )
        .env("AWS_LAMBDA_FUNCTION_NAME", FUNCTION_NAME)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
        .env("AWS_ENDPOINT_URL", &ep)
        .env("AWS_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    procs.0.push(f.spawn().unwrap());

    let r = invoke(&cl, port, "put_photo.json");
    assert_eq!(r["results"][0]["disposition"], "processed", "{r}");
    let r = invoke(&cl, port, "put_photo.json");
    assert_eq!(r["results"][0]["disposition"], "duplicate", "{r}");
    let r = invoke(&cl, port, "put_renamed_gif.json");
    assert_eq!(r["results"][0]["disposition"], "rejected", "{r}");
    assert_eq!(r["results"][0]["reason"], "unsupported-format", "{r}");
    let r = invoke(&cl, port, "put_outside_prefix.json");
    assert_eq!(r["results"][0]["disposition"], "skipped", "{r}");
    drop(procs);

    let out = w.get("processed/fixture photo_thumb.jpg").await.unwrap();
    let h = image_processor::core::probe::probe(&out, &image_processor::core::Limits::default())
        .unwrap();
    assert_eq!((h.width, h.height), (200, 150));

    let items = w.items().await;
    assert_eq!(items.len(), 2);
    for i in &items {
        // The real binary ran the pipeline in the sandboxed worker.
        assert!(i["sandbox_layers"].contains("process"), "{i:?}");
    }

    // Two notifications, each signed with the key that arrived encrypted.
    let notes = sent_raw(&ep, &w.notes_arn);
    assert_eq!(notes.len(), 2);
    for (body, attrs) in &notes {
        assert_eq!(
            attrs["signature"],
            hmac_hex(HMAC_KEY, body),
            "bad signature on {body}"
        );
        assert!(!body.contains(HMAC_KEY) && !body.contains(&ct_b64));
    }
}

#[test]
fn a_bad_environment_stops_the_cold_start_naming_the_variable() {
    let out = run_with_timeout(
        Command::new(LAMBDA_BIN)
            .env_clear()
            .env("IMAGES_BUCKET", "Not_A_Bucket")
            .env("MAX_INPUT_BYTES", "20000000"),
        Duration::from_secs(30),
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for var in [
        "IMAGES_BUCKET",
        "RECORDS_TABLE",
        "NOTIFICATIONS_TOPIC_ARN",
        "SECURITY_ALERTS_TOPIC_ARN",
        "KMS_KEY_ID",
        "MAX_INPUT_BYTES",
    ] {
        assert!(err.contains(var), "{var} not named in: {err}");
    }
}
