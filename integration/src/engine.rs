//! Running the real tools: `docker buildx build` with the frontend image,
//! and `skopeo`. Everything talks to the tests' own engines (each on its
//! own socket, passed as `DOCKER_HOST`; never the machine's default docker)
//! and the registry on 127.0.0.1:5000 that `integration/engine.sh` starts.
//!
//! Commands run with `/usr/sbin:/usr/bin` first in `PATH`, so `docker` is
//! Debian's client with its buildx plugin (another docker client sits in
//! `/usr/local/bin`). Each command runs in its own process group and is
//! killed, with its plugin children, when it outlives its timeout.
//!
//! A build runs on one [`Engine`]: Docker 26 from `integration/engine.sh`
//! (the default), or Docker 28 + buildx 0.29 from `integration/engine-next.sh`
//! (`MODELPACK_ENGINE=next` makes it the default, [`Build::engine`] picks
//! one per build).

use std::fmt::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::fs::TempDir;

/// Frontend image used when `MODELPACK_IMAGE` is not set.
pub const DEFAULT_IMAGE: &str = "localhost:5000/modelpack-frontend:dev";

/// The local test registry (as `host:port` for image references).
pub const REGISTRY: &str = "localhost:5000";

/// Target used by [`Build::new`].
pub const MODELPACK_TARGET: &str = "packager/modelpack";

/// Default per-command timeout; `MODELPACK_BUILD_TIMEOUT_SECS` overrides it.
/// Builds of the small test models take seconds; a build that runs this
/// long is hung (e.g. a frontend process that never exits).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// Once a command has hung in this test process, later commands get at
/// most this long, so a hanging frontend fails the suite in minutes rather
/// than one full timeout per test.
pub const TIMEOUT_AFTER_A_HANG: Duration = Duration::from_secs(20);

static A_COMMAND_HUNG: AtomicBool = AtomicBool::new(false);

/// The frontend image to build with: `MODELPACK_IMAGE` or [`DEFAULT_IMAGE`].
pub fn frontend_image() -> String {
    std::env::var("MODELPACK_IMAGE")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_IMAGE.to_string())
}

/// The timeout for one command: `MODELPACK_BUILD_TIMEOUT_SECS` or
/// [`DEFAULT_TIMEOUT`].
pub fn default_timeout() -> Duration {
    std::env::var("MODELPACK_BUILD_TIMEOUT_SECS")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TIMEOUT)
}

/// `PATH` with Debian's docker first.
pub fn tool_path() -> String {
    let rest = std::env::var("PATH").unwrap_or_default();
    format!("/usr/sbin:/usr/bin:{rest}")
}

/// Where the second engine's files live (`integration/engine-next.sh`).
pub const NEXT_ROOT: &str = "/opt/modelpack-engine-28";
/// The second engine's API socket.
pub const NEXT_HOST: &str = "unix:///run/modelpack-docker28.sock";
/// Docker 26's API socket (`integration/engine.sh`): the tests' own
/// engine, never the machine's default `/var/run/docker.sock`.
pub const CURRENT_HOST: &str = "unix:///run/modelpack-docker26.sock";

/// A docker engine and the client that drives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// Docker 26 with Debian's docker client and buildx
    /// (`integration/engine.sh`, on [`CURRENT_HOST`]).
    Current,
    /// Docker 28 with its own docker 28 client and buildx 0.29
    /// (`integration/engine-next.sh`).
    Next,
    /// The docker 28 client and buildx 0.29 against Docker 26: new client
    /// features (`--call outline|check`) on the old daemon.
    NextClientOnCurrent,
    /// Docker 28 with the containerd image store (`integration/engine-store.sh`,
    /// on [`STORE_HOST`]): its docker driver exports build caches, writes
    /// `-o type=oci` and offers MergeOp.
    Store,
}

/// The socket of the Docker 28 engine with the containerd image store.
pub const STORE_HOST: &str = "unix:///run/modelpack-docker28s.sock";

impl Engine {
    /// `MODELPACK_ENGINE`: `next` → [`Engine::Next`]; unset, empty or
    /// `current` → [`Engine::Current`]. Anything else panics naming the
    /// accepted values.
    pub fn from_env() -> Engine {
        match std::env::var("MODELPACK_ENGINE").unwrap_or_default().trim() {
            "" | "current" => Engine::Current,
            "next" => Engine::Next,
            other => panic!("MODELPACK_ENGINE={other:?}: accepted values are current (Docker 26) and next (Docker 28)"),
        }
    }

