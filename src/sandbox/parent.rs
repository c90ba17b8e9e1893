//! The parent side: spawn the worker, feed it, watch the clock, and turn every way a worker
//! can end into a typed outcome. The parent never panics and never waits forever because of
//! a worker: a wall-clock watchdog kills it, every read is bounded, and it is always reaped.

use std::io::{BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use crate::core::error::{Reason, Rejection};
use crate::core::format::sniff;
use crate::core::{Job, Limits, Output};

use super::policy::ResourceLimits;
use super::protocol::{read_response, write_request, RequestMeta, ResponseMeta, SandboxMode};
use super::worker::{EXIT_SETUP_REFUSED, WORKER_ARG};

/// How much of the worker's stderr is kept (panic messages, allocation failures).
const MAX_STDERR_BYTES: u64 = 16 * 1024;

/// A configured sandbox: which binary to re-execute, how strictly, with what limits.
#[derive(Debug, Clone)]
pub struct Sandbox {
    exe: PathBuf,
    mode: SandboxMode,
    resources: ResourceLimits,
}

impl Sandbox {
    /// A sandbox that re-executes `exe` (normally `std::env::current_exe()`; tests pass the
    /// built CLI binary). The binary must call `run_worker_if_requested()` first in `main`.
    pub fn new(exe: PathBuf, mode: SandboxMode, resources: ResourceLimits) -> Sandbox {
        Sandbox {
            exe,
            mode,
            resources,
        }
    }

    /// The current executable, in the given mode, with the default limits.
    pub fn current_exe(mode: SandboxMode) -> Result<Sandbox, Rejection> {
        let exe = std::env::current_exe()
            .map_err(|e| Rejection::internal(format!("cannot locate our own executable: {e}")))?;
        Ok(Sandbox::new(exe, mode, ResourceLimits::default()))
    }

    pub fn mode(&self) -> SandboxMode {
        self.mode
    }

    pub fn resources(&self) -> &ResourceLimits {
        &self.resources
    }

    /// The same sandbox with another wall-clock limit (at least 1 ms).
    pub fn with_wall_ms(&self, wall_ms: u64) -> Sandbox {
        let mut sb = self.clone();
        sb.resources.wall_ms = wall_ms.max(1);
        sb
    }

    /// Runs one job in a fresh worker. Returns the pipeline's result and the layers the
    /// worker reported (empty if it died before saying).
    pub fn run(
        &self,
        input: &[u8],
        job: &Job,
        limits: &Limits,
    ) -> (Result<Output, Rejection>, Vec<String>) {
        let meta = RequestMeta {
            op: job.op,
            limits: limits.clone(),
            resources: self.resources,
            mode: self.mode,
            #[cfg(feature = "sandbox-test-hooks")]
            test_action: None,
        };
        self.run_request(input, &meta)
    }

    /// Test API: runs a worker told to misbehave in the given way.
    #[cfg(feature = "sandbox-test-hooks")]
    pub fn run_test_action(
        &self,
        action: super::protocol::TestAction,
        limits: &Limits,
    ) -> (Result<Output, Rejection>, Vec<String>) {
        let meta = RequestMeta {
            op: crate::core::Op::Fit,
            limits: limits.clone(),
            resources: self.resources,
            mode: self.mode,
            test_action: Some(action),
        };
        self.run_request(&[], &meta)
    }

    /// Starts a worker on a tiny built-in image to learn which layers this platform allows.
    /// In strict mode an `Err` means the sandbox cannot be had here.
    pub fn self_test(&self) -> Result<Vec<String>, Rejection> {
        let tiny = tiny_png();
        let (r, layers) = self.run(
            &tiny,
            &Job {
                op: crate::core::Op::Thumb,
            },
            &Limits::default(),
        );
        r.map(|_| layers)
    }

    fn run_request(
        &self,
        input: &[u8],
        meta: &RequestMeta,
    ) -> (Result<Output, Rejection>, Vec<String>) {
        let mode = match self.mode {
            SandboxMode::Strict => "strict",
            SandboxMode::BestEffort => "best-effort",
        };
        let spawned = Command::new(&self.exe)
            .arg(WORKER_ARG)
            .arg(mode)
            .arg(self.resources.address_space_bytes.to_string())
            .arg(self.resources.cpu_seconds.to_string())
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                return (
                    Err(Rejection::internal(format!(
                        "cannot start the sandbox worker: {e}"
                    ))),
                    Vec::new(),
                )
            }
        };
        let (Some(mut stdin), Some(stdout), Some(mut stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            let _ = child.wait();
            return (
                Err(Rejection::internal("sandbox worker pipes missing")),
                Vec::new(),
            );
        };
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
        let timed_out = AtomicBool::new(false);
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let wall = Duration::from_millis(self.resources.wall_ms.max(1));

        let (response, stderr_text, status) = std::thread::scope(|s| {
            // Watchdog: kill the worker when the wall clock runs out. The child is not reaped
            // before `done` is sent, so its pid cannot have been reused.
            let timed_out = &timed_out;
            s.spawn(move || {
                if let Err(mpsc::RecvTimeoutError::Timeout) = done_rx.recv_timeout(wall) {
                    timed_out.store(true, Ordering::SeqCst);
                    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
                }
            });
            // Writer: a worker that stops reading makes this fail with EPIPE, never block
            // forever (the watchdog kills it).
            s.spawn(move || {
                let _ = write_request(&mut stdin, meta, input);
                drop(stdin);
            });
            let err_reader = s.spawn(move || {
                let mut buf = Vec::new();
                let _ = (&mut stderr).take(MAX_STDERR_BYTES).read_to_end(&mut buf);
                let _ = std::io::copy(&mut stderr, &mut std::io::sink());
                String::from_utf8_lossy(&buf).into_owned()
            });
            let mut out = BufReader::new(stdout);
            let response = read_response(&mut out);
            // Whatever else the worker writes is drained so it can exit.
            let _ = std::io::copy(&mut out, &mut std::io::sink());
            let status = child.wait();
            let _ = done_tx.send(());
            let stderr_text = err_reader.join().unwrap_or_default();
            (response, stderr_text, status)
        });

        let timed_out = timed_out.load(Ordering::SeqCst);
        let status = match status {
            Ok(s) => s,
            Err(e) => {
                return (
                    Err(Rejection::internal(format!(
                        "cannot reap the sandbox worker: {e}"
                    ))),
                    Vec::new(),
                )
            }
        };
        classify(response, status, timed_out, &stderr_text, &self.resources)
    }
}

