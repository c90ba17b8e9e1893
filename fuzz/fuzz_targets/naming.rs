//! Key → op and output key: under processed/, no '..', round-trips.
//! The properties are in `image_processor::fuzzing::naming`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    image_processor::fuzzing::naming(data);
});
