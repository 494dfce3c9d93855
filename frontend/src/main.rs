//! `modelpack-frontend`: a BuildKit gateway frontend that packages models as
//! CNCF ModelPack OCI artifacts, and the one binary of all three doors.
//!
//! `main` only dispatches: started by buildkitd with no arguments, it
//! speaks the gateway protocol over stdin/stdout (this crate); build steps
//! re-execute the same binary from the same image with a hidden step name
//! (`modelpack_steps::STEPS`); any other first argument goes to the
//! person-facing commands of [`cli`] (the `modelpack-cli` crate and its
//! `COMMANDS` table: `pack`, `push`, `pull`, `unpack`, `bundle`, `sign`,
//! `validate`, `inspect`, `--help`).

use modelpack_cli as cli;

mod answer;
mod attest;
mod buildkit_errors;
mod bundle;
mod cache_imports;
mod check;
mod deadline;
mod emit;
#[cfg(test)]
mod fake_gateway;
mod gateway;
mod handler;
mod hf_get_many;
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
        None => serve().map(|()| 0),
        // In-build steps: hidden from --help.
        Some(word) => match modelpack_steps::find(word) {
            Some(step) => (step.run)(&args[2..]),
            None => exit(cli::dispatch(&args[1..]).unwrap_or_else(|| unknown(&args[1]))),
        },
    };
    match result {
        Ok(code) => exit(i32::from(code)),
        Err(e) => {
            eprintln!("modelpack-frontend: {e:#}");
            exit(1)
        }
    }
}

/// A first argument that is neither a step nor a command: says so, lists
/// the commands, and gives the usage exit code.
fn unknown(word: &str) -> i32 {
    let names: Vec<&str> = cli::COMMANDS.iter().map(|c| c.name).collect();
    eprintln!(
        "modelpack-frontend: unknown command {word:?}; commands: {}; see --help",
        names.join(", ")
    );
    cli::EXIT_USAGE
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

#[cfg(test)]
mod tests {
    #[test]
    fn step_names_and_commands_never_meet() {
        for step in modelpack_steps::STEPS {
            assert!(super::cli::find(step.name).is_none(), "{}", step.name);
            assert_eq!(super::cli::dispatch(&[step.name.to_string()]), None);
        }
    }
}