fn first_line(s: &str) -> &str {
    s.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
}

/// Maps how the worker ended to an outcome. Order matters: a signal or a timeout wins over
/// whatever partial response the worker may have written.
fn classify(
    response: std::io::Result<(ResponseMeta, Vec<u8>)>,
    status: ExitStatus,
    timed_out: bool,
    stderr: &str,
    res: &ResourceLimits,
) -> (Result<Output, Rejection>, Vec<String>) {
    let layers = response
        .as_ref()
        .map(|(m, _)| m.layers.clone())
        .unwrap_or_default();
    let fail = |reason: Reason, msg: String| (Err(Rejection::new(reason, msg)), layers.clone());
    if timed_out {
        return fail(
            Reason::TimeLimit,
            format!("worker exceeded the {} ms wall-clock limit", res.wall_ms),
        );
    }
    if let Some(sig) = status.signal() {
        return match sig {
            libc::SIGSYS => fail(
                Reason::SandboxViolation,
                "worker attempted a forbidden system call (SIGSYS)".into(),
            ),
            libc::SIGXCPU => fail(
                Reason::TimeLimit,
                format!("worker exceeded {} s of CPU", res.cpu_seconds),
            ),
            // SIGKILL without our own watchdog firing: most likely the kernel's (or the
            // Lambda sandbox's) OOM killer; the CPU hard limit (one second past the soft one)
            // and an operator's kill end the same way, and the message says so.
            libc::SIGKILL => fail(
                Reason::MemoryLimit,
                "worker was killed by SIGKILL (most likely out of memory; also the CPU hard \
                 limit or an external kill)"
                    .into(),
            ),
            libc::SIGABRT if stderr.contains("memory allocation of") => fail(
                Reason::MemoryLimit,
                format!(
                    "worker exceeded its {} MiB address space",
                    res.address_space_bytes / (1024 * 1024)
                ),
            ),
            _ => fail(
                Reason::DecoderCrash,
                format!("worker died from signal {sig}: {}", first_line(stderr)),
            ),
        };
    }
    match (status.code(), response) {
        (Some(0), Ok((meta, body))) => (into_output(meta.result, body), meta.layers),
        (Some(EXIT_SETUP_REFUSED), Ok((meta, _))) => {
            (meta.result.map(|_| unreachable_output()), meta.layers)
        }
        (Some(101), _) => fail(
            Reason::DecoderCrash,
            format!("worker panicked: {}", first_line(stderr)),
        ),
        (code, Err(e)) => fail(
            Reason::ProtocolError,
            format!("worker exited with {code:?} without a valid response: {e}"),
        ),
        (code, Ok(_)) => fail(
            Reason::ProtocolError,
            format!("worker exited with {code:?}"),
        ),
    }
}

/// A refusal frame never carries an output; keep the types total without a panic.
fn unreachable_output() -> Output {
    Output {
        header: crate::core::probe::Header {
            format: crate::core::Format::Png,
            width: 0,
            height: 0,
            frames: 0,
            jpeg: None,
            lossy: false,
        },
        op: crate::core::Op::Fit,
        format: crate::core::Format::Png,
        width: 0,
        height: 0,
        bytes: Vec::new(),
    }
}

/// Rebuilds the output and checks it is what the worker claims (the worker is not trusted
/// either: its bytes must at least be of the declared format).
fn into_output(
    result: Result<super::protocol::OutputMeta, Rejection>,
    body: Vec<u8>,
) -> Result<Output, Rejection> {
    let m = result?;
    if sniff(&body).ok() != Some(m.format) || m.format != m.header.format {
        return Err(Rejection::new(
            Reason::ProtocolError,
            "worker output is not of the declared format",
        ));
    }
    Ok(Output {
        header: m.header,
        op: m.op,
        format: m.format,
        width: m.width,
        height: m.height,
        bytes: body,
    })
}

/// A 2×2 PNG made by our own encoder, for the self-test.
fn tiny_png() -> Vec<u8> {
    let px = crate::core::pixels::Pixels {
        width: 2,
        height: 2,
        layout: crate::core::pixels::Layout::Rgb,
        data: vec![128; 12],
    };
    crate::core::encode::encode(&px, crate::core::Format::Png, false).unwrap_or_default()
}
