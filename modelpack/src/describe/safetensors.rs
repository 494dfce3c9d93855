//! safetensors headers: an 8-byte little-endian length, then a JSON object
//! `{name: {dtype, shape, data_offsets}, "__metadata__": {str: str}}`.
//! Only the header is read, never the tensor data.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// Largest header accepted; checked before anything is allocated.
pub const MAX_HEADER_LEN: u64 = 100 << 20;

/// What a safetensors header tells.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SafetensorsHeader {
    /// Element count per dtype as spelled in the file (`F16`, `BF16`, `I64` …).
    pub elements_by_dtype: BTreeMap<String, u128>,
    /// Number of tensors.
    pub tensor_count: usize,
    /// `__metadata__` string entries (non-string values are ignored).
    pub metadata: BTreeMap<String, String>,
}

impl SafetensorsHeader {
    /// Total element count over all tensors (None on overflow).
    pub fn total_elements(&self) -> Option<u128> {
        self.elements_by_dtype
            .values()
            .try_fold(0u128, |a, &n| a.checked_add(n))
    }
}

#[derive(Deserialize)]
struct TensorInfo {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: [u64; 2],
}

/// Reads the header from the start of a safetensors file.
pub fn read_header(mut r: impl Read) -> Result<SafetensorsHeader> {
    let mut len_bytes = [0u8; 8];
    r.read_exact(&mut len_bytes)
        .context("reading the 8-byte header length (file shorter than 8 bytes?)")?;
    let len = u64::from_le_bytes(len_bytes);
    if len > MAX_HEADER_LEN {
        bail!(
            "header length {len} is over the {MAX_HEADER_LEN}-byte limit (not a safetensors file?)"
        );
    }
    let mut header = Vec::new();
    r.take(len)
        .read_to_end(&mut header)
        .context("reading the JSON header")?;
    if (header.len() as u64) < len {
        bail!(
            "header length {len} is larger than the rest of the file ({} bytes)",
            header.len()
        );
    }
    parse_header_json(&header)
}

/// Parses the JSON header (the bytes after the length field).
pub fn parse_header_json(json: &[u8]) -> Result<SafetensorsHeader> {
    let map: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(json).context("the header is not a JSON object")?;
    let mut out = SafetensorsHeader::default();
    for (name, value) in map {
        if name == "__metadata__" {
            if let serde_json::Value::Object(m) = value {
                out.metadata = m
                    .into_iter()
                    .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_string())))
                    .collect();
            }
            continue;
        }
        let info: TensorInfo =
            serde_json::from_value(value).with_context(|| format!("tensor {name:?}: bad entry"))?;
        let [start, end] = info.data_offsets;
        if start > end {
            bail!("tensor {name:?}: data_offsets [{start}, {end}] run backwards");
        }
        let elements = info
            .shape
            .iter()
            .try_fold(1u128, |a, &d| a.checked_mul(u128::from(d)))
            .with_context(|| {
                format!(
                    "tensor {name:?}: shape [{}] overflows",
                    info.shape
                        .iter()
                        .map(u64::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
        let total = out.elements_by_dtype.entry(info.dtype).or_insert(0);
        *total = total
            .checked_add(elements)
            .context("element count overflows")?;
        out.tensor_count += 1;
    }
    Ok(out)
}

/// What `model.safetensors.index.json` tells.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SafetensorsIndex {
    /// `metadata.total_size`: bytes of tensor data over all shards.
    pub total_size: Option<u64>,
    /// Shard file names from `weight_map`, relative to the index's directory.
    pub shards: BTreeSet<String>,
}

#[derive(Deserialize)]
struct IndexJson {
    #[serde(default)]
    metadata: Option<IndexMetadata>,
    weight_map: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct IndexMetadata {
    #[serde(default)]
    total_size: Option<serde_json::Value>,
}

/// Parses a `model.safetensors.index.json`.
pub fn parse_index(json: &[u8]) -> Result<SafetensorsIndex> {
    let index: IndexJson = serde_json::from_slice(json)
        .context("not a safetensors index (needs a weight_map object)")?;
    // Some writers store total_size as a float.
    let total_size = index.metadata.and_then(|m| m.total_size).and_then(|v| {
        v.as_u64().or_else(|| {
            v.as_f64()
                .filter(|f| *f >= 0.0 && f.fract() == 0.0)
                .map(|f| f as u64)
        })
    });
    Ok(SafetensorsIndex {
        total_size,
        shards: index.weight_map.into_values().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(len: u64, rest: &[u8]) -> Vec<u8> {
        let mut v = len.to_le_bytes().to_vec();
        v.extend_from_slice(rest);
        v
    }

    #[test]
    fn describe_safetensors_hostile() {
        let err = read_header(&file(1 << 63, b"{}")[..]).unwrap_err();
        assert!(format!("{err:#}").contains("limit"), "{err:#}");
        let err = read_header(&file(1000, b"{}")[..]).unwrap_err();
        assert!(
            format!("{err:#}").contains("larger than the rest"),
            "{err:#}"
        );
        let err = read_header(&file(5, b"hello")[..]).unwrap_err();
        assert!(format!("{err:#}").contains("not a JSON object"), "{err:#}");
        let json = br#"{"t":{"dtype":"F32","shape":[18446744073709551615,18446744073709551615,18446744073709551615],"data_offsets":[0,0]}}"#;
        let err = read_header(&file(json.len() as u64, json)[..]).unwrap_err();
        assert!(format!("{err:#}").contains("overflows"), "{err:#}");
        let json = br#"{"t":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#;
        assert!(read_header(&file(json.len() as u64, json)[..]).is_err());
        let json = br#"{"t":{"dtype":"F32","shape":"x","data_offsets":[0,8]}}"#;
        assert!(read_header(&file(json.len() as u64, json)[..]).is_err());
        assert!(read_header(&b"abc"[..]).is_err());
        assert!(read_header(&file(2, b"[]")[..]).is_err());
    }

    #[test]
    fn describe_safetensors_counts() {
        let json = br#"{"__metadata__":{"format":"pt","n":1},"a":{"dtype":"F16","shape":[3,4],"data_offsets":[0,24]},"b":{"dtype":"F16","shape":[],"data_offsets":[24,26]},"c":{"dtype":"I64","shape":[0,5],"data_offsets":[26,26]}}"#;
        let h = read_header(&file(json.len() as u64, json)[..]).unwrap();
        assert_eq!(h.elements_by_dtype.get("F16"), Some(&13));
        assert_eq!(h.elements_by_dtype.get("I64"), Some(&0));
        assert_eq!(h.tensor_count, 3);
        assert_eq!(h.metadata.get("format").map(String::as_str), Some("pt"));
        assert_eq!(h.metadata.len(), 1);
    }
}
