//! `image-processor`: the pipeline on local files.
//!
//! Exit codes: 0 all inputs processed; 1 at least one input rejected; 2 usage or I/O error.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand, ValueEnum};
use image_processor::core::probe::{check, read_header};
use image_processor::core::record::Record;
use image_processor::core::{format::sniff, naming, Job, Limits, Op, Rejection};
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
    /// Read only the headers: format, dimensions, frames and the verdict, without decoding
    /// any pixel (for incident responders looking at suspicious uploads).
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
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    }
    let limits = runner.limits().clone();
    let progress = inputs.len() > 3 && std::io::stderr().is_terminal();
    let mut any_rejected = false;
    let mut io_error = false;
    for (i, input) in inputs.iter().enumerate() {
        if progress {
            eprint!(
                "\r\x1b[2K[{}/{}] {}",
                i.saturating_add(1),
                inputs.len(),
                input.display()
            );
        }
        let name = input
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let job = Job {
            op: op.unwrap_or_else(|| naming::op_for_name(&name)),
        };
        let dest = match (output, out_dir) {
            (Some(o), _) => o.to_path_buf(),
            (None, Some(d)) => d.join(&name),
            (None, None) => anyhow::bail!("give --out-dir DIR or -o FILE"),
        };
        if local::same_file(input, &dest) {
            eprintln!("image-processor: {}: the output would overwrite the input; choose another --out-dir", input.display());
            io_error = true;
            continue;
        }
        let started = Instant::now();
        let bytes = match local::read_bounded(input, limits.max_input_bytes) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("image-processor: cannot read {}: {e}", input.display());
                io_error = true;
                continue;
            }
        };
        let run = runner.run(&bytes, &job);
        let mut record = match run.result {
            Ok(out) => {
                if let Err(e) = local::write_atomic(&dest, &out.bytes) {
                    eprintln!("image-processor: cannot write {}: {e}", dest.display());
                    io_error = true;
                    continue;
                }
                Record::processed(&display(input), &bytes, &out, Some(display(&dest)))
            }
            Err(rej) => {
                any_rejected = true;
                let header = header_for_record(&bytes, &limits);
                Record::rejected(&display(input), &bytes, job.op, &rej, header.as_ref())
            }
        };
        record.sandbox = run.layers;
        record.duration_ms = (started.elapsed().as_secs_f64() * 1e6).round() / 1e3;
        print_json(&record)?;
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
    verdict: &'static str,
    reason: Option<&'static str>,
    message: Option<String>,
    bytes: u64,
    format: Option<&'static str>,
    width: Option<u32>,
    height: Option<u32>,
    frames: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jpeg: Option<image_processor::core::probe::JpegHeader>,
    sha256: String,
}

fn probe(inputs: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let limits = Limits::default();
    let mut any_rejected = false;
    let mut io_error = false;
    for input in inputs {
        let bytes = match local::read_bounded(input, limits.max_input_bytes) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("image-processor: cannot read {}: {e}", input.display());
                io_error = true;
                continue;
            }
        };
        let header = header_for_record(&bytes, &limits);
        let verdict: Result<(), Rejection> =
            image_processor::core::pipeline::check_size(&bytes, &limits)
                .and_then(|()| sniff(&bytes))
                .and_then(|f| read_header(&bytes, f, &limits))
                .and_then(|h| check(&h, &limits));
        any_rejected |= verdict.is_err();
        let report = ProbeReport {
            input: display(input),
            verdict: if verdict.is_ok() { "accept" } else { "reject" },
            reason: verdict.as_ref().err().map(|r| r.reason.code()),
            message: verdict.err().map(|r| r.message),
            bytes: bytes.len() as u64,
            format: header.as_ref().map(|h| h.format.name()),
            width: header.as_ref().map(|h| h.width),
            height: header.as_ref().map(|h| h.height),
            frames: header.as_ref().map(|h| h.frames),
            jpeg: header.as_ref().and_then(|h| h.jpeg.clone()),
            sha256: image_processor::core::record::sha256_hex(&bytes),
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
