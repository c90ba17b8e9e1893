//! The pure pipeline: bytes in, bytes out. No I/O, no environment, no clock.
