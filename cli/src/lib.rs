//! The person-facing command line of `modelpack-frontend`: the second
//! front door onto the same core as the BuildKit frontend, over
//! `modelpack`, `modelpack-hub` and `oci-registry` only (nothing of
//! BuildKit). The binary's `main` hands it every first argument that is
//! neither absent (the gateway) nor an in-build step. One file per command;
//! [`COMMANDS`] is the dispatch table, so a new command is one module and
//! one line there.
//!
//! Exit codes: 0 ok, 1 validation found problems or the command failed,
//! 2 usage error.

/// The registry flags' `--help` lines (a literal, for `concat!`), shared
/// by every command that talks to a registry; parsed by
/// [`remote::RegistryFlags`].
macro_rules! registry_flags_help {
    () => {
        "
Registry flags (when REF names a registry):
  --username USER      log in as USER; the password (or token) is read from
                       stdin, so --password-stdin is required with it
  --password-stdin     read the password from stdin
  --plain-http         talk plain HTTP (loopback or test registries)
  --ca-file PEM        also trust this CA bundle for TLS
  --concurrency N      blobs transferred at once, 1 to 64 (default 4)
Without --username, credentials come from Docker's config.json
($DOCKER_CONFIG/config.json, else ~/.docker/config.json: auths, credsStore,
credHelpers), else the registry is used anonymously.
"
    };
}

mod attach;
mod bundle;
mod inspect;
mod inspect_referrers;
mod pack;
mod progress;
mod publish;
mod pull;
mod push;
mod remote;
mod resolve;
mod sign;
mod unpack;
mod validate;

use std::ffi::OsString;

/// Exit code: all good.
pub const EXIT_OK: i32 = 0;
/// Exit code: validation found problems, or the command failed.
pub const EXIT_FAILED: i32 = 1;
/// Exit code: the command line is wrong.
pub const EXIT_USAGE: i32 = 2;

/// Why a command did not succeed.
#[derive(Debug)]
pub enum Failure {
    /// The arguments are wrong (exit 2).
    Usage(String),
    /// The command ran and failed, or found problems (exit 1).
    Failed(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Failed(e)
    }
}

impl From<modelpack::layout::LayoutError> for Failure {
    fn from(e: modelpack::layout::LayoutError) -> Self {
        Failure::Failed(e.into())
    }
}

impl From<lexopt::Error> for Failure {
    fn from(e: lexopt::Error) -> Self {
        Failure::Usage(match e {
            lexopt::Error::MissingValue { option: Some(o) } => format!("{o} needs a value"),
            other => other.to_string(),
        })
    }
}

/// What a command returns.
pub type Outcome = Result<(), Failure>;

/// A person-facing command.
pub struct Command {
    /// The word after the binary's name.
    pub name: &'static str,
    /// One line for `--help`.
    pub summary: &'static str,
    /// The command's own `--help` text (usage, flags, example).
    pub help: &'static str,
    /// Runs it with the arguments after its name.
    pub run: fn(&mut lexopt::Parser) -> Outcome,
}

/// Every person-facing command, in `--help` order.
pub const COMMANDS: &[&Command] = &[
    &pack::COMMAND,
    &validate::COMMAND,
    &inspect::COMMAND,
    &unpack::COMMAND,
    &push::COMMAND,
    &pull::COMMAND,
    &bundle::COMMAND,
    &sign::COMMAND,
];

/// The binary's version and the frontend image tag it matches.
pub fn version() -> String {
    let v = env!("CARGO_PKG_VERSION");
    format!("modelpack-frontend {v} (frontend image tag v{v})")
}

fn help() -> String {
    let mut s = format!(
        "{}\nPackages ML models as CNCF ModelPack OCI artifacts. Run with no arguments it is a\nBuildKit frontend; these commands work on local OCI image layouts and registries:\n\n",
        version()
    );
    for c in COMMANDS {
        s.push_str(&format!("  {:<10} {}\n", c.name, c.summary));
    }
    s.push_str(
        "\nRun `modelpack-frontend COMMAND --help` for a command's flags.\n\
         Flags: -h, --help   this text;  -V, --version   the version and matching image tag\n\
         Exit codes: 0 ok, 1 problems found or the command failed, 2 usage error.\n",
    );
    s
}

