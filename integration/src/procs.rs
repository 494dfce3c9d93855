//! Processes of the frontend image on this host (the tests run as root on
//! the engine's machine, so `/proc` shows the processes of BuildKit's
//! containers too): the gateway frontend and every in-build step that
//! re-executes it run `/modelpack-frontend` (the image's entrypoint).

use std::path::Path;

/// The binary's path inside the frontend image.
pub const BINARY: &str = "/modelpack-frontend";

/// One running process of the frontend image.
#[derive(Clone, Debug)]
pub struct Proc {
    /// Its id on the host.
    pub pid: u32,
    /// Its argv (`[BINARY]` alone for the gateway frontend).
    pub args: Vec<String>,
    /// Its environment as `KEY=value` (the gateway frontend's holds its
    /// build args as `BUILDKIT_FRONTEND_OPT_<n>=build-arg:<key>=<value>`).
    pub env: Vec<String>,
}

impl Proc {
    /// Whether its argv or environment contains `needle`.
    pub fn mentions(&self, needle: &str) -> bool {
        self.args
            .iter()
            .chain(&self.env)
            .any(|s| s.contains(needle))
    }
}

fn nul_list(path: &Path) -> Option<Vec<String>> {
    let bytes = std::fs::read(path).ok()?;
    Some(
        bytes
            .split(|b| *b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect(),
    )
}

/// Every process on the host whose argv[0] is [`BINARY`] (processes that
/// exit while being read are skipped).
pub fn frontend_processes() -> Vec<Proc> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Some(args) = nul_list(&entry.path().join("cmdline")) else {
            continue;
        };
        if args.first().map(String::as_str) != Some(BINARY) {
            continue;
        }
        let env = nul_list(&entry.path().join("environ")).unwrap_or_default();
        found.push(Proc { pid, args, env });
    }
    found.sort_by_key(|p| p.pid);
    found
}

/// A field of `/proc/<pid>/status` in KiB (`VmHWM`, `VmRSS`), or None
/// once the process is gone.
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field).and_then(|r| r.strip_prefix(':')))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
