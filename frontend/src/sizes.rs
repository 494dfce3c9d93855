//! Checks that downloaded files have the size their listing gave (the
//! emitter side of the `sizes` step, `modelpack_steps::sizes`): a raw
//! layer's descriptor takes its size from the listing, so a Hub (or
//! mirror) that lists a wrong size for an LFS file whose sha256 is right
//! would otherwise give a layout whose descriptors lie. One step per batch
//! of files mounts them read-only and `stat`s them (no reading, network
//! off); its answer is compared with the listing.

use std::collections::BTreeMap;

use anyhow::anyhow;
use llb::{Exec, Mount, NetMode, State};

use crate::gateway::{GatewayError, Solve};
use modelpack_steps::sizes::{NAME, SIZES_FILE};
use modelpack_steps::BINARY;

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

/// Fails naming the first file whose size differs from its listing.
pub async fn check(
    bridge: &dyn Solve,
    image: &State,
    files: &[Expected<'_>],
    what: &str,
) -> Result<(), GatewayError> {
    for (b, batch) in files.chunks(BATCH).enumerate() {
        let mounts: Vec<String> = (0..batch.len()).map(|i| format!("/src/{i}")).collect();
        let mut args = vec![BINARY, NAME, "/out"];
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
