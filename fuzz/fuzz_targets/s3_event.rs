//! S3 event JSON → records → URL-decoded keys → op and output key.
//! The properties are in `image_processor::fuzzing::s3_event`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    image_processor::fuzzing::s3_event(data);
});
