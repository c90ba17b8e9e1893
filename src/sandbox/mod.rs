//! Sandboxed decoding: decode + orient + transform + encode run in a child process that can
//! do nothing but compute.
//!
//! Layers, in the order the worker installs them before it reads any input:
//! a separate process (the same binary re-executed, never a fork of a threaded parent), a
//! cleared environment (no AWS credentials), no inherited descriptors beyond its three pipes,
//! Landlock (no filesystem or TCP access, where the kernel has it), rlimits (address space,
//! CPU seconds, no file writes, no new descriptors, no new processes, no core dumps),
//! `no_new_privs`, and a seccomp-bpf allow-list ([`policy::ALLOWED`]) that kills the worker on
//! any other system call. The parent adds a wall-clock timeout and bounded framing.
//!
//! [`SandboxMode::Strict`] refuses to process when a layer cannot be installed;
//! [`SandboxMode::BestEffort`] processes with what the platform allows (AWS Lambda refuses a
//! nested seccomp filter) and records the active layers with every result.

pub mod parent;
pub mod policy;
pub mod protocol;
pub mod worker;

pub use parent::Sandbox;
pub use policy::ResourceLimits;
pub use protocol::SandboxMode;
pub use worker::run_worker_if_requested;
