//! The `scan` step: walks a mounted tree and writes each regular file's
//! size, sha256 and executable bit (and with `--git-sha1` its git blob id)
//! as JSON, optionally copying every file to its blob path too
//! ([`modelpack::scan`] does the work). Only this small listing travels
//! back over gRPC.

use std::path::Path;

use anyhow::{Context, Result};
use modelpack::scan::{scan, write_blobs};

use crate::Step;

/// The step's name.
pub const NAME: &str = "scan";

/// The table entry.
pub const STEP: Step = Step {
    name: NAME,
    argv: "[--git-sha1] [--blobs <dir>] <root> <out-dir>",
    reads: "every regular file under <root> (a read-only mount)",
    writes:
        "<out-dir>/files.json (the listing); with --blobs, each file at <dir>/blobs/sha256/<hex>",
    run: |args| run(args).map(|()| 0),
};

/// Name of the listing file in the step's output.
pub const LISTING_FILE: &str = "files.json";

/// Flag asking `scan` for git blob ids too.
pub const GIT_SHA1_FLAG: &str = "--git-sha1";
/// Flag (`--blobs <dir>`) asking `scan` to copy every file it lists to
/// `<dir>/blobs/sha256/<hex>` too: its blob in a layout.
pub const BLOBS_FLAG: &str = "--blobs";

/// Entry point of `modelpack-frontend scan [--git-sha1] [--blobs <dir>] <root> <out-dir>`.
pub fn run(args: &[String]) -> Result<()> {
    let usage = "usage: modelpack-frontend scan [--git-sha1] [--blobs <dir>] <root> <out-dir>";
    let mut git_sha1 = false;
    let mut blobs = None;
    let mut rest = args;
    loop {
        match rest {
            [flag, tail @ ..] if flag == GIT_SHA1_FLAG => {
                git_sha1 = true;
                rest = tail;
            }
            [flag, dir, tail @ ..] if flag == BLOBS_FLAG => {
                blobs = Some(Path::new(dir));
                rest = tail;
            }
            _ => break,
        }
    }
    let [root, out] = rest else {
        anyhow::bail!("{usage}");
    };
    let listing = scan(Path::new(root), git_sha1)?;
    if let Some(dir) = blobs {
        let n = write_blobs(Path::new(root), &listing, dir)?;
        eprintln!("copied {n} distinct file(s) to their blob paths");
    }
    let out = Path::new(out).join(LISTING_FILE);
    std::fs::write(&out, serde_json::to_vec(&listing)?)
        .with_context(|| format!("writing {}", out.display()))?;
    eprintln!("scanned {} files under {root}", listing.files.len());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use modelpack::scan::Listing;

    #[test]
    fn blobs_are_written_once_per_content_at_their_blob_paths() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("src");
        std::fs::create_dir_all(root.join("a")).unwrap();
        std::fs::write(root.join("a/x.json"), b"{}").unwrap();
        std::fs::write(root.join("y.json"), b"{}").unwrap();
        std::fs::write(root.join("z.txt"), b"zz").unwrap();
        let out = dir.path().join("out");
        let blobs = dir.path().join("blobs");
        std::fs::create_dir_all(&out).unwrap();
        let args: Vec<String> = [
            GIT_SHA1_FLAG,
            BLOBS_FLAG,
            blobs.to_str().unwrap(),
            root.to_str().unwrap(),
            out.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        run(&args).unwrap();
        let listing: Listing =
            serde_json::from_slice(&std::fs::read(out.join(LISTING_FILE)).unwrap()).unwrap();
        assert_eq!(listing.files.len(), 3);
        assert!(listing.files.iter().all(|f| f.git_sha1.is_some()));
        let mut names: Vec<String> = std::fs::read_dir(blobs.join("blobs/sha256"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let mut want = vec![
            modelpack::digest::sha256_of(b"{}")[7..].to_string(),
            modelpack::digest::sha256_of(b"zz")[7..].to_string(),
        ];
        want.sort();
        assert_eq!(names, want);
        assert_eq!(
            std::fs::read(blobs.join("blobs/sha256").join(&want[0]))
                .unwrap()
                .len(),
            2
        );
    }
}
