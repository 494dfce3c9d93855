//! Files at http(s) URLs: one BuildKit HTTP source per URL (buildkitd
//! fetches, follows redirects and checks `checksum`), a scan step per file
//! for its size and digest, then the shared packaging tail.

use anyhow::anyhow;
use llb::State;

use crate::buildkit_errors::{classify, Cause};
use crate::deadline::{self, Unfinished};
use crate::gateway::{GatewayError, Reference, Solve};
use crate::options::Request;
use crate::output::{Metadata, Output};
use crate::source::package;
use crate::steps;
use modelpack::plan::{ModelInfo, Origin, PlanFile};
use modelpack::scan::Listing;
use modelpack::source::UrlSource;

/// Packages the files at `urls` into the requested output.
pub async fn build_layout(
    bridge: &dyn Solve,
    request: &Request,
    output: &Output,
    urls: &[UrlSource],
) -> Result<(Reference, Metadata), GatewayError> {
    let image = steps::own_image(bridge)?;
    let (files, sources) = fetch(bridge, request, urls).await?;
    let info = ModelInfo {
        name: request.name.clone(),
        created_at: request.created_at.clone(),
        source_url: modelpack::urlsource::source_url(urls),
        revision: None,
        overrides: request.overrides.clone(),
        ..Default::default()
    };
    package::layout(
        bridge,
        &image,
        request,
        output,
        package::Fetched::new(files, sources),
        &info,
        std::future::ready(Ok(())),
    )
    .await
}

/// The files at `urls` kept by the request's patterns, one state each.
pub async fn fetch(
    bridge: &dyn Solve,
    request: &Request,
    urls: &[UrlSource],
) -> Result<(Vec<PlanFile>, Vec<State>), GatewayError> {
    let image = steps::own_image(bridge)?;
    let kept: Vec<&UrlSource> = urls
        .iter()
        .filter(|u| request.patterns.keeps(&u.file_name))
        .collect();
    if kept.is_empty() {
        return Err(anyhow!(
            "build-args include/exclude left none of the {} URL file name(s) to fetch; check the patterns",
            urls.len()
        )
        .into());
    }
    // The URLs are fetched and scanned `max_connections` at a time, within
    // `download_timeout` when given; failures are reported for the first
    // failing URL in the order given.
    let states: Vec<State> = kept.iter().map(|u| fetch_state(u)).collect();
    let jobs = kept
        .iter()
        .zip(&states)
        .map(|(u, state)| {
            let image = &image;
            async move {
                let what = format!("{} from {}", u.file_name, u.host);
                steps::scan_listing(bridge, image, state, &what, false)
                    .await
                    .map_err(|e| explain_fetch_failure(u, e))
            }
        })
        .collect();
    let listings = match deadline::run_all(jobs, request.max_connections, request.download_timeout)
        .await
    {
        Ok(listings) => listings,
        Err(Unfinished::Failed(_, e)) => return Err(e),
        Err(Unfinished::TimedOut(pending)) => {
            let names: Vec<&str> = pending
                .iter()
                .map(|&i| kept[i].file_name.as_str())
                .collect();
            let secs = request
                .download_timeout
                .map(|d| d.as_secs())
                .unwrap_or_default();
            return Err(anyhow!(
                "{}: not downloaded within {secs} s (download_timeout); the server stalled or is too slow; try again, or raise --build-arg download_timeout",
                deadline::some_names(&names)
            )
            .into());
        }
    };
    let mut files = Vec::with_capacity(kept.len());
    for (i, (u, listing)) in kept.iter().zip(listings).enumerate() {
        files.push(plan_file(u, listing, i)?);
    }
    Ok((files, states))
}

/// The HTTP source holding the body of `u` at `/<file name>`.
pub fn fetch_state(u: &UrlSource) -> State {
    let mut src = llb::source::http(&u.url)
        .filename(&u.file_name)
        .custom_name(&format!("fetch {} from {}", u.file_name, u.host));
    if let Some(c) = &u.checksum {
        src = src.checksum(c);
    }
    src.into_state()
}

