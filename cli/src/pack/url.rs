//! `pack https://host/path/file[,…]`: each URL's file under the name the
//! frontend gives it ([`modelpack::urlsource`]), downloaded (checked
//! against `--checksum` when given) and hashed, like the frontend's HTTP
//! source and scan step. No token is ever sent to a URL source.

use anyhow::anyhow;

use super::download::{fetch_all, Job};
use super::{check_transport, Prepared};
use crate::{step, Failure};
use modelpack::patterns::PatternList;
use modelpack::plan::{Origin, PlanFile};
use modelpack::source::UrlSource;
use modelpack_hub::download::{exit, Expect, GetError};

/// Downloads the URLs `patterns` keeps into `downloads`, in the order given.
pub fn prepare(
    urls: &[UrlSource],
    patterns: &PatternList,
    default_name: &str,
    connections: usize,
    downloads: tempfile::TempDir,
) -> Result<Prepared, Failure> {
    let kept: Vec<&UrlSource> = urls
        .iter()
        .filter(|u| patterns.keeps(&u.file_name))
        .collect();
    if kept.is_empty() {
        return Err(Failure::Usage(format!(
            "--include/--exclude left none of the {} URL file name(s) to fetch; check the patterns",
            urls.len()
        )));
    }
    for u in &kept {
        if u.url != u.shown {
            return Err(Failure::Usage(format!(
                "{}: credentials in the URL (user:password@) are not sent by pack; use a public or pre-signed URL",
                u.shown
            )));
        }
        check_transport(&u.url, "SOURCE").map_err(Failure::Usage)?;
    }
    let root = downloads.path().join("files");
    let jobs: Vec<Job> = kept
        .iter()
        .map(|u| Job {
            url: u.url.clone(),
            dest: root.join(&u.file_name),
            expect: match u
                .checksum
                .as_deref()
                .and_then(|c| c.strip_prefix("sha256:"))
            {
                Some(hex) => Expect::Sha256(hex.to_string()),
                None => Expect::Anything,
            },
            size: 0,
            label: u.file_name.clone(),
        })
        .collect();
    step(&format!("downloading {} file(s)", jobs.len()));
    fetch_all(&jobs, connections, None).map_err(|(i, e)| failure(kept[i], e))?;
    let mut files = Vec::with_capacity(kept.len());
    for (u, job) in kept.iter().zip(&jobs) {
        let read = |e: std::io::Error| {
            anyhow!(
                "reading the downloaded {} from {}: {e}",
                u.file_name,
                u.shown
            )
        };
        let hashes =
            modelpack::scan::hash_reader(std::fs::File::open(&job.dest).map_err(read)?, None)
                .map_err(read)?;
        files.push(PlanFile {
            path: u.file_name.clone(),
            size: hashes.size,
            digest: hashes.digest,
            executable: false,
            origin: Origin {
                source: 0,
                path: format!("/{}", u.file_name),
            },
            packed: None,
        });
    }
    Ok(Prepared {
        root,
        files,
        default_name: default_name.to_string(),
        created_at: None,
        source_url: modelpack::urlsource::source_url(urls),
        revision: None,
        _downloads: Some(downloads),
    })
}

/// Names the URL in a failed download, with what to do about it.
fn failure(u: &UrlSource, e: GetError) -> Failure {
    let url = &u.shown;
    let message = match e.code {
        exit::CHECKSUM => format!(
            "{url}: the downloaded file does not match --checksum {}; check the checksum (sha256sum of the file) or the URL",
            u.checksum.as_deref().unwrap_or("")
        ),
        exit::AUTH => format!("{url} refused access ({}); use a public or pre-signed URL", status_of(&e.message)),
        exit::NOT_FOUND => format!("{url} was not found ({}); check the URL", status_of(&e.message)),
        exit::RATE_LIMITED => format!("{url} is rate-limiting requests (HTTP 429); wait a few minutes and try again"),
        _ => format!("fetching {url} failed: {}", e.message),
    };
    Failure::Failed(anyhow!(message))
}

/// `HTTP NNN` out of a downloader message, for a shorter line.
fn status_of(message: &str) -> &str {
    message
        .find("HTTP ")
        .and_then(|i| message.get(i..i + 8))
        .unwrap_or("HTTP error")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_name_the_url_and_what_to_do() {
        let mut u = modelpack::urlsource::parse_list("https://h/m.gguf").unwrap();
        modelpack::urlsource::apply_checksums(&mut u, &format!("sha256:{}", "ab".repeat(32)))
            .unwrap();
        let e = |code, message: &str| GetError {
            code,
            message: message.into(),
        };
        let text = |f: Failure| match f {
            Failure::Failed(e) => e.to_string(),
            Failure::Usage(m) => m,
        };
        let m = text(failure(
            &u[0],
            e(
                exit::NOT_FOUND,
                "downloading m.gguf: HTTP 404 from https://h ",
            ),
        ));
        assert_eq!(
            m,
            "https://h/m.gguf was not found (HTTP 404); check the URL"
        );
        let m = text(failure(
            &u[0],
            e(
                exit::CHECKSUM,
                "downloading m.gguf: sha256 is 00, the Hub lists ab",
            ),
        ));
        assert!(
            m.contains("does not match --checksum sha256:abab") && !m.contains("Hub"),
            "{m}"
        );
        assert!(text(failure(
            &u[0],
            e(exit::AUTH, "downloading m.gguf: HTTP 403 from https://h")
        ))
        .contains("(HTTP 403)"));
    }
}
