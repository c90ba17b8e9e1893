//! How an entry point runs the pipeline: in this process, or in the sandboxed worker.
//!
//! The CLI and the Lambda hold one [`Runner`] and call [`Runner::run`] per input; what they
//! get back is the same either way, plus the list of isolation layers that were active.

use crate::core::{Job, Limits, Output, Rejection};

/// Runs the pipeline for one input.
#[derive(Debug, Clone)]
pub struct Runner {
    limits: Limits,
    mode: Mode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// In this process (tests, fuzzing, `--no-sandbox`).
    InProcess,
}

/// The result of one run: the pipeline's result and the sandbox layers that were active.
#[derive(Debug)]
pub struct RunResult {
    pub result: Result<Output, Rejection>,
    pub layers: Vec<String>,
}

impl Runner {
    pub fn in_process(limits: Limits) -> Runner {
        Runner { limits, mode: Mode::InProcess }
    }
    pub fn limits(&self) -> &Limits {
        &self.limits
    }
    pub fn mode(&self) -> Mode {
        self.mode
    }
    pub fn run(&self, input: &[u8], job: &Job) -> RunResult {
        match self.mode {
            Mode::InProcess => RunResult { result: crate::core::process(input, job, &self.limits), layers: Vec::new() },
        }
    }
}
