//! End-to-end, under emulation: the linux/arm64 binary and image
//! (integration/build-binaries.sh, integration/build-image-multiarch.sh)
//! behave as the amd64 ones.
//!
//! - The arm64 CLI, run by `qemu-aarch64-static`, packs a folder into the
//!   very manifest (same digest) the amd64 CLI writes, in every layer
//!   format and with one CPU, two, and every CPU (the compressors' worker
//!   count follows the CPUs the process may run on, which `taskset` sets).
//! - The multi-arch index holds a linux/amd64 and a linux/arm64 image, each
//!   with its machine's binary; the arm64 one, pinned by the digest of its
//!   manifest, answers `--call targets` on Docker 28.5 with the
//!   containerd image store, the engine running it through the kernel's
//!   binfmt_misc handler for qemu-aarch64.
//!
//! Environment:
//! - `MODELPACK_ARM64_CLI`: the arm64 binary (default `dist/linux-arm64/modelpack-frontend`);
//!   the amd64 one is `MODELPACK_CLI` as in the other CLI tests.
//! - `MODELPACK_MULTIARCH_IMAGE`: the multi-arch index (default
//!   `127.0.0.1:5000/modelpack-frontend:multi-test`, what
//!   integration/build-image-multiarch.sh pushes by default).
//! - `CRANE`: the crane binary (else `crane` on PATH).
//!
//! `#[ignore]`d like every engine test, and not run by integration/test.sh:
//! integration/test-arm64.sh builds what they need and runs them. A missing
//! tool (qemu-aarch64-static, taskset, crane, binfmt_misc's qemu-aarch64)
//! skips them on a developer's machine but fails them when `CI=true`.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use integration::engine::{self, Build, Engine};
use integration::fs::{self, TempDir};
use oci_registry::testing::{require_tool, skip_without};

/// The multi-arch index integration/build-image-multiarch.sh pushes by default.
const DEFAULT_MULTIARCH_IMAGE: &str = "127.0.0.1:5000/modelpack-frontend:multi-test";

/// The arm64 CLI binary, or None (after saying so; a panic when `CI=true`)
/// when it has not been built.
fn arm64_cli() -> Option<PathBuf> {
    let bin = std::env::var_os("MODELPACK_ARM64_CLI")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| integration::repo_root().join("dist/linux-arm64/modelpack-frontend"));
    if bin.is_file() {
        Some(bin)
    } else {
        skip_without(&format!(
            "{} (run integration/build-binaries.sh)",
            bin.display()
        ));
        None
    }
}

/// The CPUs this process may run on, from `/proc/self/status`
/// (`Cpus_allowed_list: 0-3,6`).
fn allowed_cpus() -> Vec<u32> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .expect("Cpus_allowed_list in /proc/self/status")
        .trim();
    let mut cpus = Vec::new();
    for part in list.split(',') {
        match part.split_once('-') {
            Some((a, b)) => cpus.extend(a.parse::<u32>().unwrap()..=b.parse::<u32>().unwrap()),
            None => cpus.push(part.parse().unwrap()),
        }
    }
    cpus
}