    /// The docker client binary.
    pub fn docker(self) -> String {
        match self {
            Engine::Current => "docker".to_string(),
            Engine::Next | Engine::NextClientOnCurrent | Engine::Store => {
                format!("{NEXT_ROOT}/usr/bin/docker")
            }
        }
    }

    /// Environment of the client: which daemon, which plugin directory.
    pub fn envs(self) -> Vec<(String, String)> {
        let config = format!("{NEXT_ROOT}/docker-config");
        match self {
            Engine::Current => vec![("DOCKER_HOST".into(), CURRENT_HOST.into())],
            Engine::Next => vec![
                ("DOCKER_HOST".into(), NEXT_HOST.into()),
                ("DOCKER_CONFIG".into(), config),
            ],
            Engine::Store => vec![
                ("DOCKER_HOST".into(), STORE_HOST.into()),
                ("DOCKER_CONFIG".into(), config),
            ],
            Engine::NextClientOnCurrent => {
                vec![
                    ("DOCKER_HOST".into(), CURRENT_HOST.into()),
                    ("DOCKER_CONFIG".into(), config),
                ]
            }
        }
    }

    /// The daemon's data root (BuildKit's databases, snapshots, images),
    /// for tests that search the engine's state.
    pub fn data_root(self) -> &'static str {
        match self {
            Engine::Current | Engine::NextClientOnCurrent => "/var/lib/modelpack-docker26",
            Engine::Next => "/var/lib/modelpack-docker28",
            Engine::Store => "/var/lib/modelpack-docker28s",
        }
    }

    /// The daemon's log (`integration/engine.sh`, `engine-next.sh`), where
    /// buildkitd's own stderr, and so a gateway frontend's, ends up.
    pub fn daemon_log(self) -> &'static str {
        match self {
            Engine::Current | Engine::NextClientOnCurrent => "/var/log/modelpack-docker26.log",
            Engine::Next => "/var/log/modelpack-docker28.log",
            Engine::Store => "/var/log/modelpack-docker28s.log",
        }
    }

    /// Runs `docker args…` on this engine.
    pub fn run_docker(self, args: &[&str], timeout: Duration) -> Outcome {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        run_with_env(&self.docker(), &args, &self.envs(), timeout)
    }

    /// Panics, saying which script to run, unless the client, its buildx
    /// and the daemon answer.
    pub fn assert_ready(self) {
        let version = self.run_docker(&["buildx", "version"], Duration::from_secs(30));
        let daemon = self.run_docker(
            &["version", "--format", "{{.Server.Version}}"],
            Duration::from_secs(30),
        );
        let script = match self {
            Engine::Current => "integration/engine.sh",
            Engine::Store => "integration/engine.sh, engine-next.sh and engine-store.sh",
            _ => "integration/engine.sh and integration/engine-next.sh",
        };
        assert!(
            version.success && daemon.success,
            "engine {self:?} is not ready: run {script} (as root)\n{}\n{}",
            version.report(),
            daemon.report()
        );
    }
}

/// What a finished (or killed) command left behind.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The command line, for messages.
    pub command: String,
    /// Whether it exited with status 0 (false when killed on timeout).
    pub success: bool,
    /// Exit code, if it exited normally.
    pub code: Option<i32>,
    /// Whether it was killed because it outlived its timeout.
    pub timed_out: bool,
    /// The timeout it ran under.
    pub timeout: Duration,
    /// How long it ran.
    pub elapsed: Duration,
    /// Its standard output, byte for byte.
    pub stdout: Vec<u8>,
    /// Its standard error (buildx writes its progress and errors here).
    pub stderr: String,
}

impl Outcome {
    /// Standard error followed by standard output, as text.
    pub fn output(&self) -> String {
        let mut all = self.stderr.clone();
        all.push_str(&String::from_utf8_lossy(&self.stdout));
        all
    }

    /// Lines of the output that contain `fragment`.
    pub fn lines_with(&self, fragment: &str) -> Vec<String> {
        self.output()
            .lines()
            .filter(|l| l.contains(fragment))
            .map(str::to_string)
            .collect()
    }

