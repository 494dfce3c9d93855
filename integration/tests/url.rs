//! End-to-end: package files at http(s) URLs with the real `docker buildx
//! build`. The files are served by the fake hub's plain file server
//! (`/files/<path>`, `/redirect/<n>/<path>`, see `integration::hub`).
//!
//! Every test starts its own server (fresh port, so fresh URLs) and uses
//! fresh random bytes, so tests never meet each other's entries in
//! BuildKit's HTTP cache. `#[ignore]`d like the other e2e tests;
//! `integration/test.sh` runs them.

use integration::engine::{Build, Outcome};
use integration::fs::{self, TempDir};
use integration::hub::FakeHub;
use integration::layout::Layout;
use integration::sha256_digest;
use serde_json::Value;

/// A test's file server and an empty build context (the source is remote).
struct Server {
    hub: FakeHub,
    ctx: TempDir,
}

impl Server {
    fn start() -> Self {
        Server {
            hub: FakeHub::start(),
            ctx: TempDir::new("url-ctx"),
        }
    }

    fn build(&self, source: &str) -> Build {
        Build::new(self.ctx.path()).arg("source", source)
    }

    /// The server's request log, for failure messages.
    fn requests(&self) -> String {
        self.hub.stats().describe()
    }

    fn build_layout(&self, build: Build) -> (TempDir, Layout, Outcome) {
        let out = TempDir::new("url-out");
        let dest = out.join("layout");
        let outcome = build.output(&dest).run();
        assert!(
            outcome.success,
            "expected the build to succeed\n{}\n{}",
            outcome.report(),
            self.requests()
        );
        let layout = Layout::verify(&dest);
        (out, layout, outcome)
    }

    /// Runs a build that must fail with `fragment` on buildx's `ERROR:`
    /// line and export nothing; returns that line.
    fn expect_failure(&self, build: Build, fragment: &str) -> String {
        let out = TempDir::new("url-out");
        let dest = out.join("layout");
        let outcome = build.output(&dest).run();
        let line = outcome.assert_failure_with(fragment);
        assert!(
            line.starts_with("ERROR: "),
            "the error should be on buildx's ERROR line, got {line:?}\n{}",
            outcome.report()
        );
        assert!(
            !dest.join("index.json").exists(),
            "a failed build exported a layout to {}",
            dest.display()
        );
        line
    }
}

fn random(len: usize) -> Vec<u8> {
    fs::pseudo_random_bytes(len, fs::fresh_seed())
}

