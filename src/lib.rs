//! # image-processor
//!
//! Turns untrusted uploads (JPEG, PNG, WebP) into safe, resized images.
//!
//! Every entry point (the CLI, the Lambda, the sandbox worker, the fuzzer and the tests) goes
//! through one pure function, [`core::pipeline::process`]: bytes and a name in, encoded bytes
//! or a typed [`core::error::Rejection`] out. The pipeline trusts nothing it is given:
//!
//! 1. the input is at most [`core::limits::Limits::max_input_bytes`] long (callers read at most
//!    one byte more than that, so "exactly the limit" and "one more" are told apart);
//! 2. the format comes from the magic bytes only ([`core::format`]);
//! 3. the width, height and frame count come from the header only ([`core::probe`]) and are
//!    checked against the limits before any pixel buffer exists;
//! 4. the pixels are decoded by pure-Rust decoders with their own limits wired in as well
//!    ([`core::decode`]), converted to sRGB, oriented upright ([`core::orient`]),
//!    resized or turned grey ([`core::transform`]) and encoded again from pixels only
//!    ([`core::encode`]), so no metadata can survive.
#![forbid(unsafe_code)]

#[cfg(feature = "aws")]
pub mod aws;
pub mod config;
pub mod core;
#[cfg(feature = "events")]
#[path = "aws/event.rs"]
pub mod event;
#[doc(hidden)]
pub mod fuzzing;
pub mod local;
pub mod ports;
pub mod runner;
pub mod sandbox;
#[cfg(feature = "aws")]
pub mod telemetry;
#[doc(hidden)]
pub mod testkit;
