//! Our lossless WebP encoder on arbitrary pixels: its output must decode to them exactly.
//! The properties are in `image_processor::fuzzing::encode_webp`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    image_processor::fuzzing::encode_webp(data);
});
