//! The one path every entry point uses: `process(bytes, job, limits)`.

use std::panic::{catch_unwind, AssertUnwindSafe};

use super::colour;
use super::decode::{decode_with, Hint};
use super::encode::encode;
use super::error::{Reason, Rejection};
use super::format::Format;
use super::limits::Limits;
use super::naming::Op;
use super::orient;
use super::probe::{probe, Header};
use super::transform;

/// What to do with one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Job {
    pub op: Op,
}

/// A processed image: the encoded bytes and the facts a record needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub header: Header,
    pub op: Op,
    pub format: Format,
    pub width: u32,
    pub height: u32,
    pub bytes: Vec<u8>,
}

/// Checks the size, sniffs, probes the header against the limits, then decodes, converts to
/// sRGB, applies the operation and the EXIF orientation, and encodes in the input's format.
///
/// A panic inside a decoder is caught and reported as `decoder-crash` (the sandbox is the wall
/// for what `catch_unwind` cannot catch: aborts, hangs, allocation storms).
pub fn process(input: &[u8], job: &Job, limits: &Limits) -> Result<Output, Rejection> {
    check_size(input, limits)?;
    let header = probe(input, limits)?;
    match catch_unwind(AssertUnwindSafe(|| {
        process_probed(input, &header, job, limits)
    })) {
        Ok(r) => r,
        Err(_) => Err(Rejection::new(
            Reason::DecoderCrash,
            format!("the {} decoder panicked", header.format.name()),
        )),
    }
}

/// The size check alone (callers that read from a stream check as they read, too).
pub fn check_size(input: &[u8], limits: &Limits) -> Result<(), Rejection> {
    if input.len() > limits.max_input_bytes {
        return Err(Rejection::new(
            Reason::TooLargeFile,
            format!(
                "input is larger than the {} bytes allowed",
                limits.max_input_bytes
            ),
        ));
    }
    Ok(())
}

fn process_probed(
    input: &[u8],
    header: &Header,
    job: &Job,
    limits: &Limits,
) -> Result<Output, Rejection> {
    let hint = Hint {
        gray: job.op == Op::Grayscale,
        fit: job.op.fit_box(),
    };
    let decoded = decode_with(input, header, limits, hint)?;
    let orientation = orient::orientation(decoded.exif.as_deref());
    let icc = decoded.icc.as_deref();
    let mut px = match decoded.cmyk {
        Some(kind) => colour::cmyk_to_rgb(decoded.pixels, kind, icc, limits)?,
        None => decoded.pixels,
    };
    let needs_icc = decoded.cmyk.is_none();
    // The fit box is square, so fitting before orienting gives the same size as fitting after:
    // resize (and convert colour) on the stored pixels, then rotate the small result. A
    // decoder that fitted the image as it decoded (see `Hint::fit`) leaves nothing to resize.
    px = match job.op.fit_box() {
        Some(bx) => {
            let (w, h) = transform::fit_size(px.width, px.height, bx);
            let mut small = transform::resize(px, w, h)?;
            if needs_icc {
                colour::icc_to_srgb(&mut small, icc, limits)?;
            }
            small
        }
        None => {
            if needs_icc {
                colour::icc_to_srgb(&mut px, icc, limits)?;
            }
            transform::grayscale(px)?
        }
    };
    let px = orient::apply(px, orientation)?;
    let bytes = encode(&px, header.format, header.lossy)?;
    Ok(Output {
        header: header.clone(),
        op: job.op,
        format: header.format,
        width: px.width,
        height: px.height,
        bytes,
    })
}
