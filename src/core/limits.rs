//! Every limit the pipeline enforces, as a named value with the reason it is safe.

/// 10 MiB: the product's promise. Large enough for any phone photo, small enough that the
/// whole input fits comfortably in the smallest Lambda next to its decoded pixels.
pub const MAX_INPUT_BYTES: usize = 10 * 1024 * 1024;

/// 4096 px per side: a 4096×4096 RGBA image is 64 MiB of pixels, the most we can hold inside
/// a 128 MiB function together with the input and the output.
pub const MAX_DIMENSION: u32 = 4096;

/// The decoders' own allocation budget (second line of defence behind the header check):
/// the largest legitimate decode is 4096×4096×4 = 64 MiB; png and image-webp need a little
/// more for their row and frame state.
pub const DECODER_MEMORY_BYTES: usize = 80 * 1024 * 1024;

/// How much of the file the header probe will walk looking for the frame header. JPEG
/// headers with large ICC/EXIF segments reach a few hundred KiB; the probe only skips over
/// segment lengths, so the walk is cheap and bounded by the input length anyway.
pub const MAX_HEADER_SCAN_BYTES: usize = MAX_INPUT_BYTES;

/// An ICC profile larger than this is ignored (taken as sRGB) rather than parsed: real
/// profiles are a few KiB, CMYK ones up to about 1 MiB.
pub const MAX_ICC_BYTES: usize = 4 * 1024 * 1024;

/// How many chunks a PNG or WebP header walk visits before giving up. Legitimate files have
/// a handful; an animation with thousands of frames is still counted in bounded time.
pub const MAX_CHUNKS: usize = 100_000;

/// The limits one run of the pipeline enforces. The defaults are the product's; tests and
/// the fuzzer may lower them, nothing raises them above what the header checks can afford.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    /// Largest accepted input, in bytes (inclusive).
    pub max_input_bytes: usize,
    /// Largest accepted width or height, in pixels (inclusive).
    pub max_dimension: u32,
    /// Allocation budget handed to each decoder.
    pub decoder_memory_bytes: usize,
    /// Largest ICC profile that is converted rather than ignored.
    pub max_icc_bytes: usize,
    /// Largest number of chunks a header walk visits.
    pub max_chunks: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_input_bytes: MAX_INPUT_BYTES,
            max_dimension: MAX_DIMENSION,
            decoder_memory_bytes: DECODER_MEMORY_BYTES,
            max_icc_bytes: MAX_ICC_BYTES,
            max_chunks: MAX_CHUNKS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let l = Limits::default();
        assert_eq!(l.max_input_bytes, 10_485_760);
        assert_eq!(l.max_dimension, 4096);
        // The decoder budget must cover the largest legitimate RGBA frame.
        assert!(l.decoder_memory_bytes >= 4096 * 4096 * 4);
    }
}
