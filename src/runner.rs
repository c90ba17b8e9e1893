//! How an entry point runs the pipeline: in this process, or in the sandboxed worker.
//!
//! The CLI and the Lambda hold one [`Runner`] and call [`Runner::run`] per input; what they
//! get back is the same either way, plus the list of isolation layers that were active.
//! `run` blocks (it waits for a child process): async callers use `spawn_blocking`.

use crate::core::{Job, Limits, Output, Rejection};
use crate::sandbox::Sandbox;

/// Runs the pipeline for one input.
#[derive(Debug, Clone)]
pub struct Runner {
    limits: Limits,
    mode: Mode,
}

#[derive(Debug, Clone)]
pub enum Mode {
    /// In this process (tests, fuzzing, `--sandbox off`).
    InProcess,
    /// In a fresh sandboxed worker process per input (the default).
    Sandboxed(Sandbox),
}

/// The result of one run: the pipeline's result and the sandbox layers that were active.
#[derive(Debug)]
pub struct RunResult {
    pub result: Result<Output, Rejection>,
    pub layers: Vec<String>,
}

impl Runner {
    pub fn in_process(limits: Limits) -> Runner {
        Runner {
            limits,
            mode: Mode::InProcess,
        }
    }
    pub fn sandboxed(limits: Limits, sandbox: Sandbox) -> Runner {
        Runner {
            limits,
            mode: Mode::Sandboxed(sandbox),
        }
    }
    pub fn limits(&self) -> &Limits {
        &self.limits
    }
    pub fn mode(&self) -> &Mode {
        &self.mode
    }
    pub fn run(&self, input: &[u8], job: &Job) -> RunResult {
        self.run_within(input, job, None)
    }

    /// Like [`Runner::run`], with the sandbox's wall-clock limit lowered to `max_wall_ms` when
    /// that is smaller (never raised). The Lambda passes what is left of its invocation, less
    /// what the writes need, so a slow input ends as a recorded `time-limit` rejection rather
    /// than as a function timeout that Lambda would retry and then send to the dead-letter
    /// queue. In-process runs have no watchdog and ignore it.
    pub fn run_within(&self, input: &[u8], job: &Job, max_wall_ms: Option<u64>) -> RunResult {
        match &self.mode {
            Mode::InProcess => RunResult {
                result: crate::core::process(input, job, &self.limits),
                layers: Vec::new(),
            },
            Mode::Sandboxed(sb) => {
                // The size and magic checks are cheap and need no decoder: do them here too, so
                // a 10 MiB+1 upload never even reaches a worker.
                if let Err(r) = crate::core::pipeline::check_size(input, &self.limits) {
                    return RunResult {
                        result: Err(r),
                        layers: Vec::new(),
                    };
                }
                let (result, layers) = match max_wall_ms {
                    Some(ms) if ms < sb.resources().wall_ms => {
                        sb.with_wall_ms(ms).run(input, job, &self.limits)
                    }
                    _ => sb.run(input, job, &self.limits),
                };
                RunResult { result, layers }
            }
        }
    }
}
