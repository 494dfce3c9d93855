//! The Hub's fetch flows run whole against a fake gateway
//! ([`crate::fake_gateway`]): what they solve (HTTP sources, download
//! steps, the token retry's `hf-get` steps) and what they return or
//! explain, for a pinned commit, a branch, an engine without a default
//! network, a repo that refuses anonymous access, and failed downloads.

use std::collections::BTreeMap;

use serde_json::json;

use super::explain::TOKEN_HINT;
use super::*;
use crate::fake_gateway::{FakeGateway, Node};
use crate::targets::Target;
use modelpack::source::SourceSpec;

const EP: &str = modelpack_hub::DEFAULT_ENDPOINT;
const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
/// The small file's git blob id, in the listing and in the scan.
const CONFIG_SHA1: &str = "1111111111111111111111111111111111111111";
const WEIGHTS_SIZE: u64 = 4096;

fn weights_sha() -> String {
    "ab".repeat(32)
}

fn info_url(revision: &str) -> String {
    format!("{EP}/api/models/org/repo/revision/{revision}?blobs=true")
}

fn resolve(path: &str) -> String {
    format!("{EP}/org/repo/resolve/{COMMIT}/{path}")
}

/// The revision API's answer: a small `config.json` and one LFS file.
fn info() -> String {
    json!({
        "sha": COMMIT,
        "lastModified": "2024-01-02T03:04:05.000Z",
        "siblings": [
            {"rfilename": "config.json", "size": 20, "blobId": CONFIG_SHA1},
            {"rfilename": "model.safetensors", "size": WEIGHTS_SIZE,
             "blobId": "2222222222222222222222222222222222222222",
             "lfs": {"sha256": weights_sha(), "size": WEIGHTS_SIZE}},
        ],
    })
    .to_string()
}

fn opts(source: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("build-arg:source".to_string(), source.to_string())])
}

/// The request, its output (a layout) and its Hub reference.
async fn setup(gateway: &FakeGateway, source: &str) -> (Request, Output, HfRef) {
    let opts = opts(source);
    let request = crate::options::parse(&opts).expect("the options parse");
    let output = crate::output::prepare(gateway, &opts, &request, Target::ModelPack)
        .await
        .expect("an output");
    let SourceSpec::HuggingFace(hf) = request.source.clone() else {
        panic!("a Hub source")
    };
    (request, output, hf)
}

fn is_http(url: String) -> impl Fn(&Node) -> bool {
    move |n| n.http_url() == Some(url.as_str())
}

fn is_hf_get(url: String) -> impl Fn(&Node) -> bool {
    move |n| n.runs("hf-get") && n.args().and_then(|a| a.get(2)) == Some(&url)
}

/// The steps' answers every flow needs: the small files' scan, the sizes
/// of the LFS file, the model headers.
fn steps_answer(gateway: FakeGateway) -> FakeGateway {
    let listing = json!({"files": [{
        "path": "config.json", "size": 20, "digest": format!("sha256:{}", "cd".repeat(32)),
        "executable": false, "git_sha1": CONFIG_SHA1,
    }]});
    gateway
        .file_when(
            |n| n.runs("scan"),
            modelpack_steps::scan::LISTING_FILE,
            listing.to_string(),
        )
        .file_when(
            |n| n.runs("sizes"),
            modelpack_steps::sizes::SIZES_FILE,
            json!({"0": WEIGHTS_SIZE}).to_string(),
        )
        .file_when(|n| n.runs("describe"), steps::FACTS_FILE, "{}")
}

/// A Hub that serves the repo at `revision` to anyone.
fn open_hub(revision: &str) -> FakeGateway {
    steps_answer(FakeGateway::new().file_when(is_http(info_url(revision)), "answer.json", info()))
}

/// Whether some successful solve held an op matching `pred`.
fn solved(gateway: &FakeGateway, pred: impl Fn(&Node) -> bool) -> bool {
    gateway.solved_nodes().iter().any(pred)
}

/// The returned ref is the last solve's, sent as the build's result.
fn assert_returned_the_result(gateway: &FakeGateway, r: &Reference) {
    let solves = gateway.solves();
    let last = solves.last().expect("solves");
    assert!(last.result && last.failed.is_none(), "{last:?}");
    assert_eq!(r.0, format!("fake-{}", solves.len() - 1));
}