/// The one file the scan of `u`'s state found, as source `source`.
fn plan_file(u: &UrlSource, listing: Listing, source: usize) -> anyhow::Result<PlanFile> {
    let Some(f) = listing.files.into_iter().find(|f| f.path == u.file_name) else {
        return Err(anyhow!(
            "fetching {} gave no file {:?}; this is a bug, please report it",
            u.shown,
            u.file_name
        ));
    };
    Ok(PlanFile {
        path: u.file_name.clone(),
        size: f.size,
        digest: f.digest,
        executable: false,
        origin: Origin {
            source,
            path: format!("/{}", u.file_name),
        },
        packed: None,
    })
}

/// Names the URL in a failed fetch, with what to do about it.
fn explain_fetch_failure(u: &UrlSource, err: GatewayError) -> GatewayError {
    let text = err.to_string();
    let url = &u.shown;
    let cause = classify(&text);
    let message = match (cause.status(), &u.checksum) {
        (_, Some(c)) if cause == Cause::DigestMismatch => format!(
            "{url}: the downloaded file does not match build-arg checksum {c}; check the checksum (sha256sum of the file) or the URL"
        ),
        (Some(s @ (401 | 403)), _) => format!(
            "{url} refused access (HTTP {s}); the file needs credentials the build does not have, use a public or pre-signed URL"
        ),
        (Some(404 | 410), _) => format!("{url} was not found (HTTP {}); check the URL", cause.status().unwrap_or(404)),
        (Some(429), _) => format!("{url} is rate-limiting requests (HTTP 429); wait a few minutes and try again"),
        (Some(s), _) if s >= 500 => format!("{url} failed (HTTP {s}); the server has trouble, try again later"),
        (Some(s), _) if s >= 300 => format!("{url} answered HTTP {s} instead of the file; check the URL"),
        (None, _) if cause != Cause::Unknown => format!("fetching {url} failed: {}", cause.phrase()),
        _ => format!("fetching {url} failed; check the URL and that the build engine can reach {}", u.host),
    };
    GatewayError::Local(anyhow!("{message} (BuildKit: {err})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    use llb::proto::pb::{self, op::Op as Kind};
    use modelpack_steps::scan::LISTING_FILE;
    use prost::Message;

    fn source_op(state: &State) -> pb::SourceOp {
        let def = state.to_definition();
        let ops: Vec<pb::Op> = def
            .def
            .iter()
            .map(|b| pb::Op::decode(b.as_slice()).unwrap())
            .collect();
        ops.into_iter()
            .find_map(|o| match o.op {
                Some(Kind::Source(s)) => Some(s),
                _ => None,
            })
            .expect("an http source")
    }

    fn urls(source: &str) -> Vec<UrlSource> {
        modelpack::urlsource::parse_list(source).unwrap()
    }

    #[test]
    fn one_http_source_per_url_with_its_file_name_and_checksum() {
        let mut u = urls("https://user:pw@h.example/d/My%20Model.gguf?x=1");
        let sha = format!("sha256:{}", "ab".repeat(32));
        modelpack::urlsource::apply_checksums(&mut u, &sha).unwrap();
        let state = fetch_state(&u[0]);
        let src = source_op(&state);
        assert_eq!(
            src.identifier,
            "https://user:pw@h.example/d/My%20Model.gguf?x=1"
        );
        assert_eq!(src.attrs["http.filename"], "My Model.gguf");
        assert_eq!(src.attrs["http.checksum"], sha);
        let def = state.to_definition();
        let name = def
            .metadata
            .values()
            .find_map(|m| m.description.get("llb.customname"))
            .unwrap();
        assert_eq!(name, "fetch My Model.gguf from h.example");
        let plain = source_op(&fetch_state(&urls("http://h/a.bin")[0]));
        assert!(!plain.attrs.contains_key("http.checksum"));
    }

    #[test]
    fn failures_name_the_url_and_never_the_credentials() {
        let mut u = urls("https://u:secret@h/m.gguf");
        let explain = |u: &UrlSource, text: &str| {
            explain_fetch_failure(u, GatewayError::Local(anyhow!("{text}"))).to_string()
        };
        let e = explain(
            &u[0],
            "failed to load cache key: invalid response status 404",
        );
        assert!(
            e.starts_with("https://h/m.gguf was not found (HTTP 404)"),
            "{e}"
        );
        assert!(!e.contains("secret"));
        assert!(explain(&u[0], "invalid response status 403").contains("refused access (HTTP 403)"));
        assert!(explain(&u[0], "invalid response status 502").contains("failed (HTTP 502)"));
        assert!(explain(&u[0], "dial tcp: connection refused")
            .starts_with("fetching https://h/m.gguf failed"));
        let sha = format!("sha256:{}", "cd".repeat(32));
        modelpack::urlsource::apply_checksums(&mut u, &sha).unwrap();
        let e = explain(&u[0], &format!("digest mismatch sha256:00: {sha}"));
        assert!(
            e.starts_with(&format!(
                "https://h/m.gguf: the downloaded file does not match build-arg checksum {sha}"
            )),
            "{e}"
        );
    }

    #[test]
    fn the_scanned_file_becomes_the_plan_file() {
        let u = &urls("https://h/x/m.gguf")[0];
        let listing = Listing {
            files: vec![modelpack::scan::ScannedFile {
                path: "m.gguf".into(),
                size: 3,
                digest: "sha256:11".into(),
                executable: false,
                git_sha1: None,
            }],
        };
        let f = plan_file(u, listing, 2).unwrap();
        assert_eq!(
            (f.path.as_str(), f.size, f.digest.as_str()),
            ("m.gguf", 3, "sha256:11")
        );
        assert_eq!(
            f.origin,
            Origin {
                source: 2,
                path: "/m.gguf".into()
            }
        );
        assert!(plan_file(u, Listing::default(), 0).is_err());
    }

    /// The whole URL flow against a fake gateway: each URL an HTTP source
    /// scanned by its own step, the layout solved as the result; and a URL
    /// the server refuses named in the error, before any layout.
    #[tokio::test]
    async fn urls_are_fetched_scanned_and_packaged_and_a_failed_one_is_named() {
        use crate::fake_gateway::{FakeGateway, Node};
        let opts = std::collections::BTreeMap::from([(
            "build-arg:source".to_string(),
            "https://h.example/m/a.gguf https://h.example/m/b.gguf".to_string(),
        )]);
        let request = crate::options::parse(&opts).unwrap();
        let listing = |name: &str| {
            serde_json::json!({"files": [{"path": name, "size": 7,
                "digest": format!("sha256:{}", "ee".repeat(32)), "executable": false}]})
            .to_string()
        };
        // The scan of a URL's tree: its step mounts that URL's source.
        let scans = |url: &'static str| {
            move |n: &Node| {
                n.runs("scan") && n.name == format!("hash {} from h.example", &url[20..])
            }
        };
        let gateway = FakeGateway::new()
            .file_when(
                scans("https://h.example/m/a.gguf"),
                LISTING_FILE,
                listing("a.gguf"),
            )
            .file_when(
                scans("https://h.example/m/b.gguf"),
                LISTING_FILE,
                listing("b.gguf"),
            )
            .file_when(|n| n.runs("describe"), steps::FACTS_FILE, "{}");
        let output =
            crate::output::prepare(&gateway, &opts, &request, crate::targets::Target::ModelPack)
                .await
                .unwrap();
        let modelpack::source::SourceSpec::Url(us) = &request.source else {
            panic!("URL sources")
        };
        let (r, _) = build_layout(&gateway, &request, &output, us).await.unwrap();
        let solves = gateway.solves();
        assert_eq!(r.0, format!("fake-{}", solves.len() - 1));
        assert!(solves.last().unwrap().result);
        for url in ["https://h.example/m/a.gguf", "https://h.example/m/b.gguf"] {
            assert!(
                solves
                    .iter()
                    .any(|s| s.head.as_ref().is_some_and(|h| h.runs("scan"))
                        && s.nodes.iter().any(|n| n.http_url() == Some(url))),
                "{url} scanned"
            );
        }

        let gateway = FakeGateway::new()
            .fail_when(
                |n| n.http_url() == Some("https://h.example/m/b.gguf"),
                "failed to load cache key: invalid response status 403",
            )
            .file_when(
                scans("https://h.example/m/a.gguf"),
                LISTING_FILE,
                listing("a.gguf"),
            );
        let err = build_layout(&gateway, &request, &output, us)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("https://h.example/m/b.gguf refused access (HTTP 403)"),
            "{err}"
        );
        assert!(!gateway.solves().iter().any(|s| s.result));
    }
}
