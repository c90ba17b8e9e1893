//! The Lambda function: wiring only. Configuration, clients and checks happen once per cold
//! start; every invocation goes to [`image_processor::aws::Handler::handle`].
//!
//! A cold start that fails (a missing or malformed variable, an unusable KMS key, a secret
//! that does not decrypt) exits with a message naming the cause, so Lambda reports an init
//! error and serves nothing.

use anyhow::Context as _;
use aws_lambda_events::event::s3::S3Event;
use image_processor::aws::{self, Invocation};
use image_processor::config::{Config, SandboxMode};
use image_processor::runner::Runner;
use image_processor::sandbox::{self, Sandbox};
use image_processor::telemetry;
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};

/// The runner the configured sandbox mode asks for. The sandboxed modes re-execute this
/// binary as the worker and run a self-test once, here, so that a sandbox that cannot start
/// stops the cold start instead of failing every event.
fn runner_for(config: &Config) -> anyhow::Result<Runner> {
    let mode = match config.sandbox_mode {
        SandboxMode::Off => {
            tracing::warn!("SANDBOX_MODE=off: the pipeline runs in this process");
            return Ok(Runner::in_process(config.limits.clone()));
        }
        SandboxMode::Strict => sandbox::SandboxMode::Strict,
        SandboxMode::BestEffort => sandbox::SandboxMode::BestEffort,
    };
    let name = config.sandbox_mode.name();
    let sb = Sandbox::current_exe(mode).map_err(|e| anyhow::anyhow!("SANDBOX_MODE={name}: {e}"))?;
    let layers = sb.self_test().map_err(|e| {
        anyhow::anyhow!("SANDBOX_MODE={name}: the sandbox is unavailable here: {e}")
    })?;
    tracing::info!(sandbox_mode = name, layers = %layers.join(","), "sandbox self-test passed");
    Ok(Runner::sandboxed(config.limits.clone(), sb))
}

async fn cold_start() -> anyhow::Result<aws::AwsHandler> {
    let config = Config::from_env().map_err(anyhow::Error::new)?;
    telemetry::init(config.log_level);
    let runner = runner_for(&config)?;
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let handler = aws::cold_start(&config, &sdk, runner)
        .await
        .context("cold start")?;
    tracing::info!(
        bucket = %config.images_bucket,
        input_prefix = %config.input_prefix,
        output_prefix = %config.output_prefix,
        max_input_bytes = config.limits.max_input_bytes,
        max_dimension = config.limits.max_dimension,
        signing = config.notify_hmac_key_ciphertext.is_some(),
        "cold start complete"
    );
    Ok(handler)
}

fn main() -> Result<(), lambda_runtime::Error> {
    // Started as the sandbox worker: run it and exit, before any runtime or client exists.
    sandbox::run_worker_if_requested();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serve())
}

async fn serve() -> Result<(), lambda_runtime::Error> {
    let handler = match cold_start().await {
        Ok(h) => h,
        Err(e) => {
            // Before the subscriber exists, or as well as it: the message must reach the logs.
            eprintln!("image-processor-lambda: cold start failed: {e:#}");
            return Err(format!("{e:#}").into());
        }
    };
    let handler = &handler;
    lambda_runtime::run(service_fn(move |ev: LambdaEvent<S3Event>| async move {
        let inv = Invocation {
            request_id: ev.context.request_id.clone(),
            deadline_ms: ev.context.deadline,
        };
        handler
            .handle(&ev.payload, &inv)
            .await
            .map_err(|e| Diagnostic {
                error_type: "DependencyFailure".to_owned(),
                error_message: e.to_string(),
            })
    }))
    .await
}
