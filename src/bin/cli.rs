//! `image-processor`: the pipeline on local files.
//!
//! Exit codes: 0 all inputs processed; 1 at least one input rejected; 2 usage or I/O error.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand, ValueEnum};
use image_processor::core::probe::{check, read_header};
use image_processor::core::record::{Record, Status};
use image_processor::core::{format::sniff, naming, Job, Limits, Op, Reason, Rejection};
use image_processor::local;
use image_processor::runner::Runner;
use image_processor::sandbox::{Sandbox, SandboxMode};

#[derive(Parser)]
#[command(
    name = "image-processor",
    version,
    about = "Turn untrusted JPEG/PNG/WebP files into safe, resized images"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum OpArg {
    Fit,
    Thumb,
    Grayscale,
}

impl From<OpArg> for Op {
    fn from(o: OpArg) -> Op {
        match o {
            OpArg::Fit => Op::Fit,
            OpArg::Thumb => Op::Thumb,
            OpArg::Grayscale => Op::Grayscale,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum SandboxArg {
    Strict,
    BestEffort,
    Off,
}

#[derive(Subcommand)]
enum Command {
    /// Process files: one JSON record per input on stdout.
    Process {
        /// Input files (JPEG, PNG or WebP, told by their bytes, not their names).
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Directory for the outputs (each keeps its input's file name).
        #[arg(long, conflicts_with = "output", required_unless_present = "output")]
        out_dir: Option<PathBuf>,
        /// Output file (only with a single input).
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
        /// Operation for every input, instead of the one the file name asks for
        /// (`name_thumb.ext` → thumb, `name_grayscale.ext` → grayscale, else fit).
        #[arg(long, value_enum)]
        op: Option<OpArg>,
        /// Isolation of the decoder: `strict` refuses to run unless every sandbox layer can be
        /// installed; `best-effort` runs with the layers the platform allows; `off` decodes in
        /// this process (for debugging and profiling only).
        #[arg(long, value_enum, default_value = "strict")]
        sandbox: SandboxArg,
    },
    /// Read only the headers: format, dimensions, frames and the verdict of the checks made
    /// before decoding, without decoding any pixel (for incident responders looking at
    /// suspicious uploads). `accept` means the headers pass; the decoder can still reject a
    /// file whose data is broken (`process` tells).
    Probe {
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    // When started as the sandbox worker, this runs the worker and never returns.
    image_processor::sandbox::run_worker_if_requested();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let result = match cli.command {
        Command::Process {
            inputs,
            out_dir,
            output,
            op,
            sandbox,
        } => make_runner(sandbox).and_then(|runner| {
            process(
                &runner,
                &inputs,
                out_dir.as_deref(),
                output.as_deref(),
                op.map(Op::from),
            )
        }),
        Command::Probe { inputs } => probe(&inputs),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("image-processor: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn print_json(v: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, v)?;
    out.write_all(b"\n")?;
    Ok(())
}

fn display(p: &Path) -> String {
    p.display().to_string()
}

/// Builds the runner and, for the sandboxed modes, checks once which layers this machine
/// allows (strict mode stops here if any is missing).
fn make_runner(arg: SandboxArg) -> anyhow::Result<Runner> {
    let limits = Limits::default();
    let mode = match arg {
        SandboxArg::Off => return Ok(Runner::in_process(limits)),
        SandboxArg::Strict => SandboxMode::Strict,
        SandboxArg::BestEffort => SandboxMode::BestEffort,
    };
    let sandbox = Sandbox::current_exe(mode).map_err(|e| anyhow::anyhow!("{e}"))?;
    sandbox.self_test().map_err(|e| {
        anyhow::anyhow!(
            "the sandbox is unavailable here ({e}); --sandbox best-effort runs with the layers this platform allows"
        )
    })?;
    Ok(Runner::sandboxed(limits, sandbox))
}

fn process(
    runner: &Runner,
    inputs: &[PathBuf],
    out_dir: Option<&Path>,
    output: Option<&Path>,
    op: Option<Op>,
) -> anyhow::Result<ExitCode> {
    if output.is_some() && inputs.len() != 1 {
        anyhow::bail!("-o/--output takes exactly one input; use --out-dir for several");
    }
    if let Some(dir) = out_dir {
        if let Err(e) = std::fs::create_dir_all(dir) {
            // Nothing can be written: every input still gets its record.
            for input in inputs {
                let name = input
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let op = op.unwrap_or_else(|| naming::op_for_name(&name));
                report(&Record::failed(
                    &display(input),
                    op,
                    Reason::DependencyFailure,
                    format!("cannot create the output directory {}: {e}", display(dir)),
                ))?;
            }
            return Ok(ExitCode::from(2));
        }
    }
    let limits = runner.limits().clone();
    let progress = inputs.len() > 3 && std::io::stderr().is_terminal();
    // Every input of this run by device and inode (whatever path, link or mount names it), so
    // that no output can land on any of them, not only on its own input; and the outputs
    // already written in this run, by identity and by directory entry, so that two inputs with
    // the same file name (or names a case-insensitive filesystem folds together) cannot
    // overwrite each other's output.
    let input_ids: HashMap<local::FileId, usize> = inputs
        .iter()
        .enumerate()
        .filter_map(|(i, p)| local::file_id(p).ok().flatten().map(|id| (id, i)))
        .collect();
    let mut written = Written::default();
    let mut any_rejected = false;
    let mut io_error = false;
    for (i, input) in inputs.iter().enumerate() {
        if progress {
            eprint!(
                "\r\x1b[2K[{}/{}] {}",
                i.saturating_add(1),
                inputs.len(),
                shown(input)
            );
        }
        let name = input
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let job = Job {
            op: op.unwrap_or_else(|| naming::op_for_name(&name)),
        };
        let fail = |reason: Reason, message: String| {
            Record::failed(&display(input), job.op, reason, message)
        };
        let dest = match (output, out_dir, input.file_name()) {
            (Some(o), _, _) => o.to_path_buf(),
            (None, Some(d), Some(n)) => d.join(n),
            (None, Some(_), None) => {
                io_error = true;
                let rec = fail(
                    Reason::InvalidKey,
                    format!("{} has no file name to give its output", display(input)),
                );
                report(&rec)?;
                continue;
            }
            (None, None, _) => anyhow::bail!("give --out-dir DIR or -o FILE"),
        };
        let started = Instant::now();
        let mut record = if let Some((reason, why)) =
            output_conflict(&dest, inputs, &input_ids, &written, output.is_some())
        {
            io_error = true;
            fail(reason, why)
        } else {
            match local::read_bounded(input, limits.max_input_bytes) {
                Err(e) => {
                    io_error = true;
                    fail(
                        Reason::DependencyFailure,
                        format!("cannot read {}: {e}", display(input)),
                    )
                }
                Ok(file) => {
                    let run = runner.run(&file.bytes, &job);
                    let mut rec = match run.result {
                        Ok(out) => match local::write_atomic(&dest, &out.bytes, file.mode) {
                            Ok(()) => {
                                if let Ok(Some(id)) = local::file_id(&dest) {
                                    written.files.insert(id, i);
                                }
                                if let Ok(entry) = local::entry_id(&dest) {
                                    written.entries.insert(entry, i);
                                }
                                Record::processed(
                                    &display(input),
                                    &file.bytes,
                                    &out,
                                    Some(display(&dest)),
                                )
                            }
                            Err(e) => {
                                io_error = true;
                                fail(
                                    Reason::DependencyFailure,
                                    format!("cannot write {}: {e}", display(&dest)),
                                )
                            }
                        },
                        Err(rej) => {
                            any_rejected = true;
                            let header = header_for_record(&file.bytes, &limits);
                            let mut rec = Record::rejected(
                                &display(input),
                                &file.bytes,
                                job.op,
                                &rej,
                                header.as_ref(),
                            );
                            if rej.reason == Reason::TooLargeFile {
                                // Only limit + 1 bytes were read; the size on disk says more.
                                rec.bytes = rec.bytes.max(file.stated_len);
                            }
                            rec
                        }
                    };
                    rec.sandbox = run.layers;
                    rec
                }
            }
        };
        record.duration_ms = (started.elapsed().as_secs_f64() * 1e6).round() / 1e3;
        report(&record)?;
    }
    if progress {
        eprintln!();
    }
    Ok(if io_error {
        ExitCode::from(2)
    } else if any_rejected {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Prints a record; a record that could not be handled is also said on stderr.
fn report(record: &Record) -> anyhow::Result<()> {
    if record.status == Status::Failed {
        eprintln!("image-processor: {}", record.message.escape_debug());
    }
    print_json(record)
}

/// The outputs written so far in this run: by file identity and by directory entry.
#[derive(Default)]
struct Written {
    files: HashMap<local::FileId, usize>,
    entries: HashMap<(local::FileId, std::ffi::OsString), usize>,
}

/// Why the output `dest` must not be written, if it must not: the file at `dest` (through any
/// path, symlink, hard link or mount) is one of this run's inputs or an output already
/// written in this run, or an earlier input wrote its output under the same directory entry.
/// When `dest` cannot be checked (its directory is missing or unreadable), it is refused: the
/// check fails closed. A conflict is `invalid-key` (the name is not safe here); a check that
/// could not run is `dependency-failure`, as any output that cannot be written.
fn output_conflict(
    dest: &Path,
    inputs: &[PathBuf],
    input_ids: &HashMap<local::FileId, usize>,
    written: &Written,
    single: bool,
) -> Option<(Reason, String)> {
    let hint = if single {
        "choose another -o FILE"
    } else {
        "choose another --out-dir"
    };
    let name = |k: usize| inputs.get(k).map(|p| display(p)).unwrap_or_default();
    let earlier = |k: usize| {
        format!(
            "the output {} was already written for {} in this run (two inputs with the same file name); \
             process them into different --out-dir folders",
            display(dest),
            name(k)
        )
    };
    match local::file_id(dest) {
        Ok(Some(id)) => {
            if let Some(j) = input_ids.get(&id) {
                return Some((
                    Reason::InvalidKey,
                    format!(
                        "the output {} would overwrite the input {}; {hint}",
                        display(dest),
                        name(*j)
                    ),
                ));
            }
            if let Some(k) = written.files.get(&id) {
                return Some((Reason::InvalidKey, earlier(*k)));
            }
        }
        Ok(None) => {}
        Err(e) => {
            return Some((
                Reason::DependencyFailure,
                format!(
                    "cannot check that the output {} is not an input ({e}); {hint}",
                    display(dest)
                ),
            ))
        }
    }
    match local::entry_id(dest) {
        Ok(entry) => written
            .entries
            .get(&entry)
            .map(|k| (Reason::InvalidKey, earlier(*k))),
        Err(e) => Some((
            Reason::DependencyFailure,
            format!(
                "cannot check the output directory of {} ({e}); {hint}",
                display(dest)
            ),
        )),
    }
}

/// A path for a message on stderr, with control characters escaped (a file name must not
/// be able to drive the terminal).
fn shown(p: &Path) -> String {
    p.display().to_string().escape_debug().to_string()
}

/// What the header says, for the record of a rejected input (best effort; never decodes).
fn header_for_record(
    bytes: &[u8],
    limits: &Limits,
) -> Option<image_processor::core::probe::Header> {
    let format = sniff(bytes).ok()?;
    read_header(bytes, format, limits).ok()
}

#[derive(serde::Serialize)]
struct ProbeReport {
    input: String,
    /// `accept`: the file passes every check made before decoding (size, magic bytes, header
    /// dimensions and frames, JPEG coding process); the decoder can still reject it as
    /// `corrupt` (truncated data, say). `reject`: the pipeline rejects it without decoding.
    /// `error`: the file could not be read.
    verdict: &'static str,
    /// What the verdict is based on: always `headers` (probe never decodes a pixel).
    checked: &'static str,
    reason: Option<&'static str>,
    message: Option<String>,
    /// The size of the file (for a file over the limit, as the filesystem states it: only the
    /// limit + 1 bytes are read).
    bytes: u64,
    format: Option<&'static str>,
    width: Option<u32>,
    height: Option<u32>,
    frames: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jpeg: Option<image_processor::core::probe::JpegHeader>,
    /// SHA-256 of the file; `null` for a file over the limit (only its first limit + 1 bytes
    /// are read, and their hash would match nothing: use `sha256sum` on the file).
    sha256: Option<String>,
}

fn probe(inputs: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let limits = Limits::default();
    let mut any_rejected = false;
    let mut io_error = false;
    for input in inputs {
        let file = match local::read_bounded(input, limits.max_input_bytes) {
            Ok(f) => f,
            Err(e) => {
                let message = format!("cannot read {}: {e}", display(input));
                eprintln!("image-processor: {}", message.escape_debug());
                io_error = true;
                print_json(&ProbeReport {
                    input: display(input),
                    verdict: "error",
                    checked: "headers",
                    reason: Some(Reason::DependencyFailure.code()),
                    message: Some(message),
                    bytes: 0,
                    format: None,
                    width: None,
                    height: None,
                    frames: None,
                    jpeg: None,
                    sha256: None,
                })?;
                continue;
            }
        };
        let bytes = &file.bytes;
        let header = header_for_record(bytes, &limits);
        let verdict: Result<(), Rejection> =
            image_processor::core::pipeline::check_size(bytes, &limits)
                .and_then(|()| sniff(bytes))
                .and_then(|f| read_header(bytes, f, &limits))
                .and_then(|h| check(&h, &limits));
        any_rejected |= verdict.is_err();
        let too_large = bytes.len() > limits.max_input_bytes;
        let report = ProbeReport {
            input: display(input),
            verdict: if verdict.is_ok() { "accept" } else { "reject" },
            checked: "headers",
            reason: verdict.as_ref().err().map(|r| r.reason.code()),
            message: verdict.err().map(|r| r.message),
            bytes: if too_large {
                file.stated_len.max(bytes.len() as u64)
            } else {
                bytes.len() as u64
            },
            format: header.as_ref().map(|h| h.format.name()),
            width: header.as_ref().map(|h| h.width),
            height: header.as_ref().map(|h| h.height),
            frames: header.as_ref().map(|h| h.frames),
            jpeg: header.as_ref().and_then(|h| h.jpeg.clone()),
            sha256: (!too_large).then(|| image_processor::core::record::sha256_hex(bytes)),
        };
        print_json(&report)?;
    }
    Ok(if io_error {
        ExitCode::from(2)
    } else if any_rejected {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
