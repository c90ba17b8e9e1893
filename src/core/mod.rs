//! The pure pipeline: bytes in, bytes out. No I/O, no environment, no clock.

pub mod bytes;
pub mod colour;
pub mod decode;
pub mod encode;
pub mod error;
pub mod format;
pub mod jpeg_gray;
pub mod limits;
pub mod naming;
pub mod orient;
pub mod pipeline;
pub mod pixels;
pub mod png_filter;
pub mod probe;
pub mod record;
pub mod transform;
pub mod webp_lossless;

pub use error::{Blame, Reason, Rejection};
pub use format::Format;
pub use limits::Limits;
pub use naming::Op;
pub use pipeline::{process, Job, Output};
