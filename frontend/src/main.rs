//! `modelpack-frontend`: a BuildKit gateway frontend that packages models as
//! CNCF ModelPack OCI artifacts.
//!
//! Started by buildkitd with no arguments, it speaks the gateway protocol
//! over stdin/stdout. Build steps re-execute the same binary from the same
//! image with a subcommand (`scan`, `pack`, `hf-get`).

mod emit;
mod gateway;
mod handler;
mod hfget;
mod mediatype;
mod oci;
mod options;
mod pack;
mod patterns;
mod plan;
mod scan;
mod selfimage;
mod source;
mod targets;
mod time;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let result = match args.get(1).map(String::as_str) {
        Some("scan") => scan::run(&args[2..]),
        Some("pack") => pack::run(&args[2..]),
        Some("hf-get") => match hfget::run(&args[2..]) {
            Ok(code) => return ExitCode::from(code),
            Err(e) => Err(e),
        },
        Some("--version") | Some("version") => {
            println!("modelpack-frontend {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Some(other) => Err(anyhow::anyhow!(
            "unknown subcommand {other:?}; run without arguments under BuildKit, or use: scan, version"
        )),
        None => serve(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("modelpack-frontend: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Gateway mode: connect, build, return exactly once.
fn serve() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let result = runtime.block_on(async {
        let env = gateway::Environment::from_vars(std::env::vars());
        let mut bridge = gateway::Bridge::connect().await?;
        match handler::build(&mut bridge, &env).await {
            Ok((reference, metadata)) => bridge.return_result(reference, metadata).await,
            Err(e) => {
                eprintln!("modelpack-frontend: build failed: {e}");
                bridge.return_error(e).await
            }
        }
    });
    // The stdin reader sits in a blocking thread that never ends by itself;
    // do not wait for it once the result has been returned.
    runtime.shutdown_background();
    result
}
