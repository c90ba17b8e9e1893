//! png behind the header probe and its byte limit.
//! The properties are in `image_processor::fuzzing::decode_png`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    image_processor::fuzzing::decode_png(data);
});