/// A folder with a weight file big enough for several zstd jobs (4 MiB
/// each), a config, a nested file and an executable script.
fn model_dir() -> TempDir {
    let dir = TempDir::new("arm64-model");
    let root = dir.path();
    fs::write_file(
        root,
        "config.json",
        br#"{"architectures":["TinyForCausalLM"]}"#,
    );
    // Half random, half zeros: the compressed blobs differ from the raw ones.
    let mut weights = fs::pseudo_random_bytes(6 << 20, fs::fresh_seed());
    weights.resize(12 << 20, 0);
    fs::write_file(root, "model.safetensors", &weights);
    fs::write_file(root, "tokenizer/vocab.json", br#"{"a":0}"#);
    let script = fs::write_file(root, "scripts/run.py", b"print('hi')\n");
    fs::set_mode(&script, 0o755);
    dir
}

/// Runs `prefix… pack <dir> -o <out> --layer-packaging <format> …`;
/// returns the manifest digest `index.json` names.
fn pack(prefix: &[String], dir: &std::path::Path, format: &str, out: &std::path::Path) -> String {
    let mut cmd = Command::new(&prefix[0]);
    cmd.args(&prefix[1..])
        .arg("pack")
        .arg(dir)
        .arg("-o")
        .arg(out)
        .args(["--name", "same", "--layer-packaging", format])
        .args(["--source-date-epoch", "1700000000"])
        .env_remove("HF_TOKEN")
        .env_remove("HF_ENDPOINT");
    let run = cmd.output().expect("run pack");
    assert!(
        run.status.success(),
        "{prefix:?} pack {format}: {}\n{}",
        run.status,
        String::from_utf8_lossy(&run.stderr)
    );
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
    index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
#[ignore = "needs the arm64 binary and qemu-user-static: run integration/test-arm64.sh"]
fn arm64_cli_packs_the_same_manifest_as_amd64_in_every_format_and_thread_count() {
    let Some(arm64) = arm64_cli() else { return };
    if !require_tool("qemu-aarch64-static") || !require_tool("taskset") {
        return;
    }
    let amd64 = integration::cli_binary();
    let cpus = allowed_cpus();
    let mut counts = vec![1, 2, cpus.len()];
    counts.retain(|&n| n <= cpus.len());
    counts.dedup();

    let model = model_dir();
    for format in ["raw", "tar", "tar+gzip", "tar+zstd"] {
        let out = TempDir::new("arm64-out");
        let want = pack(
            &[amd64.display().to_string()],
            model.path(),
            format,
            &out.join("amd64"),
        );
        for &n in &counts {
            let list: Vec<String> = cpus[..n].iter().map(u32::to_string).collect();
            let prefix = [
                "taskset".to_string(),
                "-c".to_string(),
                list.join(","),
                "qemu-aarch64-static".to_string(),
                arm64.display().to_string(),
            ];
            let got = pack(
                &prefix,
                model.path(),
                format,
                &out.join(format!("arm64-{n}")),
            );
            assert_eq!(
                got, want,
                "{format}, {n} CPUs: the arm64 manifest differs from the amd64 one"
            );
            // Same blobs byte for byte (the manifest digest covers them,
            // this names the file that differs if it ever does not).
            assert_eq!(
                fs::read_tree(&out.join(format!("arm64-{n}"))),
                fs::read_tree(&out.join("amd64")),
                "{format}, {n} CPUs: layouts differ"
            );
        }
    }
}

/// The crane binary: `CRANE`, else `crane` on PATH.
fn crane() -> Option<String> {
    match std::env::var("CRANE") {
        Ok(c) if !c.is_empty() => Some(c),
        _ => oci_registry::testing::which("crane").then(|| "crane".to_string()),
    }
}

#[test]
#[ignore = "needs the multi-arch image and binfmt_misc: run integration/test-arm64.sh"]
fn arm64_frontend_image_answers_call_targets_under_emulation() {
    let binfmt = std::path::Path::new("/proc/sys/fs/binfmt_misc/qemu-aarch64");
    let registered = std::fs::read_to_string(binfmt).unwrap_or_default();
    if !registered.starts_with("enabled") {
        skip_without("binfmt_misc's qemu-aarch64 handler (install qemu-user-static)");
        return;
    }
    // The engine runs the frontend in its own mount namespace: the handler
    // must have opened its interpreter when registered (flag F).
    let flags = registered
        .lines()
        .find_map(|l| l.strip_prefix("flags: "))
        .unwrap_or_default();
    assert!(
        flags.contains('F'),
        "{} lacks flag F: {registered}",
        binfmt.display()
    );
    let Some(crane) = crane() else {
        skip_without("crane (set CRANE or put it on PATH)");
        return;
    };
    let image = std::env::var("MODELPACK_MULTIARCH_IMAGE")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_MULTIARCH_IMAGE.to_string());

    let index = engine::run(
        &crane,
        &["manifest".into(), "--insecure".into(), image.clone()],
        Duration::from_secs(60),
    );
    index.assert_success();
    let index: serde_json::Value = serde_json::from_slice(&index.stdout).unwrap();
    let platform_digest = |arch: &str| {
        index["manifests"]
            .as_array()
            .unwrap_or_else(|| panic!("{image} is not an index: {index:#}"))
            .iter()
            .find(|m| m["platform"]["os"] == "linux" && m["platform"]["architecture"] == arch)
            .and_then(|m| m["digest"].as_str())
            .unwrap_or_else(|| panic!("{image} has no linux/{arch} manifest: {index:#}"))
            .to_string()
    };
    let repo = image.rsplit_once('@').map_or(image.as_str(), |(r, _)| r);
    let repo = match repo.rsplit_once(':') {
        Some((r, tag)) if !tag.contains('/') => r,
        _ => repo,
    };
    // Each platform's image holds the binary for its machine (the
    // Dockerfile's TARGETARCH), ELF e_machine 0x3e (x86-64) or 0xb7 (AArch64).
    for (arch, machine) in [("amd64", 0x3e_u16), ("arm64", 0xb7)] {
        let reference = format!("{repo}@{}", platform_digest(arch));
        let fs = engine::run(
            &crane,
            &[
                "export".into(),
                "--insecure".into(),
                reference.clone(),
                "-".into(),
            ],
            Duration::from_secs(120),
        );
        fs.assert_success();
        let mut archive = tar::Archive::new(&fs.stdout[..]);
        let mut elf = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            if path.trim_start_matches("./").trim_start_matches('/') == "modelpack-frontend" {
                std::io::Read::read_to_end(&mut entry, &mut elf).unwrap();
            }
        }
        assert!(elf.len() > 20, "{reference}: no /modelpack-frontend");
        assert_eq!(
            u16::from_le_bytes([elf[18], elf[19]]),
            machine,
            "{reference}: /modelpack-frontend is not a linux/{arch} binary"
        );
    }
    let pinned = format!("{repo}@{}", platform_digest("arm64"));

    // The pinned manifest's config says arm64: the engine runs an arm64 binary.
    let config = engine::run(
        &crane,
        &["config".into(), "--insecure".into(), pinned.clone()],
        Duration::from_secs(60),
    );
    config.assert_success();
    let config: serde_json::Value = serde_json::from_slice(&config.stdout).unwrap();
    assert_eq!(config["architecture"], "arm64", "{pinned}: {config:#}");

    Engine::Store.assert_ready();
    let ctx = TempDir::new("arm64-call-ctx");
    let outcome = Build::new(ctx.path())
        .engine(Engine::Store)
        .image(&pinned)
        .call("targets")
        .run();
    assert!(outcome.success, "{pinned}\n{}", outcome.report());
    let out = String::from_utf8_lossy(&outcome.stdout);
    for target in ["packager/modelpack", "packager/generic"] {
        assert!(
            out.contains(target),
            "--call targets lacks {target}\n{}",
            outcome.report()
        );
    }
}
