//! The sandbox policy as data: the syscalls the worker may make (each with the reason it is
//! needed) and its resource limits. Everything not listed kills the worker with SIGSYS.
//!
//! The list is what the pipeline needs after its input is read: reading its request pipe,
//! writing its response pipe, managing memory, and dying (normally or by abort). It has no
//! `open`, `socket`, `connect`, `clone`, `fork`, `execve`, `ptrace` or `kill`: a decoder bug
//! that tries to reach a file, the network or another process is stopped at the kernel.

/// How an allowed syscall is constrained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Constraint {
    /// Allowed with any arguments.
    Any,
    /// Allowed only when the `prot` argument (index 2) has no `PROT_EXEC` bit: the worker may
    /// map memory but never make it executable.
    NoExecProt,
    /// Allowed only when the first argument is the worker's own pid (`tgkill` for `abort`).
    OwnPid,
}

/// One allowed syscall.
#[derive(Debug, Clone, Copy)]
pub struct Allowed {
    pub name: &'static str,
    pub nr: i64,
    pub constraint: Constraint,
    pub why: &'static str,
}

macro_rules! allow {
    ($name:ident, $c:expr, $why:literal) => {
        Allowed {
            name: stringify!($name),
            nr: paste_nr!($name),
            constraint: $c,
            why: $why,
        }
    };
}

macro_rules! paste_nr {
    (read) => {
        libc::SYS_read
    };
    (write) => {
        libc::SYS_write
    };
    (mmap) => {
        libc::SYS_mmap
    };
    (munmap) => {
        libc::SYS_munmap
    };
    (mremap) => {
        libc::SYS_mremap
    };
    (mprotect) => {
        libc::SYS_mprotect
    };
    (brk) => {
        libc::SYS_brk
    };
    (madvise) => {
        libc::SYS_madvise
    };
    (futex) => {
        libc::SYS_futex
    };
    (rt_sigreturn) => {
        libc::SYS_rt_sigreturn
    };
    (rt_sigprocmask) => {
        libc::SYS_rt_sigprocmask
    };
    (rt_sigaction) => {
        libc::SYS_rt_sigaction
    };
    (sigaltstack) => {
        libc::SYS_sigaltstack
    };
    (getpid) => {
        libc::SYS_getpid
    };
    (gettid) => {
        libc::SYS_gettid
    };
    (tgkill) => {
        libc::SYS_tgkill
    };
    (getrandom) => {
        libc::SYS_getrandom
    };
    (clock_gettime) => {
        libc::SYS_clock_gettime
    };
    (sched_yield) => {
        libc::SYS_sched_yield
    };
    (exit) => {
        libc::SYS_exit
    };
    (exit_group) => {
        libc::SYS_exit_group
    };
}

/// The allow-list. Kept short on purpose; every entry says why it is there.
pub const ALLOWED: &[Allowed] = &[
    allow!(
        read,
        Constraint::Any,
        "read the request (job + input bytes) from the stdin pipe"
    ),
    allow!(
        write,
        Constraint::Any,
        "write the response to the stdout pipe, panic text to the stderr pipe"
    ),
    allow!(
        mmap,
        Constraint::NoExecProt,
        "allocator: large buffers (pixels, input, output); never executable"
    ),
    allow!(munmap, Constraint::Any, "allocator: free large buffers"),
    allow!(
        mremap,
        Constraint::Any,
        "allocator: grow large buffers (Vec reallocation)"
    ),
    allow!(
        mprotect,
        Constraint::NoExecProt,
        "allocator: glibc arena setup; never executable"
    ),
    allow!(
        brk,
        Constraint::Any,
        "allocator: small allocations on the heap"
    ),
    allow!(
        madvise,
        Constraint::Any,
        "allocator: return freed pages (MADV_DONTNEED)"
    ),
    allow!(
        futex,
        Constraint::Any,
        "std's locks around stdout/stderr and once-cells"
    ),
    allow!(
        rt_sigreturn,
        Constraint::Any,
        "return from the stack-overflow signal handler"
    ),
    allow!(
        rt_sigprocmask,
        Constraint::Any,
        "abort() blocks signals before raising SIGABRT"
    ),
    allow!(
        rt_sigaction,
        Constraint::Any,
        "abort() resets the SIGABRT disposition"
    ),
    allow!(
        sigaltstack,
        Constraint::Any,
        "std's stack-overflow guard (alternate signal stack)"
    ),
    allow!(
        getpid,
        Constraint::Any,
        "abort() finds its own pid to signal itself"
    ),
    allow!(
        gettid,
        Constraint::Any,
        "abort() finds its own thread to signal itself"
    ),
    allow!(
        tgkill,
        Constraint::OwnPid,
        "abort() raises SIGABRT on itself (own pid only)"
    ),
    allow!(
        getrandom,
        Constraint::Any,
        "hash-map seeds; reads no file and no device"
    ),
    allow!(
        clock_gettime,
        Constraint::Any,
        "time queries when the vDSO is unavailable"
    ),
    allow!(
        sched_yield,
        Constraint::Any,
        "spin-lock back-off in std and the allocator"
    ),
    allow!(exit, Constraint::Any, "thread exit"),
    allow!(exit_group, Constraint::Any, "process exit"),
];

/// The worker's resource limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ResourceLimits {
    /// RLIMIT_AS, bytes of address space. Measured need for the heaviest legitimate input we
    /// know (a 4096×4096 progressive CMYK JPEG, whose decoder keeps every DCT coefficient):
    /// 207 MiB peak RSS, and it runs under this limit; the 4096×4096 PNG and baseline JPEG
    /// peak below 80 MiB. The default leaves about 2x margin over the worst case, so only a
    /// runaway allocation reaches it.
    pub address_space_bytes: u64,
    /// RLIMIT_CPU soft limit, seconds (SIGXCPU); the hard limit is one second more (SIGKILL).
    pub cpu_seconds: u64,
    /// Wall-clock limit enforced by the parent, milliseconds.
    pub wall_ms: u64,
}

/// 512 MiB of address space: see [`ResourceLimits::address_space_bytes`].
pub const DEFAULT_ADDRESS_SPACE_BYTES: u64 = 512 * 1024 * 1024;
/// 20 CPU seconds: the slowest legitimate input we know (the 4096×4096 progressive CMYK JPEG,
/// grayscale op) takes 3.7 s on one core here; 20 s leaves room for a slower Lambda core.
pub const DEFAULT_CPU_SECONDS: u64 = 20;
/// 30 s wall clock: CPU time plus scheduling slack on a loaded 2-core machine.
pub const DEFAULT_WALL_MS: u64 = 30_000;

impl Default for ResourceLimits {
    fn default() -> Self {
        ResourceLimits {
            address_space_bytes: DEFAULT_ADDRESS_SPACE_BYTES,
            cpu_seconds: DEFAULT_CPU_SECONDS,
            wall_ms: DEFAULT_WALL_MS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list_has_reasons_and_no_dangerous_calls() {
        let names: Vec<_> = ALLOWED.iter().map(|a| a.name).collect();
        for a in ALLOWED {
            assert!(!a.why.is_empty(), "{} has no reason", a.name);
        }
        for bad in [
            "open", "openat", "socket", "connect", "clone", "clone3", "fork", "execve", "kill",
            "ptrace",
        ] {
            assert!(!names.contains(&bad), "{bad} must not be allowed");
        }
        let mut nrs: Vec<_> = ALLOWED.iter().map(|a| a.nr).collect();
        nrs.sort_unstable();
        nrs.dedup();
        assert_eq!(nrs.len(), ALLOWED.len(), "duplicate syscall numbers");
    }
}
