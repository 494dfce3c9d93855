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
use crate::hf_get_many;
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
    // The HTTP-source path: an engine that cannot run the download steps.
    let gateway = open_hub("main")
        .fail_when(
            |n| n.runs("hf-get-many"),
            "failed to create network: network bridge not found",
        )
        .fail_when(is_http(resolve("model.safetensors")), &mismatch);
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

/// The revision API's answer at `commit`: `config.json` and the LFS
/// files `lfs` (path, sha256).
fn info_with(commit: &str, lfs: &[(&str, String)]) -> String {
    let mut siblings = vec![json!({"rfilename": "config.json", "size": 20, "blobId": CONFIG_SHA1})];
    siblings.extend(lfs.iter().map(|(path, sha)| {
        json!({"rfilename": path, "size": WEIGHTS_SIZE,
               "blobId": "2222222222222222222222222222222222222222",
               "lfs": {"sha256": sha, "size": WEIGHTS_SIZE}})
    }));
    json!({"sha": commit, "lastModified": "2024-01-02T03:04:05.000Z", "siblings": siblings})
        .to_string()
}

/// An engine with MergeOp whose Hub serves `main` at `commit` with `lfs`.
fn branch_hub(commit: &str, lfs: &[(&str, String)]) -> FakeGateway {
    branch_hub_on(commit, lfs, true)
}

/// [`branch_hub`] on an engine with MergeOp or, `merge` false, without.
fn branch_hub_on(commit: &str, lfs: &[(&str, String)], merge: bool) -> FakeGateway {
    let gateway = if merge {
        FakeGateway::new().with_llb_cap(crate::output::CAP_MERGE)
    } else {
        FakeGateway::new()
    };
    steps_answer(gateway.file_when(
        is_http(info_url("main")),
        "answer.json",
        info_with(commit, lfs),
    ))
}

/// The download list a per-file LFS step carries in its graph.
fn download_list(solve: &crate::fake_gateway::Solved) -> hf_get_many::DownloadList {
    let data = solve
        .nodes
        .iter()
        .find_map(|n| match &n.op.op {
            Some(llb::proto::pb::op::Op::File(f)) => {
                f.actions.iter().find_map(|a| match &a.action {
                    Some(llb::proto::pb::file_action::Action::Mkfile(m)) => Some(m.data.clone()),
                    _ => None,
                })
            }
            _ => None,
        })
        .expect("the list is written by the graph");
    serde_json::from_slice(&modelpack::compact::expand(&data, "list").unwrap()).unwrap()
}

/// The solves of per-file LFS steps (head: an `hf-get-many` step named
/// after one file), in order, once each (a packing step's meta output is
/// solved too, to read it).
fn per_file_steps(gateway: &FakeGateway) -> Vec<crate::fake_gateway::Solved> {
    let mut seen = std::collections::BTreeSet::new();
    gateway
        .solves()
        .into_iter()
        .filter(|s| {
            s.head.as_ref().is_some_and(|h| {
                h.runs("hf-get-many")
                    && h.name.starts_with("fetch ")
                    && h.name.contains(".safetensors (")
                    && seen.insert(h.name.clone())
            })
        })
        .collect()
}

/// The ops of a solve, marshalled (the graph without its progress names).
fn op_bytes(solve: &crate::fake_gateway::Solved) -> Vec<Vec<u8>> {
    use prost::Message;
    solve.nodes.iter().map(|n| n.op.encode_to_vec()).collect()
}