#[tokio::test]
async fn a_pinned_commit_is_fetched_by_download_steps_into_blob_paths() {
    let gateway = open_hub(COMMIT);
    let (request, output, hf) = setup(&gateway, &format!("hf://org/repo@{COMMIT}")).await;
    let (r, _) = build_layout(&gateway, &request, &output, &hf)
        .await
        .unwrap();
    assert_returned_the_result(&gateway, &r);
    assert!(solved(&gateway, is_http(info_url(COMMIT))));
    // One cached step downloads the LFS file to its blob path, another the
    // small files; no file is a BuildKit HTTP source.
    let lfs_step = |n: &Node| {
        n.runs("hf-get-many")
            && n.name
                == format!(
                    "fetch 1 LFS file(s) of org/repo@{} (4.10 kB, 1 at a time) into blobs/sha256",
                    &COMMIT[..12]
                )
    };
    assert!(solved(&gateway, lfs_step), "{:#?}", gateway.solved_nodes());
    assert!(solved(&gateway, |n| n.runs("hf-get-many")
        && n.name.starts_with("fetch 1 small file(s) of org/repo@")));
    assert!(!solved(&gateway, |n| n
        .http_url()
        .is_some_and(|u| u.contains("/resolve/"))));
    assert!(
        !solved(&gateway, Node::mounts_token),
        "no token without a refusal"
    );
    // The LFS file's listed size was checked; the layout stands on the step.
    assert!(solved(&gateway, |n| n.runs("sizes")));
    let result = gateway.solves().pop().unwrap();
    assert!(
        result.nodes.iter().any(lfs_step),
        "the layout is written on the download step's output"
    );
}

#[tokio::test]
async fn a_branchs_lfs_files_are_checksummed_http_sources_solved_one_by_one() {
    let gateway = open_hub("main");
    let (request, output, hf) = setup(&gateway, "hf://org/repo").await;
    let (r, _) = build_layout(&gateway, &request, &output, &hf)
        .await
        .unwrap();
    assert_returned_the_result(&gateway, &r);
    assert!(solved(&gateway, is_http(info_url("main"))));
    // The file is fetched from the commit the branch pointed at, keyed by
    // its sha256, through a step that changes nothing (so remote caches
    // hold it).
    let weights = gateway
        .solves()
        .into_iter()
        .find(|s| {
            s.head
                .as_ref()
                .is_some_and(|h| h.name == "fetched model.safetensors")
        })
        .expect("the LFS download solved on its own");
    assert!(weights.evaluated && weights.failed.is_none());
    let source = weights
        .nodes
        .iter()
        .find(|n| n.http_url() == Some(resolve("model.safetensors").as_str()))
        .expect("an HTTP source at the commit");
    assert_eq!(
        source.http_attr("http.checksum"),
        Some(format!("sha256:{}", weights_sha()).as_str())
    );
    assert!(!solved(&gateway, |n| n.runs("hf-get-many")
        && n.name.contains("LFS")));
    // The small files still come from one step.
    assert!(solved(&gateway, |n| n.runs("hf-get-many")
        && n.name.contains("small file(s)")));
}

#[tokio::test]
async fn without_a_default_network_the_files_fall_back_to_http_sources() {
    let gateway = open_hub(COMMIT).fail_when(
        |n| n.runs("hf-get-many"),
        "failed to create network: network bridge not found",
    );
    let (request, output, hf) = setup(&gateway, &format!("hf://org/repo@{COMMIT}")).await;
    let (r, _) = build_layout(&gateway, &request, &output, &hf)
        .await
        .unwrap();
    assert_returned_the_result(&gateway, &r);
    let failed: Vec<_> = gateway
        .solves()
        .into_iter()
        .filter(|s| s.failed.is_some())
        .collect();
    assert_eq!(
        failed.len(),
        2,
        "the small files' step and the LFS files' step were tried"
    );
    assert!(failed
        .iter()
        .all(|s| s.head.as_ref().is_some_and(|h| h.runs("hf-get-many"))));
    // Then each file is a BuildKit HTTP source: the small one gathered and
    // scanned, the LFS one checksummed.
    assert!(solved(&gateway, is_http(resolve("config.json"))));
    assert!(solved(&gateway, |n| {
        n.http_url() == Some(resolve("model.safetensors").as_str())
            && n.http_attr("http.checksum") == Some(format!("sha256:{}", weights_sha()).as_str())
    }));
}

/// BuildKit's text for an HTTP source the server refused.
const REFUSED: &str = "failed to load cache key: invalid response status 401";

