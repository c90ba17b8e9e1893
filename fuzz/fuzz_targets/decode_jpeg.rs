//! zune-jpeg behind the header probe and our decoder options.
//! The properties are in `image_processor::fuzzing::decode_jpeg`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    image_processor::fuzzing::decode_jpeg(data);
});