#[tokio::test]
async fn a_branchs_lfs_files_are_one_step_each_keyed_by_content_not_by_the_commit() {
    let lfs = [("model.safetensors", weights_sha())];
    let gateway = branch_hub(COMMIT, &lfs);
    let (request, output, hf) = setup(&gateway, "hf://org/repo").await;
    let (r, _) = build_layout(&gateway, &request, &output, &hf)
        .await
        .unwrap();
    assert_returned_the_result(&gateway, &r);
    let steps = per_file_steps(&gateway);
    assert_eq!(steps.len(), 1, "{:#?}", gateway.solves());
    let step = &steps[0];
    assert_eq!(
        step.head.as_ref().unwrap().name,
        "fetch model.safetensors (4.10 kB) of org/repo@main into blobs/sha256"
    );
    let list = download_list(step);
    assert_eq!(
        list,
        hf_get_many::DownloadList {
            connections: 1,
            files: vec![hf_get_many::Download {
                url: format!("{EP}/org/repo/resolve/main/model.safetensors"),
                path: format!("blobs/sha256/{}", weights_sha()),
                git_sha1: None,
                sha256: Some(weights_sha()),
                layer: None,
            }],
        },
        "the file at the branch, checked against its listed sha256, to its blob path"
    );
    assert!(
        !step.nodes.iter().any(Node::mounts_token),
        "no token without a refusal"
    );
    // No HTTP source for the LFS file, no copy of it: the layout stands on
    // the step's output.
    assert!(!solved(&gateway, is_http(resolve("model.safetensors"))));
    let result = gateway.solves().pop().unwrap();
    assert!(result
        .nodes
        .iter()
        .any(|n| n.name == step.head.as_ref().unwrap().name));
    assert!(
        !result.nodes.iter().any(|n| n.name.contains("raw file(s)")),
        "{:#?}",
        result.nodes.iter().map(|n| &n.name).collect::<Vec<_>>()
    );
    assert!(solved(&gateway, |n| n.runs("sizes")), "its size is checked");

    // main moves to another commit where the file did not change: the
    // step is the same, op for op, so BuildKit's cache (or a remote one)
    // serves it without a download.
    let moved = branch_hub(&"9".repeat(40), &lfs);
    let (request, output, hf) = setup(&moved, "hf://org/repo").await;
    build_layout(&moved, &request, &output, &hf).await.unwrap();
    let again = per_file_steps(&moved);
    assert_eq!(again.len(), 1);
    assert_eq!(
        op_bytes(&again[0]),
        op_bytes(step),
        "the same step after main moved"
    );
    // ... while a changed file is a new step.
    let changed = branch_hub(&"9".repeat(40), &[("model.safetensors", "cd".repeat(32))]);
    let (request, output, hf) = setup(&changed, "hf://org/repo").await;
    build_layout(&changed, &request, &output, &hf)
        .await
        .unwrap();
    let other = per_file_steps(&changed);
    assert_ne!(
        op_bytes(&other[0]),
        op_bytes(step),
        "a changed file, a new step"
    );
    assert_eq!(
        download_list(&other[0]).files[0].sha256,
        Some("cd".repeat(32))
    );
}

#[tokio::test]
async fn a_branchs_lfs_files_in_a_tar_format_are_written_as_layers_one_step_each_and_merged() {
    let with_merge = branch_in_tar(true).await;
    // Without MergeOp: the same steps, op for op (so a remote cache
    // exported by one kind of engine serves the other), copied into one
    // tree instead.
    assert_eq!(branch_in_tar(false).await, with_merge);
}

