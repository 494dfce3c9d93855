//! Checks that downloaded files have the size their listing gave: a raw
//! layer's descriptor takes its size from the listing, so a Hub (or
//! mirror) that lists a wrong size for an LFS file whose sha256 is right
//! would otherwise give a layout whose descriptors lie. One step per batch
//! of files mounts them read-only and `stat`s them (no reading, network
//! off); its answer is compared with the listing.

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Context as _, Result};
use llb::{Exec, Mount, NetMode, State};

use crate::gateway::{GatewayError, Solve};
use crate::steps::BINARY;

/// The file the step writes: `{"<index>": <size>}`.
pub const SIZES_FILE: &str = "sizes.json";
/// Files per step (each is one bind mount).
const BATCH: usize = 200;

/// One file to check: its state, the path inside it, the listed size and
/// the name to report.
pub struct Expected<'a> {
    /// The state holding the file.
    pub state: &'a State,
    /// The file's path inside `state`, without a leading `/`.
    pub path: String,
    /// The size the listing gave.
    pub size: u64,
    /// The file as users know it (repo path), for messages.
    pub shown: String,
}

/// `modelpack-frontend sizes <out-dir> <file>…`: writes the size of each
/// file, keyed by its position, into `<out-dir>/sizes.json`.
pub fn run(args: &[String]) -> Result<()> {
    let Some((out, files)) = args.split_first() else {
        bail!("usage: modelpack-frontend sizes <out-dir> <file>…");
    };
    let mut sizes = BTreeMap::new();
    for (i, f) in files.iter().enumerate() {
        let meta = std::fs::metadata(f).with_context(|| format!("stat {f}"))?;
        sizes.insert(i.to_string(), meta.len());
    }
    let dest = std::path::Path::new(out).join(SIZES_FILE);
    std::fs::write(&dest, serde_json::to_vec(&sizes)?)
        .with_context(|| format!("writing {}", dest.display()))?;
    Ok(())
}

/// Fails naming the first file whose size differs from its listing.
pub async fn check(
    bridge: &dyn Solve,
    image: &State,
    files: &[Expected<'_>],
    what: &str,
) -> Result<(), GatewayError> {
    for (b, batch) in files.chunks(BATCH).enumerate() {
        let mounts: Vec<String> = (0..batch.len()).map(|i| format!("/src/{i}")).collect();
        let mut args = vec![BINARY, "sizes", "/out"];
        args.extend(mounts.iter().map(String::as_str));
        let mut step = Exec::new(image, args).network(NetMode::None);
        for (f, dest) in batch.iter().zip(&mounts) {
            step = step.mount(
                Mount::bind(dest, f.state)
                    .readonly()
                    .keyed_by_definition()
                    .selector(&f.path),
            );
        }
        let state = step
            .mount(Mount::bind("/out", &State::scratch()))
            .custom_name(&format!(
                "check the sizes of {what} ({}/{})",
                b + 1,
                files.len().div_ceil(BATCH)
            ))
            .build()
            .output("/out")
            .expect("/out is a writable mount");
        let sizes: BTreeMap<String, u64> =
            crate::steps::read_json(bridge, &state, SIZES_FILE, &format!("the sizes of {what}"))
                .await?;
        for (i, f) in batch.iter().enumerate() {
            let got = sizes.get(&i.to_string()).copied();
            if got != Some(f.size) {
                return Err(GatewayError::Local(anyhow!(
                    "{}: the listing says {} bytes, the downloaded file has {}; the listing is wrong (its sha256 matched), so no faithful layout can be written; report it to the repo's owner or mirror",
                    f.shown,
                    f.size,
                    got.map_or_else(|| "none".to_string(), |g| format!("{g} bytes"))
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_written_by_position() {
        let dir = std::env::temp_dir().join(format!("sizes-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a"), b"12345").unwrap();
        std::fs::write(dir.join("b"), b"").unwrap();
        let arg = |n: &str| dir.join(n).display().to_string();
        run(&[arg(""), arg("a"), arg("b")]).unwrap();
        let sizes: BTreeMap<String, u64> =
            serde_json::from_slice(&std::fs::read(dir.join(SIZES_FILE)).unwrap()).unwrap();
        assert_eq!(
            sizes,
            BTreeMap::from([("0".to_string(), 5), ("1".to_string(), 0)])
        );
        assert!(run(&[arg(""), arg("missing")])
            .unwrap_err()
            .to_string()
            .contains("missing"));
        assert!(run(&[]).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
