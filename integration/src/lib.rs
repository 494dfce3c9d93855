//! Helpers for the end-to-end tests in `tests/`.
//!
//! - [`engine`]: run `docker buildx build` with the frontend image, and
//!   `skopeo`, against the local engine and registry that
//!   `integration/engine.sh` starts.
//! - [`layout`]: load and fully verify an OCI image layout written by the
//!   frontend, and unpack its layers back into a file tree.
//! - [`fs`]: unique temporary directories, test file trees, and a byte for
//!   byte tree comparison.
//! - [`solves`]: every solve request a build's frontend sent BuildKit,
//!   read back from the engine's log (build arg `debug_dump_llb`).
//! - [`procs`]: processes of the frontend image running on this host.
//! - [`hub`]: a fake Hugging Face Hub (`integration/fakehub/`) per test, as
//!   a child process on 127.0.0.1, with repos, failure injection and stats.
//!
//! Every check panics with a message that names the file, the field and
//! both values, so a failing test reads as a precise report.

#![warn(missing_docs)]

pub mod engine;
pub mod fs;
pub mod hub;
pub mod layout;
pub mod procs;
pub mod solves;

use std::path::PathBuf;

/// The repository root (the workspace directory holding `integration/`).
pub fn repo_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .expect("integration/ has a parent directory")
        .to_path_buf()
}

/// The official ModelPack config JSON schema, kept in the repository at
/// `spec/model-spec-config-schema.json` (origin and licence in
/// `spec/README.md`).
pub fn config_schema_path() -> PathBuf {
    repo_root().join("spec/model-spec-config-schema.json")
}

/// A name no other test (in this or a concurrent run) uses: `prefix`, the
/// process id, a per-process counter and the clock's nanoseconds, all in
/// lower case so it is valid as a registry repository or tag.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{}-{}-{n}-{nanos:x}",
        prefix.to_ascii_lowercase(),
        std::process::id()
    )
}

/// `sha256:<hex>` of some bytes.
pub fn sha256_digest(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Runs the CLI binary ([`cli_binary`]) with `args` and extra `env`, with
/// no `HF_TOKEN` or `HF_ENDPOINT` inherited from the caller; returns
/// (exit code, stdout, stderr).
pub fn run_cli(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = std::process::Command::new(cli_binary());
    cmd.args(args)
        .env_remove("HF_TOKEN")
        .env_remove("HF_ENDPOINT");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run the CLI");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The stdout of `cmd`, which must succeed (`what` names it in the panic,
/// with both outputs).
pub fn stdout_of(cmd: &mut std::process::Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The stdout of the CLI binary ([`cli_binary`]) run with `args`, which
/// must succeed.
pub fn cli_stdout(args: &[&str]) -> String {
    stdout_of(
        std::process::Command::new(cli_binary()).args(args),
        &format!("modelpack-frontend {}", args.join(" ")),
    )
}

/// The CLI binary the tests run: `MODELPACK_CLI` (integration/test.sh sets
/// it to `dist/modelpack-frontend`, the binary in the frontend image), else
/// the workspace's debug build.
pub fn cli_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("MODELPACK_CLI").filter(|v| !v.is_empty()) {
        return PathBuf::from(bin);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    let bin = target.join("debug/modelpack-frontend");
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build -p modelpack-frontend` first, or set MODELPACK_CLI",
        bin.display()
    );
    bin
}
