//! The `hf-get` step: downloads one Hub file in a build, for when a token
//! is needed: BuildKit before 0.21 cannot give HTTP sources an auth
//! header, so a step re-executes this binary with the `hf-token` secret
//! mounted. The token is read from the secret file and handed to the Hub
//! downloader ([`modelpack_hub::download`]), which sends it only to the
//! endpoint's host; it is never printed.

use std::path::Path;

use anyhow::{bail, Result};
use modelpack_hub::download::{get_as, Expect, GetError};

use crate::Step;

/// The step's name.
pub const NAME: &str = "hf-get";

/// The table entry.
pub const STEP: Step = Step {
    name: NAME,
    argv: "<url> <out-file> [sha256:<hex>|git-sha1:<hex>]",
    reads: "the URL (network on), with the token of the hf-token secret when mounted",
    writes: "<out-file>; a failure's class as the exit code",
    run,
};

/// Where the `hf-token` secret is mounted in download steps.
pub const TOKEN_PATH: &str = "/run/secrets/hf-token";
/// BuildKit secret id of the Hugging Face token (AIKit's id).
pub const TOKEN_SECRET_ID: &str = "hf-token";

/// The token in the `hf-token` secret file, if the step mounts one.
pub fn read_token() -> Option<String> {
    let t = std::fs::read_to_string(TOKEN_PATH).ok()?;
    let t = t.trim().to_string();
    (!t.is_empty()).then_some(t)
}

/// `modelpack-frontend hf-get <url> <out-file> [sha256:<hex>|git-sha1:<hex>]`.
pub fn run(args: &[String]) -> Result<u8> {
    let (url, out, expect) = match args {
        [u, o] => (u, o, Expect::Anything),
        [u, o, e] => (u, o, Expect::parse(e)?),
        _ => {
            bail!("usage: modelpack-frontend hf-get <url> <out-file> [sha256:<hex>|git-sha1:<hex>]")
        }
    };
    Ok(exit_code(get_as(
        url,
        Path::new(out),
        &expect,
        read_token().as_deref(),
    )))
}

/// The process exit code of a download step: 0, or the failure's code
/// from [`modelpack_hub::download::exit`] after its one line on stderr
/// (read back by the frontend).
pub fn exit_code(result: Result<(), GetError>) -> u8 {
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("hf-get: {}", e.message);
            e.code
        }
    }
}
