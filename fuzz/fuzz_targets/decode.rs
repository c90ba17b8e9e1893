//! The whole untrusted path for every op (the first byte selects it), production limits.
//! The properties are in `image_processor::fuzzing::decode`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    image_processor::fuzzing::decode(data);
});