/// The command named `word`, if it is a person-facing one.
pub fn find(word: &str) -> Option<&'static Command> {
    COMMANDS.iter().copied().find(|c| c.name == word)
}

/// Handles `--help`, `--version` and the person-facing commands; `None`
/// when `args` (after the binary's name) are none of them.
pub fn dispatch(args: &[String]) -> Option<i32> {
    let first = args.first()?.as_str();
    let code = match first {
        "-h" | "--help" | "help" => {
            print!("{}", help());
            EXIT_OK
        }
        "-V" | "--version" | "version" => {
            println!("{}", version());
            EXIT_OK
        }
        _ => {
            let command = find(first)?;
            run(command, &args[1..])
        }
    };
    Some(code)
}

/// Runs `command` and maps its outcome to an exit code, printing errors.
fn run(command: &Command, args: &[String]) -> i32 {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        print!("{}", command.help);
        return EXIT_OK;
    }
    let mut parser = lexopt::Parser::from_args(args.iter().map(OsString::from));
    match (command.run)(&mut parser) {
        Ok(()) => EXIT_OK,
        Err(Failure::Usage(msg)) => {
            eprintln!(
                "modelpack-frontend {}: {msg}; see modelpack-frontend {} --help",
                command.name, command.name
            );
            EXIT_USAGE
        }
        Err(Failure::Failed(e)) => {
            eprintln!("modelpack-frontend {}: {}", command.name, shown(&e));
            EXIT_FAILED
        }
    }
}

/// A failure as this command line shows it: the whole chain, and what
/// the core leaves to each door, in this door's words (a layout with
/// several models is given a name as `LAYOUT:NAME`).
fn shown(e: &anyhow::Error) -> String {
    match e.downcast_ref::<modelpack::layout::LayoutError>() {
        Some(l) => match layout_hint(l) {
            Some(hint) => format!("{e:#}; {hint}"),
            None => format!("{e:#}"),
        },
        None => format!("{e:#}"),
    }
}

/// What to do about a layout error, in this command line's arguments.
fn layout_hint(e: &modelpack::layout::LayoutError) -> Option<String> {
    match e {
        modelpack::layout::LayoutError::NameNeeded { root, .. } => Some(name_hint(root)),
        _ => None,
    }
}

/// How to pick one of the models of the layout at `root`: `LAYOUT:NAME`.
pub(crate) fn name_hint(root: &std::path::Path) -> String {
    format!("pick one as {}:NAME", root.display())
}

/// The usage error for an argument a command does not take.
pub fn unexpected(arg: lexopt::Arg<'_>) -> Failure {
    Failure::Usage(match arg {
        lexopt::Arg::Long(l) => format!("unknown flag --{l}"),
        lexopt::Arg::Short(c) => format!("unknown flag -{c}"),
        lexopt::Arg::Value(v) => format!("unexpected argument {:?}", v.to_string_lossy()),
    })
}

/// A flag's value as UTF-8 text.
pub fn text(parser: &mut lexopt::Parser, flag: &str) -> Result<String, Failure> {
    let v = parser.value()?;
    v.into_string()
        .map_err(|v| Failure::Usage(format!("{flag}: {:?} is not UTF-8", v.to_string_lossy())))
}

/// A positional argument as UTF-8 text.
pub fn positional(v: OsString, what: &str) -> Result<String, Failure> {
    v.into_string()
        .map_err(|v| Failure::Usage(format!("{what} {:?} is not UTF-8", v.to_string_lossy())))
}

/// Progress: one plain line per step on stderr.
pub fn step(line: &str) {
    eprintln!("{line}");
}