    /// The lines buildx prints for a failed build (`ERROR: …`).
    pub fn error_lines(&self) -> Vec<String> {
        self.lines_with("ERROR")
    }

    /// A one-paragraph description with the last lines of output.
    pub fn report(&self) -> String {
        let out = self.output();
        let lines: Vec<&str> = out.lines().collect();
        let tail = &lines[lines.len().saturating_sub(60)..];
        let mut s = String::new();
        let status = if self.timed_out {
            format!(
                "HUNG: killed after {:.1?} (timeout {:?}); the command never finished \
                 (for a build: e.g. a frontend process that does not exit after returning)",
                self.elapsed, self.timeout
            )
        } else {
            format!("exit code {:?} after {:.1?}", self.code, self.elapsed)
        };
        let _ = writeln!(s, "command: {}\nstatus: {status}", self.command);
        let _ = writeln!(s, "last {} of {} output lines:", tail.len(), lines.len());
        for l in tail {
            let _ = writeln!(s, "  | {l}");
        }
        s
    }

    /// Panics with the command and its output unless it succeeded.
    pub fn assert_success(&self) -> &Self {
        assert!(
            self.success,
            "expected success, but the command failed\n{}",
            self.report()
        );
        self
    }

    /// Panics unless the command failed (not by timeout) and its output
    /// contains `fragment`; returns the first line holding it.
    pub fn assert_failure_with(&self, fragment: &str) -> String {
        assert!(
            !self.timed_out,
            "expected a quick failure, but the command hung\n{}",
            self.report()
        );
        assert!(
            !self.success,
            "expected failure with {fragment:?}, but the command succeeded\n{}",
            self.report()
        );
        match self.lines_with(fragment).into_iter().next() {
            Some(line) => line,
            None => panic!(
                "the command failed, but its output lacks {fragment:?}\n{}",
                self.report()
            ),
        }
    }
}

/// Runs `program args…` with [`tool_path`], empty stdin and a timeout
/// (shortened to [`TIMEOUT_AFTER_A_HANG`] once any command has hung).
pub fn run(program: &str, args: &[String], timeout: Duration) -> Outcome {
    run_with_env(program, args, &[], timeout)
}

/// [`run`] with extra environment variables for the child only (e.g. a
/// token for `--secret id=…,env=…`). Their values never appear in
/// [`Outcome::command`].
pub fn run_with_env(
    program: &str,
    args: &[String],
    envs: &[(String, String)],
    timeout: Duration,
) -> Outcome {
    spawn_with_env(program, args, envs).wait(timeout)
}

/// A command started by [`spawn_with_env`] (or [`Build::spawn`]), running
/// in a process group of its own, its output going to files.
pub struct Running {
    child: std::process::Child,
    command: String,
    start: Instant,
    _logs: TempDir,
    out_path: PathBuf,
    err_path: PathBuf,
}

/// Starts `program args…` with [`tool_path`], empty stdin and `envs`, in a
/// process group of its own, without waiting for it.
pub fn spawn_with_env(program: &str, args: &[String], envs: &[(String, String)]) -> Running {
    let command = std::iter::once(program.to_string())
        .chain(args.iter().map(|a| shell_quote(a)))
        .collect::<Vec<_>>()
        .join(" ");
    // Output goes to files, not pipes: no reader threads, and a chatty
    // command can never block on a full pipe.
    let logs = TempDir::new("cmd-output");
    let out_path = logs.path().join("stdout");
    let err_path = logs.path().join("stderr");
    let out_file = std::fs::File::create(&out_path).expect("create stdout file");
    let err_file = std::fs::File::create(&err_path).expect("create stderr file");
    let start = Instant::now();
    let child = Command::new(program)
        .args(args)
        .env("PATH", tool_path())
        .envs(envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(out_file)
        .stderr(err_file)
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e} (command: {command})"));
    Running {
        child,
        command,
        start,
        _logs: logs,
        out_path,
        err_path,
    }
}

