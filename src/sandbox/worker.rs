//! The worker side: install every isolation layer, then read the request, run the pipeline,
//! write the response, exit. It is the same binary as the parent, re-executed with
//! [`WORKER_ARG`] (no fork of a possibly multi-threaded parent).

use std::collections::BTreeMap;
use std::io::Write;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule,
};

use crate::core::error::{Reason, Rejection};
use crate::core::Job;

use super::policy::{Constraint, ResourceLimits, ALLOWED};
use super::protocol::{read_request, write_response, OutputMeta, ResponseMeta, SandboxMode};

/// The hidden first argument that turns the binary into a worker.
pub const WORKER_ARG: &str = "__image-processor-sandbox-worker";

/// Exit code of a worker that refused to run (strict mode with a layer missing, bad argv).
pub const EXIT_SETUP_REFUSED: i32 = 3;

/// Call first in `main` of every binary that runs the sandbox: when the process was started
/// as a worker, this runs the worker and exits; otherwise it returns at once.
pub fn run_worker_if_requested() {
    if std::env::args_os().nth(1).is_some_and(|a| a == WORKER_ARG) {
        std::process::exit(worker_main());
    }
}

/// Names of the layers, as recorded.
pub mod layer {
    pub const PROCESS: &str = "process";
    pub const ENV_CLEARED: &str = "env-cleared";
    pub const FDS_CLOSED: &str = "fds-closed";
    pub const RLIMITS: &str = "rlimits";
    pub const NO_NEW_PRIVS: &str = "no-new-privs";
    pub const SECCOMP: &str = "seccomp";
    pub const LANDLOCK: &str = "landlock";
}

fn parse_args() -> Option<(SandboxMode, ResourceLimits)> {
    let args: Vec<String> = std::env::args().skip(2).collect();
    let mode = match args.first()?.as_str() {
        "strict" => SandboxMode::Strict,
        "best-effort" => SandboxMode::BestEffort,
        _ => return None,
    };
    let address_space_bytes = args.get(1)?.parse().ok()?;
    let cpu_seconds = args.get(2)?.parse().ok()?;
    Some((
        mode,
        ResourceLimits {
            address_space_bytes,
            cpu_seconds,
            wall_ms: 0,
        },
    ))
}

fn refuse(layers: Vec<String>, message: String) -> i32 {
    let meta = ResponseMeta {
        layers,
        result: Err(Rejection::new(Reason::Internal, message)),
    };
    let _ = write_response(&mut std::io::stdout().lock(), &meta, &[]);
    EXIT_SETUP_REFUSED
}

fn worker_main() -> i32 {
    let Some((mode, resources)) = parse_args() else {
        return refuse(Vec::new(), "worker started with malformed arguments".into());
    };
    let (layers, missing) = install_layers(&resources);
    if mode == SandboxMode::Strict && !missing.is_empty() {
        return refuse(
            layers,
            format!("strict sandbox: layers unavailable: {}", missing.join("; ")),
        );
    }
    // Only now is the input read: everything it can make the decoder do happens inside the
    // layers installed above.
    let max_input = u64::try_from(crate::core::limits::MAX_INPUT_BYTES)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    let (req, input) = match read_request(&mut std::io::stdin().lock(), max_input) {
        Ok(r) => r,
        Err(e) => return refuse(layers, format!("bad request frame: {e}")),
    };
    #[cfg(feature = "sandbox-test-hooks")]
    if let Some(action) = req.test_action {
        test_hooks::run(action);
    }
    let result = crate::core::process(&input, &Job { op: req.op }, &req.limits);
    let (meta, body) = match result {
        Ok(out) => (
            ResponseMeta {
                layers,
                result: Ok(OutputMeta {
                    header: out.header,
                    op: out.op,
                    format: out.format,
                    width: out.width,
                    height: out.height,
                }),
            },
            out.bytes,
        ),
        Err(rej) => (
            ResponseMeta {
                layers,
                result: Err(rej),
            },
            Vec::new(),
        ),
    };
    let mut stdout = std::io::stdout().lock();
    match write_response(&mut stdout, &meta, &body).and_then(|()| stdout.flush()) {
        Ok(()) => 0,
        Err(_) => 4,
    }
}

/// Installs every layer it can, in an order where each step still has what it needs (the
/// Landlock ruleset needs a new descriptor, so it comes before RLIMIT_NOFILE; seccomp last).
/// Returns the installed layers and a description of each missing one.
fn install_layers(res: &ResourceLimits) -> (Vec<String>, Vec<String>) {
    let mut on = vec![layer::PROCESS.to_string()];
    let mut missing = Vec::new();
    let mut step = |name: &str, r: Result<(), String>| match r {
        Ok(()) => on.push(name.to_string()),
        Err(e) => missing.push(format!("{name}: {e}")),
    };
    step(
        layer::ENV_CLEARED,
        if std::env::vars_os().next().is_none() {
            Ok(())
        } else {
            Err("environment not empty".into())
        },
    );
    step(layer::FDS_CLOSED, close_inherited_fds());
    step(layer::LANDLOCK, landlock());
    step(layer::RLIMITS, rlimits(res));
    step(
        layer::NO_NEW_PRIVS,
        nix::sys::prctl::set_no_new_privs().map_err(|e| e.to_string()),
    );
    step(layer::SECCOMP, seccomp());
    (on, missing)
}