/// Bytes as `1.23 MB`.
pub fn human(bytes: u64) -> String {
    modelpack::human::human_size(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn help_lists_only_person_facing_commands() {
        let h = help();
        for c in COMMANDS {
            assert!(
                h.contains(&format!("  {:<10} {}", c.name, c.summary)),
                "{h}"
            );
        }
        for hidden in ["scan", "pack-layer", "hf-get", "describe"] {
            assert!(
                !h.contains(&format!("  {hidden} ")),
                "{hidden} listed:\n{h}"
            );
        }
    }

    #[test]
    fn version_names_the_image_tag() {
        assert_eq!(
            version(),
            format!(
                "modelpack-frontend {0} (frontend image tag v{0})",
                env!("CARGO_PKG_VERSION")
            )
        );
    }

    #[test]
    fn in_build_and_unknown_words_are_not_dispatched() {
        for word in ["scan", "pack-layer", "hf-get", "nonsense"] {
            assert_eq!(dispatch(&args(&[word])), None, "{word}");
        }
        assert_eq!(dispatch(&[]), None, "no arguments: gateway mode");
    }

    #[test]
    fn usage_errors_exit_2_and_failures_exit_1() {
        assert_eq!(dispatch(&args(&["validate", "--bogus"])), Some(EXIT_USAGE));
        assert_eq!(dispatch(&args(&["validate"])), Some(EXIT_USAGE));
        assert_eq!(
            dispatch(&args(&["unpack", "x"])),
            Some(EXIT_USAGE),
            "-o is required"
        );
        assert_eq!(
            dispatch(&args(&["inspect", "/nonexistent/layout"])),
            Some(EXIT_FAILED)
        );
        assert_eq!(dispatch(&args(&["pack", "--help"])), Some(EXIT_OK));
        assert_eq!(
            dispatch(&args(&["push", "layout"])),
            Some(EXIT_USAGE),
            "a REF is required"
        );
        assert_eq!(
            dispatch(&args(&["push", "layout", "not a ref"])),
            Some(EXIT_USAGE)
        );
        assert_eq!(
            dispatch(&args(&["pull", "127.0.0.1:1/a:b"])),
            Some(EXIT_USAGE),
            "-o is required"
        );
        assert_eq!(
            dispatch(&args(&[
                "pull",
                "127.0.0.1:1/a:b",
                "-o",
                "x",
                "--concurrency",
                "0"
            ])),
            Some(EXIT_USAGE)
        );
        assert_eq!(
            dispatch(&args(&["validate", "127.0.0.1:1/a:b", "--password-stdin"])),
            Some(EXIT_USAGE)
        );
        assert_eq!(dispatch(&args(&["push", "--help"])), Some(EXIT_OK));
        assert_eq!(
            dispatch(&args(&["sign", "layout"])),
            Some(EXIT_USAGE),
            "--key is required"
        );
        assert_eq!(
            dispatch(&args(&["sign", "--key", "k.pem"])),
            Some(EXIT_USAGE),
            "a LAYOUT or REF is required"
        );
        assert_eq!(
            dispatch(&args(&[
                "sign",
                "/nonexistent/layout",
                "--key",
                "/nonexistent/k.pem"
            ])),
            Some(EXIT_FAILED),
            "an unreadable key"
        );
        assert_eq!(
            dispatch(&args(&["unpack", "x", "-o", "d", "--signature"])),
            Some(EXIT_USAGE),
            "--signature needs a value"
        );
    }

    #[test]
    fn a_layout_of_several_models_is_told_how_to_name_one_here() {
        use modelpack::layout::LayoutError;
        let e = anyhow::Error::from(LayoutError::NameNeeded {
            root: "out".into(),
            names: vec!["a".into(), "b".into()],
        })
        .context("reading the model");
        assert_eq!(
            shown(&e),
            "reading the model: out: index.json lists 2 manifests (names: a, b) and none was named; pick one as out:NAME"
        );
        let e = anyhow::Error::from(LayoutError::NoManifest { root: "out".into() });
        assert_eq!(shown(&e), "out: index.json lists no manifest");
    }

    #[test]
    fn unknown_flags_read_well() {
        let Failure::Usage(msg) = unexpected(lexopt::Arg::Long("x")) else {
            panic!()
        };
        assert_eq!(msg, "unknown flag --x");
    }
}