/// A branch of two LFS files in tar on an engine with MergeOp or without:
/// checks the steps and how they are stacked; returns the steps' ops.
async fn branch_in_tar(merge: bool) -> Vec<Vec<Vec<u8>>> {
    let lfs = [
        ("a.safetensors", "a1".repeat(32)),
        ("b.safetensors", "b2".repeat(32)),
    ];
    let layer = |hex: &str| {
        json!([{"path": "blobs/sha256/.layer", "written": {
            "digest": format!("sha256:{}", hex.repeat(32)), "size": WEIGHTS_SIZE + 1024,
            "diff_id": format!("sha256:{}", hex.repeat(32))}}])
        .to_string()
    };
    let written_by = |file: &'static str| {
        move |n: &Node| n.runs("hf-get-many") && n.name.starts_with(&format!("fetch {file} ("))
    };
    let gateway = branch_hub_on(COMMIT, &lfs, merge)
        .file_when(
            written_by("a.safetensors"),
            hf_get_many::PACKED_FILE,
            layer("e1"),
        )
        .file_when(
            written_by("b.safetensors"),
            hf_get_many::PACKED_FILE,
            layer("e2"),
        )
        .file_when(
            |n| n.runs("pack-layer"),
            modelpack_steps::pack_layer::LAYER_FILE,
            json!({"digest": format!("sha256:{}", "e3".repeat(32)), "size": 2048,
                   "diff_id": format!("sha256:{}", "e3".repeat(32))})
            .to_string(),
        );
    let mut opts = opts("hf://org/repo");
    opts.insert("build-arg:layer_packaging".into(), "tar".into());
    let request = crate::options::parse(&opts).unwrap();
    let output = crate::output::prepare(&gateway, &opts, &request, Target::ModelPack)
        .await
        .unwrap();
    let SourceSpec::HuggingFace(hf) = request.source.clone() else {
        panic!("a Hub source")
    };
    let (r, _) = build_layout(&gateway, &request, &output, &hf)
        .await
        .unwrap();
    assert_returned_the_result(&gateway, &r);
    let steps = per_file_steps(&gateway);
    assert_eq!(steps.len(), 2, "one step per LFS file");
    for (step, (path, sha)) in steps.iter().zip(&lfs) {
        assert!(step.evaluated, "each step is solved on its own first");
        let list = download_list(step);
        let d = &list.files[0];
        assert_eq!(d.url, format!("{EP}/org/repo/resolve/main/{path}"));
        assert_eq!(d.sha256.as_deref(), Some(sha.as_str()));
        assert_eq!(d.path, "blobs/sha256/.layer", "no position in the key");
        let spec = d.layer.as_ref().expect("written as its layer");
        assert_eq!((spec.format.as_str(), spec.name.as_str()), ("tar", *path));
        assert!(
            step.head
                .as_ref()
                .unwrap()
                .name
                .ends_with(", written as tar"),
            "{}",
            step.head.as_ref().unwrap().name
        );
    }
    // No pack step reads the weights again; the layout stands on the two
    // steps' outputs, merged.
    assert!(!solved(&gateway, |n| n.runs("pack-layer")
        && n.name.contains(".safetensors")));
    let result = gateway.solves().pop().unwrap();
    let merged = result.nodes.iter().find_map(|n| match &n.op.op {
        Some(llb::proto::pb::op::Op::Merge(m)) => Some(m.inputs.len()),
        _ => None,
    });
    let copied = result.nodes.iter().any(|n| {
        n.name == "copy the 2 LFS download(s) of org/repo@main into one tree (no MergeOp here)"
    });
    if merge {
        assert_eq!(merged, Some(2), "a merge op in the layout's graph");
        assert!(!copied);
    } else {
        assert_eq!(merged, None, "no merge op without MergeOp");
        assert!(copied, "the steps' outputs copied into one tree");
    }
    steps.iter().map(op_bytes).collect()
}

#[tokio::test]
async fn a_branch_on_an_engine_that_cannot_run_the_steps_falls_back_to_http_sources() {
    let gateway = branch_hub(COMMIT, &[("model.safetensors", weights_sha())]).fail_when(
        |n| n.runs("hf-get-many"),
        "failed to create network: network bridge not found",
    );
    let (request, output, hf) = setup(&gateway, "hf://org/repo").await;
    let (r, _) = build_layout(&gateway, &request, &output, &hf)
        .await
        .unwrap();
    assert_returned_the_result(&gateway, &r);
    assert_eq!(per_file_steps(&gateway).len(), 1, "the step was tried");
    assert!(solved(&gateway, |n| {
        n.http_url() == Some(resolve("model.safetensors").as_str())
            && n.http_attr("http.checksum") == Some(format!("sha256:{}", weights_sha()).as_str())
    }));
}

#[tokio::test]
async fn a_branchs_corrupted_lfs_step_names_the_file_and_that_the_branch_may_have_moved() {
    let failed = format!(
        "process \"/modelpack-frontend hf-get-many /in/downloads.json.zst /out\" did not complete successfully: exit code: {}",
        modelpack_hub::download::exit::CHECKSUM
    );
    let gateway = branch_hub(COMMIT, &[("model.safetensors", weights_sha())]).fail_when(
        |n| n.runs("hf-get-many") && n.name.contains("model.safetensors"),
        &failed,
    );
    let (request, output, hf) = setup(&gateway, "hf://org/repo").await;
    let err = build_layout(&gateway, &request, &output, &hf)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!(
            "model.safetensors from org/repo@main (commit {COMMIT}) does not match the checksum the Hub lists; or main moved to another commit since it was resolved; try again"
        )),
        "{err}"
    );
}