/// Host and port of the server, as progress names show them.
fn host(server: &Server) -> String {
    server
        .hub
        .endpoint
        .trim_start_matches("http://")
        .to_string()
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn one_url_becomes_one_layer_named_after_the_file() {
    let s = Server::start();
    let bytes = random(40_000);
    let url = s.hub.put_file("models/v1/Tiny Model-Q8_0.gguf", &bytes);
    let (_out, layout, outcome) = s.build_layout(s.build(&format!("{url}?download=true")));
    assert_eq!(
        layout.paths(),
        ["Tiny Model-Q8_0.gguf"],
        "the path is the URL's last segment, decoded, without the query"
    );
    let layer = layout.layer("Tiny Model-Q8_0.gguf");
    assert_eq!(
        layer.descriptor.digest,
        sha256_digest(&bytes),
        "raw layer digest"
    );
    assert_eq!(layer.descriptor.size, bytes.len() as u64);
    assert_eq!(layer.kind(), "weight");
    assert_eq!(
        std::fs::read(layout.blob_path(&layer.descriptor.digest)).unwrap(),
        bytes
    );
    assert_eq!(
        layout.ref_name(),
        Some("tiny-model-q8_0"),
        "default name from the file name's stem"
    );
    assert_eq!(
        layout.config["descriptor"]["sourceURL"],
        format!("{url}?download=true"),
        "descriptor.sourceURL"
    );
    let progress = format!("fetch Tiny Model-Q8_0.gguf from {}", host(&s));
    assert!(
        !outcome.lines_with(&progress).is_empty(),
        "no progress line {progress:?}\n{}",
        outcome.report()
    );
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn two_urls_give_two_layers_and_no_single_source_url() {
    let s = Server::start();
    let weights = random(20_000);
    let config = br#"{"architectures":["TinyForCausalLM"]}"#.to_vec();
    let a = s.hub.put_file("a/model.gguf", &weights);
    let b = s.hub.put_file("b/config.json", &config);
    // The scheme is case-insensitive (BuildKit's identifiers are not).
    let b = b.replacen("http://", "HTTP://", 1);
    let (_out, layout, _) = s.build_layout(s.build(&format!("{a}, {b}")).arg("name", "pair"));
    assert_eq!(layout.sorted_paths(), ["config.json", "model.gguf"]);
    assert_eq!(
        layout.layer("model.gguf").descriptor.digest,
        sha256_digest(&weights)
    );
    assert_eq!(
        layout.layer("config.json").descriptor.digest,
        sha256_digest(&config)
    );
    assert_eq!(layout.ref_name(), Some("pair"));
    assert_eq!(
        layout.config["descriptor"].get("sourceURL"),
        None,
        "several URLs have no single sourceURL"
    );
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn a_redirect_chain_is_followed() {
    let s = Server::start();
    let bytes = random(10_000);
    s.hub.put_file("r/hop.gguf", &bytes);
    let url = s.hub.redirect_url(3, "r/hop.gguf");
    let (_out, layout, _) = s.build_layout(s.build(&url));
    assert_eq!(layout.paths(), ["hop.gguf"]);
    assert_eq!(
        layout.layer("hop.gguf").descriptor.digest,
        sha256_digest(&bytes)
    );
    assert_eq!(
        layout.config["descriptor"]["sourceURL"], url,
        "sourceURL is the URL given, not where it led"
    );
    let stats = s.hub.stats();
    let paths: Vec<(String, Option<u16>)> = stats
        .requests
        .iter()
        .filter(|r| r.method == "GET")
        .map(|r| (r.path.clone(), r.status))
        .collect();
    for (hop, status) in [
        ("/redirect/3/r/hop.gguf", 302),
        ("/redirect/1/r/hop.gguf", 302),
        ("/files/r/hop.gguf", 200),
    ] {
        assert!(
            paths.contains(&(hop.to_string(), Some(status))),
            "no GET {hop} -> {status}\n{}",
            stats.describe()
        );
    }
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn a_right_checksum_passes_and_a_wrong_one_names_the_url() {
    let s = Server::start();
    let bytes = random(5_000);
    let url = s.hub.put_file("c/checked.gguf", &bytes);
    let right = sha256_digest(&bytes);
    let (_out, layout, _) = s.build_layout(s.build(&url).arg("checksum", &right));
    assert_eq!(layout.layer("checked.gguf").descriptor.digest, right);

    let other = s.hub.put_file("c/other.gguf", &random(5_000));
    let wrong = sha256_digest(&random(16));
    let line = s.expect_failure(
        s.build(&other).arg("checksum", &wrong),
        "does not match build-arg checksum",
    );
    assert!(
        line.contains(&other) && line.contains(&wrong),
        "the error names the URL and the checksum: {line}"
    );

    let line = s.expect_failure(
        s.build(&format!("{url} {other}")).arg("checksum", &right),
        "build-arg checksum: 1 checksum(s) for 2 URL(s)",
    );
    assert!(!line.contains('\n'));
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn a_missing_file_names_the_url() {
    let s = Server::start();
    let url = s.hub.file_url("nowhere/missing.gguf");
    let line = s.expect_failure(s.build(&url), "(HTTP 404)");
    assert!(
        line.contains(&format!("{url} was not found (HTTP 404)")),
        "the error names the URL: {line}\n{}",
        s.requests()
    );
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn bad_urls_fail_before_any_fetch() {
    let s = Server::start();
    let dir = format!("{}/files/dir/", s.hub.endpoint);
    s.expect_failure(s.build(&dir), "names no file");
    let a = s.hub.file_url("x/same.gguf");
    let b = s.hub.file_url("y/same.gguf");
    let line = s.expect_failure(s.build(&format!("{a},{b}")), "both give the file name");
    assert!(line.contains(&a) && line.contains(&b), "{line}");
    assert!(
        s.hub.stats().requests.is_empty(),
        "nothing is fetched\n{}",
        s.requests()
    );
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn credentials_in_the_url_never_reach_the_config() {
    let s = Server::start();
    let bytes = random(3_000);
    let url = s.hub.put_file("p/private.gguf", &bytes);
    let with_user = url.replacen("http://", "http://someone:pa55word@", 1);
    let (_out, layout, outcome) = s.build_layout(s.build(&with_user));
    assert_eq!(layout.config["descriptor"]["sourceURL"], url);
    let config = serde_json::to_string(&layout.config).unwrap();
    assert!(
        !config.contains("pa55word") && !config.contains("someone"),
        "{config}"
    );
    assert!(
        outcome.lines_with("pa55word").is_empty(),
        "the progress shows no password\n{}",
        outcome.report()
    );
}

/// The config without `descriptor.sourceURL`, the one field a URL source
/// adds over the build context.
fn without_source_url(config: &Value) -> Value {
    let mut c = config.clone();
    if let Some(d) = c["descriptor"].as_object_mut() {
        d.remove("sourceURL");
    }
    c
}

#[test]
#[ignore = "needs docker buildx and the frontend image: run integration/test.sh"]
fn the_same_files_give_the_same_digests_as_from_the_build_context() {
    let s = Server::start();
    let weights = random(30_000);
    let config = br#"{"hidden_size":64}"#.to_vec();
    let w_url = s.hub.put_file("m/model.safetensors", &weights);
    let c_url = s.hub.put_file("m/config.json", &config);
    let ctx = TempDir::new("url-same-ctx");
    fs::write_file(ctx.path(), "model.safetensors", &weights);
    fs::write_file(ctx.path(), "config.json", &config);
    for packaging in ["raw", "tar"] {
        // Two URLs: no sourceURL, so the whole manifest must be identical.
        let both = format!("{w_url} {c_url}");
        let (_a, from_urls, _) = s.build_layout(
            s.build(&both)
                .arg("name", "same")
                .arg("layer_packaging", packaging),
        );
        let (_b, from_ctx, _) = s.build_layout(
            Build::new(ctx.path())
                .arg("source", ".")
                .arg("name", "same")
                .arg("layer_packaging", packaging),
        );
        assert_eq!(
            from_urls.manifest_digest(),
            from_ctx.manifest_digest(),
            "{packaging}: manifest digests differ"
        );

        // One URL: the same layers, and a config that differs only by sourceURL.
        let (_c, one_url, _) = s.build_layout(
            s.build(&w_url)
                .arg("name", "same")
                .arg("layer_packaging", packaging),
        );
        let (_d, one_file, _) = s.build_layout(
            Build::new(ctx.path())
                .arg("source", "model.safetensors")
                .arg("name", "same")
                .arg("layer_packaging", packaging),
        );
        assert_eq!(
            one_url.manifest["layers"], one_file.manifest["layers"],
            "{packaging}: layers differ"
        );
        assert_eq!(
            without_source_url(&one_url.config),
            without_source_url(&one_file.config),
            "{packaging}: configs differ"
        );
        assert_eq!(one_url.config["descriptor"]["sourceURL"], w_url);
    }
}