impl Running {
    /// The process id (also the id of its process group).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What it wrote to stderr so far (buildx's progress).
    pub fn stderr_so_far(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.err_path).unwrap_or_default()).into_owned()
    }

    /// Sends SIGINT to its whole process group, as a terminal's Ctrl-C
    /// does to the foreground job (`docker` and its `docker-buildx` plugin).
    pub fn interrupt(&self) {
        let group = format!("-{}", self.child.id());
        let status = Command::new("kill")
            .args(["-INT", "--", &group])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -INT {group} failed: {status}");
    }

    /// Waits until it exits or `timeout` has passed since it started (then
    /// it is killed, see [`TIMEOUT_AFTER_A_HANG`]); returns what it left.
    pub fn wait(mut self, timeout: Duration) -> Outcome {
        let timeout = if A_COMMAND_HUNG.load(Ordering::Relaxed) {
            timeout.min(TIMEOUT_AFTER_A_HANG)
        } else {
            timeout
        };
        let mut timed_out = false;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for child") {
                break Some(status);
            }
            if self.start.elapsed() > timeout {
                timed_out = true;
                A_COMMAND_HUNG.store(true, Ordering::Relaxed);
                kill_group(&mut self.child);
                break self.child.wait().ok();
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let elapsed = self.start.elapsed();
        Outcome {
            command: self.command.clone(),
            success: !timed_out && status.is_some_and(|s| s.success()),
            code: status.and_then(|s| s.code()),
            timed_out,
            timeout,
            elapsed,
            stdout: std::fs::read(&self.out_path).unwrap_or_default(),
            stderr: self.stderr_so_far(),
        }
    }
}

/// SIGTERM, then (unless the whole group is gone within 3 s) SIGKILL, to
/// the process group we started (`-pgid`), led by `child`.
fn kill_group(child: &mut std::process::Child) {
    let group = format!("-{}", child.id());
    let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
    // The leader is reaped first: a zombie still counts as a group member.
    let gone = |child: &mut std::process::Child| {
        matches!(child.try_wait(), Ok(Some(_)))
            && !Command::new("kill")
                .args(["-0", "--", &group])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
    };
    let deadline = Instant::now() + Duration::from_secs(3);
    while !gone(child) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = Command::new("kill")
        .args(["-KILL", "--", &group])
        .stderr(Stdio::null())
        .status();
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@+".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// One `docker buildx build` with the frontend as `BUILDKIT_SYNTAX`.
///
/// buildx insists on a Dockerfile, so the build reads an empty one from
/// stdin (`-f-`); the frontend ignores it. Progress is `plain`, so the
/// output holds every step name and the frontend's error line.
#[derive(Clone)]
pub struct Build {
    context: PathBuf,
    image: String,
    target: Option<String>,
    args: Vec<(String, String)>,
    secrets: Vec<String>,
    envs: Vec<(String, String)>,
    flags: Vec<String>,
    output: Option<PathBuf>,
    timeout: Duration,
    engine: Engine,
    file: Option<PathBuf>,
    syntax_arg: bool,
}

/// Like a derived `Debug`, but environment values are redacted.
impl std::fmt::Debug for Build {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let envs: Vec<String> = self
            .envs
            .iter()
            .map(|(k, _)| format!("{k}=<redacted>"))
            .collect();
        f.debug_struct("Build")
            .field("context", &self.context)
            .field("image", &self.image)
            .field("target", &self.target)
            .field("args", &self.args)
            .field("secrets", &self.secrets)
            .field("envs", &envs)
            .field("flags", &self.flags)
            .field("output", &self.output)
            .field("timeout", &self.timeout)
            .field("engine", &self.engine)
            .field("file", &self.file)
            .field("syntax_arg", &self.syntax_arg)
            .finish()
    }
}

impl Build {
    /// A `packager/modelpack` build of `context` with [`frontend_image`] on
    /// [`Engine::from_env`].
    pub fn new(context: impl AsRef<Path>) -> Self {
        Build {
            context: context.as_ref().to_path_buf(),
            image: frontend_image(),
            target: Some(MODELPACK_TARGET.to_string()),
            args: Vec::new(),
            secrets: Vec::new(),
            envs: Vec::new(),
            flags: Vec::new(),
            output: None,
            timeout: default_timeout(),
            engine: Engine::from_env(),
            file: None,
            syntax_arg: true,
        }
    }

    /// Runs on `engine` instead of [`Engine::from_env`].
    pub fn engine(mut self, engine: Engine) -> Self {
        self.engine = engine;
        self
    }

    /// Adds `--call <name>` (`targets`, `outline`, `check`): a subrequest
    /// instead of a build (needs buildx ≥ 0.15, i.e. not [`Engine::Current`]).
    pub fn call(self, name: &str) -> Self {
        self.flag(&format!("--call={name}"))
    }

