//! Data a build graph carries to a step of our own image, zstd-compressed.
//!
//! A solve request is one gRPC message, and BuildKit 0.13 (Docker 26)
//! refuses messages over 4 MiB. Bytes written by a file op travel inside
//! the graph verbatim, so a repo of thousands of files (its download list,
//! its manifest) would not fit. Those inputs go in compressed instead and
//! the step expands them. The compressed bytes are part of the step's
//! cache key, so they are made deterministically: one thread, fixed level
//! and window, whatever the machine.

use std::io::{Read, Write};

use anyhow::{bail, Context, Result};

/// zstd level: within 15 % of level 19's size at 1/40 of its time on a
/// 10,000-layer manifest.
const LEVEL: i32 = 9;
/// Window of 8 MiB with long-distance matching, so a digest repeated
/// megabytes later (a config's diff id after its manifest's layer) is
/// found.
const WINDOW_LOG: u32 = 23;
/// Largest expanded input accepted: far above any plan's documents.
pub const MAX_EXPANDED: u64 = 512 << 20;

/// `data` compressed, the same bytes on every machine.
pub fn compress(data: &[u8]) -> Vec<u8> {
    let run = || -> std::io::Result<Vec<u8>> {
        let mut encoder = zstd::stream::Encoder::new(Vec::new(), LEVEL)?;
        encoder.long_distance_matching(true)?;
        encoder.window_log(WINDOW_LOG)?;
        encoder.include_checksum(true)?;
        encoder.write_all(data)?;
        encoder.finish()
    };
    run().expect("compressing into memory cannot fail")
}

/// Expands what [`compress`] made; `what` names it in errors.
pub fn expand(compressed: &[u8], what: &str) -> Result<Vec<u8>> {
    let decoder =
        zstd::stream::Decoder::new(compressed).with_context(|| format!("opening {what}"))?;
    let mut out = Vec::new();
    decoder
        .take(MAX_EXPANDED + 1)
        .read_to_end(&mut out)
        .with_context(|| format!("expanding {what} (zstd): the step's input is damaged"))?;
    if out.len() as u64 > MAX_EXPANDED {
        bail!("{what} expands to more than {MAX_EXPANDED} bytes");
    }
    Ok(out)
}

/// Reads and expands the file at `path`.
pub fn read(path: &std::path::Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    expand(&bytes, &path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_is_deterministic() {
        let data: Vec<u8> = (0..200_000u32)
            .flat_map(|i| format!("{{\"digest\":\"sha256:{:064x}\"}}", i * 7919).into_bytes())
            .collect();
        let a = compress(&data);
        assert_eq!(a, compress(&data), "same input, same bytes");
        assert!(a.len() * 4 < data.len(), "{} of {}", a.len(), data.len());
        assert_eq!(expand(&a, "test input").unwrap(), data);
        assert_eq!(expand(&compress(b""), "empty").unwrap(), b"");
    }

    #[test]
    fn damage_is_reported_with_what_was_read() {
        let mut a = compress(b"{\"hello\": \"world\", \"again\": \"hello world\"}");
        let mid = a.len() / 2;
        a[mid] ^= 0xff;
        let err = expand(&a, "the download list").unwrap_err();
        assert!(format!("{err:#}").contains("the download list"), "{err:#}");
        assert!(expand(b"not zstd at all", "x").is_err());
    }
}
