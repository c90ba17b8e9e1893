//! image-webp behind the header probe and its memory limit.
//! The properties are in `image_processor::fuzzing::decode_webp`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    image_processor::fuzzing::decode_webp(data);
});