    /// Uses another frontend image.
    pub fn image(mut self, image: &str) -> Self {
        self.image = image.to_string();
        self
    }

    /// Sets `--target`.
    pub fn target(mut self, target: &str) -> Self {
        self.target = Some(target.to_string());
        self
    }

    /// Passes no `--target` at all.
    pub fn no_target(mut self) -> Self {
        self.target = None;
        self
    }

    /// Adds `--build-arg key=value`.
    pub fn arg(mut self, key: &str, value: &str) -> Self {
        self.args.push((key.to_string(), value.to_string()));
        self
    }

    /// Adds `--secret <spec>` (e.g. `id=hf_token,env=HF_TOKEN`).
    pub fn secret(mut self, spec: &str) -> Self {
        self.secrets.push(spec.to_string());
        self
    }

    /// Sets an environment variable of the `docker` process only (e.g. the
    /// value behind `--secret id=hf-token,env=HF_TOKEN`); it is not part of
    /// the command line.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.envs.push((key.to_string(), value.to_string()));
        self
    }

    /// Adds a raw flag, e.g. `--no-cache` or `--allow=network.host`.
    /// Flags with a value must be one word (`--allow=network.host`) or be
    /// added as two flags.
    pub fn flag(mut self, flag: &str) -> Self {
        self.flags.push(flag.to_string());
        self
    }

    /// Adds `--no-cache`.
    pub fn no_cache(self) -> Self {
        self.flag("--no-cache")
    }

    /// Exports the result with `-o type=local,dest=<dir>`.
    pub fn output(mut self, dir: impl AsRef<Path>) -> Self {
        self.output = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Reads the build definition (a model recipe) from `file` with
    /// `-f <file>` instead of an empty one from stdin.
    pub fn file(mut self, file: impl AsRef<Path>) -> Self {
        self.file = Some(file.as_ref().to_path_buf());
        self
    }

    /// Passes no `BUILDKIT_SYNTAX` build arg: the file's `# syntax=` line
    /// must select the frontend.
    pub fn no_syntax_arg(mut self) -> Self {
        self.syntax_arg = false;
        self
    }

    /// Kills the build after `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The arguments after `docker`.
    pub fn argv(&self) -> Vec<String> {
        let mut a: Vec<String> = vec!["buildx".into(), "build".into(), "--progress=plain".into()];
        if self.syntax_arg {
            a.push("--build-arg".into());
            a.push(format!("BUILDKIT_SYNTAX={}", self.image));
        }
        if let Some(t) = &self.target {
            a.push("--target".into());
            a.push(t.clone());
        }
        for (k, v) in &self.args {
            a.push("--build-arg".into());
            a.push(format!("{k}={v}"));
        }
        for s in &self.secrets {
            a.push("--secret".into());
            a.push(s.clone());
        }
        a.extend(self.flags.iter().cloned());
        if let Some(dir) = &self.output {
            a.push("-o".into());
            a.push(format!("type=local,dest={}", dir.display()));
        }
        match &self.file {
            Some(f) => {
                a.push("-f".into());
                a.push(f.display().to_string());
            }
            None => a.push("-f-".into()),
        }
        a.push(self.context.display().to_string());
        a
    }

    /// Runs the build to the end (or the timeout).
    pub fn run(&self) -> Outcome {
        self.spawn().wait(self.timeout)
    }

    /// Starts the build without waiting; [`Running::wait`] with
    /// [`Build::timeout_value`] ends it.
    pub fn spawn(&self) -> Running {
        let mut envs = self.engine.envs();
        envs.extend(self.envs.iter().cloned());
        spawn_with_env(&self.engine.docker(), &self.argv(), &envs)
    }

    /// The timeout set with [`Build::timeout`] (or the default).
    pub fn timeout_value(&self) -> Duration {
        self.timeout
    }

    /// The engine it runs on.
    pub fn engine_value(&self) -> Engine {
        self.engine
    }
}

/// Runs `oras args…` with the default timeout.
pub fn oras(args: &[&str]) -> Outcome {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    run("oras", &args, default_timeout())
}

/// Runs `skopeo args…` with the default timeout.
pub fn skopeo(args: &[&str]) -> Outcome {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    run("skopeo", &args, default_timeout())
}
