//! `modelpack-frontend`: a BuildKit gateway frontend that packages models as
//! CNCF ModelPack OCI artifacts.
//!
//! Started by buildkitd with no arguments, it speaks the gateway protocol
//! over stdin/stdout. Build steps re-execute the same binary from the same
//! image with a hidden subcommand (`scan`, `pack-layer`, `describe`,
//! `hf-get`, `hf-get-many`). People use the commands of [`cli`] (`pack`, `validate`,
//! `inspect`, `unpack`).

mod cli;

mod answer;
mod binary;
mod buildkit_errors;
mod cache_imports;
mod check;
mod deadline;
mod emit;
mod gateway;
mod handler;
mod hf_get;
mod hf_get_many;
mod hf_stream;
mod llbdump;
mod options;
mod output;
mod panics;
mod recipe;
mod recipe_outline;
mod sizes;
mod source;
mod steps;
mod subrequests;
mod targets;

fn main() {
    panics::install_hook();
    let args: Vec<String> = std::env::args().collect();
    let result = match args.get(1).map(String::as_str) {
        // In-build subcommands: hidden from --help.
        Some("scan") => modelpack::scan::run(&args[2..]),
        Some("pack-layer") => modelpack::pack::run(&args[2..]),
        Some("pack-many") => modelpack::pack::run_many(&args[2..]),
        Some("describe") => modelpack::describe::run(&args[2..]),
        Some("sizes") => sizes::run(&args[2..]),
        Some("write-docs") => modelpack::layout_docs::run(&args[2..]),
        Some("hf-get") => match hf_get::run(&args[2..]) {
            Ok(code) => exit(i32::from(code)),
            Err(e) => Err(e),
        },
        Some("hf-get-many") => match hf_get_many::run(&args[2..]) {
            Ok(code) => exit(i32::from(code)),
            Err(e) => Err(e),
        },
        Some(_) => match cli::dispatch(&args[1..]) {
            Some(code) => exit(code),
            None => {
                let names: Vec<&str> = cli::COMMANDS.iter().map(|c| c.name).collect();
                eprintln!(
                    "modelpack-frontend: unknown command {:?}; commands: {}; see --help",
                    args[1],
                    names.join(", ")
                );
                exit(cli::EXIT_USAGE)
            }
        },
        None => serve(),
    };
    match result {
        Ok(()) => exit(0),
        Err(e) => {
            eprintln!("modelpack-frontend: {e:#}");
            exit(1)
        }
    }
}

/// Flushes and leaves at once: in gateway mode the blocking stdin reader
/// must not keep the process (and so the build) alive.
fn exit(code: i32) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    std::process::exit(code)
}

/// Gateway mode: connect, build, return exactly once.
fn serve() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(async {
        let env = gateway::Environment::from_vars(std::env::vars());
        let mut bridge = gateway::Bridge::connect().await?;
        // A panic anywhere in the build becomes an error returned through
        // the gateway: BuildKit must never wait for a result that will not come.
        let built = panics::CatchPanic::new(handler::build(&mut bridge, &env)).await.unwrap_or_else(|panic| {
            Err(gateway::GatewayError::Local(anyhow::anyhow!(
                "internal error in the frontend: {panic}; please report it with the build args that caused it"
            )))
        });
        bridge.finish_dump();
        match built {
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