#[tokio::test]
async fn a_refused_repo_is_fetched_again_by_steps_mounting_the_token_secret() {
    let gateway = steps_answer(
        FakeGateway::new()
            .fail_when(is_http(info_url(COMMIT)), REFUSED)
            .file_when(is_hf_get(info_url(COMMIT)), "answer.json", info()),
    );
    let (request, output, hf) = setup(&gateway, &format!("hf://org/repo@{COMMIT}")).await;
    let (r, _) = build_layout(&gateway, &request, &output, &hf)
        .await
        .unwrap();
    assert_returned_the_result(&gateway, &r);
    let solves = gateway.solves();
    assert_eq!(
        solves[0].failed.as_deref(),
        Some(REFUSED),
        "the anonymous try came first"
    );
    assert!(solves[0]
        .head
        .as_ref()
        .is_some_and(|h| h.http_url() == Some(info_url(COMMIT).as_str())));
    // The second attempt: the revision, and each LFS file, by an hf-get
    // step with the secret mounted; the small files by a step with it too.
    let with_token = |url: String| {
        let is = is_hf_get(url);
        move |n: &Node| is(n) && n.mounts_token()
    };
    assert!(solved(&gateway, with_token(info_url(COMMIT))));
    assert!(solved(&gateway, |n| with_token(resolve(
        "model.safetensors"
    ))(n)
        && n.args().is_some_and(
            |a| a.last() == Some(&format!("sha256:{}", weights_sha()))
        )));
    assert!(solved(&gateway, |n| n.runs("hf-get-many") && n.mounts_token()));
    // Nothing of the repo came anonymously after the refusal.
    assert!(!solves[1..]
        .iter()
        .flat_map(|s| &s.nodes)
        .any(|n| n.http_url().is_some()));
}

#[tokio::test]
async fn a_repo_refused_with_the_token_too_says_how_to_pass_one() {
    let denied = format!(
        "process \"/modelpack-frontend hf-get {}\" did not complete successfully: exit code: {}",
        info_url(COMMIT),
        modelpack_hub::download::exit::AUTH
    );
    let gateway = FakeGateway::new()
        .fail_when(is_http(info_url(COMMIT)), REFUSED)
        .fail_when(is_hf_get(info_url(COMMIT)), &denied);
    let (request, output, hf) = setup(&gateway, &format!("hf://org/repo@{COMMIT}")).await;
    let err = build_layout(&gateway, &request, &output, &hf)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!("{EP} refused access to org/repo: the repo does not exist, or it is private or gated; {TOKEN_HINT}")),
        "{err}"
    );
    assert!(err.ends_with(&format!("(BuildKit: {denied})")), "{err}");
    assert_eq!(gateway.solves().len(), 2, "one try each way, nothing more");
}

#[tokio::test]
async fn a_missing_revision_is_told_from_a_missing_repo() {
    const NOT_FOUND: &str = "failed to load cache key: invalid response status 404";
    let repo_api = format!("{EP}/api/models/org/repo");
    let gateway = FakeGateway::new()
        .fail_when(is_http(info_url("nope")), NOT_FOUND)
        .file_when(is_http(repo_api.clone()), "answer.json", "{}");
    let (request, output, hf) = setup(&gateway, "hf://org/repo@nope").await;
    let err = build_layout(&gateway, &request, &output, &hf)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("revision \"nope\" not found in org/repo on"),
        "{err}"
    );
    assert!(
        solved(&gateway, is_http(repo_api.clone())),
        "the repo was looked up"
    );

    let gateway = FakeGateway::new()
        .fail_when(is_http(info_url("nope")), NOT_FOUND)
        .fail_when(is_http(repo_api), NOT_FOUND);
    let err = build_layout(&gateway, &request, &output, &hf)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!("repository org/repo not found on {EP}")),
        "{err}"
    );
}

#[tokio::test]
async fn a_corrupted_lfs_download_names_the_file_and_its_listed_sha256() {
    let mismatch = format!(
        "digest mismatch sha256:{}: sha256:{}",
        "ff".repeat(32),
        weights_sha()
    );
    let gateway = open_hub("main").fail_when(is_http(resolve("model.safetensors")), &mismatch);
    let (request, output, hf) = setup(&gateway, "hf://org/repo").await;
    let err = build_layout(&gateway, &request, &output, &hf)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!(
            "model.safetensors from org/repo@main (commit {COMMIT}): the downloaded bytes do not match the sha256 {}",
            weights_sha()
        )),
        "{err}"
    );
    assert!(
        !gateway.solves().iter().any(|s| s.result),
        "no layout was solved"
    );
}

#[tokio::test]
async fn a_composed_hub_source_retries_with_the_token_and_checks_sizes() {
    let gateway = steps_answer(
        FakeGateway::new()
            .fail_when(is_http(info_url("main")), REFUSED)
            .file_when(is_hf_get(info_url("main")), "answer.json", info()),
    );
    let (request, _, hf) = setup(&gateway, "hf://org/repo").await;
    let (files, states, info) = fetch_pinned(&gateway, &request, &hf).await.unwrap();
    assert_eq!(info.commit, COMMIT);
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["model.safetensors", "config.json"]);
    assert_eq!(
        states.len(),
        2,
        "the small files' tree and the LFS download"
    );
    assert!(solved(&gateway, |n| is_hf_get(resolve(
        "model.safetensors"
    ))(n)
        && n.mounts_token()));
    assert!(solved(&gateway, |n| n.runs("sizes")));
}