/// Closes every descriptor above stderr. std opens everything close-on-exec, but a parent
/// embedded in another runtime may have leaked descriptors into us; they must not survive.
fn close_inherited_fds() -> Result<(), String> {
    let fds: Vec<i32> = match std::fs::read_dir("/proc/self/fd") {
        Ok(dir) => dir
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect(),
        Err(_) => (3..1024).collect(),
    };
    for fd in fds.into_iter().filter(|&fd| fd > 2) {
        // EBADF for the directory's own (already closed) descriptor is expected.
        let _ = nix::unistd::close(fd);
    }
    let left: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok()?.file_name().to_str().map(str::to_owned))
        .filter(|n| n.parse::<i32>().is_ok_and(|fd| fd > 3))
        .collect();
    // fd 3 is the read_dir handle itself during this listing.
    if left.is_empty() {
        Ok(())
    } else {
        Err(format!("descriptors still open: {}", left.join(",")))
    }
}

fn landlock() -> Result<(), String> {
    use landlock::{Access, AccessFs, AccessNet, Ruleset, RulesetAttr, RulesetStatus, ABI};
    let abi = ABI::V4;
    let status = Ruleset::default()
        .handle_access(AccessFs::from_all(abi))
        .and_then(|r| r.handle_access(AccessNet::from_all(abi)))
        .and_then(|r| r.create())
        .and_then(|r| r.restrict_self())
        .map_err(|e| e.to_string())?;
    match status.ruleset {
        RulesetStatus::FullyEnforced | RulesetStatus::PartiallyEnforced => Ok(()),
        RulesetStatus::NotEnforced => Err("kernel does not enforce Landlock".into()),
    }
}

fn rlimits(res: &ResourceLimits) -> Result<(), String> {
    use rlimit::{setrlimit, Resource};
    let set = |r: Resource, soft: u64, hard: u64, what: &str| {
        setrlimit(r, soft, hard).map_err(|e| format!("{what}: {e}"))
    };
    set(
        Resource::AS,
        res.address_space_bytes,
        res.address_space_bytes,
        "RLIMIT_AS",
    )?;
    set(
        Resource::CPU,
        res.cpu_seconds,
        res.cpu_seconds.saturating_add(1),
        "RLIMIT_CPU",
    )?;
    set(Resource::FSIZE, 0, 0, "RLIMIT_FSIZE")?;
    set(Resource::CORE, 0, 0, "RLIMIT_CORE")?;
    set(Resource::NPROC, 0, 0, "RLIMIT_NPROC")?;
    // The three standard descriptors are all the worker will ever have.
    set(Resource::NOFILE, 3, 3, "RLIMIT_NOFILE")?;
    Ok(())
}

/// Builds the BPF program from [`ALLOWED`]: anything else kills the process with SIGSYS.
pub fn build_filter() -> Result<BpfProgram, String> {
    let pid = u64::from(std::process::id());
    let prot_exec = u64::try_from(libc::PROT_EXEC).map_err(|e| e.to_string())?;
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for a in ALLOWED {
        let rule = match a.constraint {
            Constraint::Any => Vec::new(),
            Constraint::NoExecProt => vec![SeccompRule::new(vec![SeccompCondition::new(
                2,
                SeccompCmpArgLen::Dword,
                SeccompCmpOp::MaskedEq(prot_exec),
                0,
            )
            .map_err(|e| e.to_string())?])
            .map_err(|e| e.to_string())?],
            Constraint::OwnPid => vec![SeccompRule::new(vec![SeccompCondition::new(
                0,
                SeccompCmpArgLen::Dword,
                SeccompCmpOp::Eq,
                pid,
            )
            .map_err(|e| e.to_string())?])
            .map_err(|e| e.to_string())?],
        };
        rules.insert(a.nr, rule);
    }
    let arch = std::env::consts::ARCH
        .try_into()
        .map_err(|e: seccompiler::BackendError| e.to_string())?;
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::KillProcess,
        SeccompAction::Allow,
        arch,
    )
    .map_err(|e| e.to_string())?;
    filter
        .try_into()
        .map_err(|e: seccompiler::BackendError| e.to_string())
}

fn seccomp() -> Result<(), String> {
    let prog = build_filter()?;
    seccompiler::apply_filter(&prog).map_err(|e| e.to_string())
}

#[cfg(feature = "sandbox-test-hooks")]
mod test_hooks {
    use super::super::protocol::TestAction;
    use std::io::Write;

    /// Misbehaves on purpose; each arm must end with the worker killed or exiting.
    pub fn run(action: TestAction) {
        match action {
            TestAction::OpenFile => {
                let _ = std::fs::File::open("/etc/hostname");
            }
            TestAction::OpenSocket => {
                let _ = std::net::UdpSocket::bind("127.0.0.1:0");
            }
            TestAction::SpawnProcess => {
                let _ = std::process::Command::new("/bin/true").status();
            }
            TestAction::AllocateTooMuch => {
                let v = vec![1u8; 2 * 1024 * 1024 * 1024];
                std::hint::black_box(&v);
            }
            TestAction::Spin => {
                let mut x: u64 = 0;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            TestAction::Panic => {
                // Outside the pipeline's catch_unwind, as a decoder bug in a thread would be.
                #[allow(clippy::panic, reason = "the test hook's whole purpose is to panic")]
                std::panic::panic_any("test hook panic");
            }
            TestAction::Abort => std::process::abort(),
            TestAction::BadResponse => {
                let _ = std::io::stdout().write_all(b"not a frame");
                let _ = std::io::stdout().flush();
                std::process::exit(0);
            }
        }
        // An action that did not end the process: the layer did not hold.
        std::process::exit(42);
    }
}
