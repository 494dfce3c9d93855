//! GGUF (v2 and v3, little-endian) headers: metadata key/values and tensor
//! infos. Tensor data is never read, and every count and length is bounded
//! before it is used, so a hostile header cannot allocate or loop much.

use std::io::{self, Read};

use anyhow::{bail, Context, Result};

/// Most header bytes read (metadata + tensor infos) before giving up.
pub const MAX_HEADER_BYTES: u64 = 64 << 20;
/// Longest key or kept string value; longer values are skipped, longer keys refused.
pub const MAX_STRING_LEN: u64 = 1 << 20;
/// Most tensors in one file.
pub const MAX_TENSORS: u64 = 1_000_000;
/// Most metadata entries in one file.
pub const MAX_KV: u64 = 1_000_000;
/// Most dimensions of one tensor.
pub const MAX_DIMS: u32 = 8;
/// Deepest nesting of arrays in arrays.
const MAX_ARRAY_DEPTH: u32 = 4;

/// The metadata this crate uses, from `general.*` and `split.*` keys.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GgufMetadata {
    /// `general.architecture` (e.g. "llama").
    pub architecture: Option<String>,
    /// `general.name`.
    pub name: Option<String>,
    /// `general.basename`.
    pub basename: Option<String>,
    /// `general.size_label` (e.g. "8B", "8x7B").
    pub size_label: Option<String>,
    /// `general.license`, else `general.license.name`.
    pub license: Option<String>,
    /// `general.version`.
    pub version: Option<String>,
    /// `general.file_type`: a llama.cpp `llama_ftype` number, see [`file_type_name`].
    pub file_type: Option<u32>,
    /// `split.count`: number of files of a split model.
    pub split_count: Option<u64>,
    /// `split.no`: this file's 0-based index in a split model.
    pub split_no: Option<u64>,
}

/// One tensor info.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GgufTensor {
    /// Tensor name.
    pub name: String,
    /// Product of the dimensions.
    pub elements: u128,
    /// ggml type number, see [`ggml_type_name`].
    pub ggml_type: u32,
}

/// A GGUF header.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GgufHeader {
    /// 2 or 3.
    pub version: u32,
    /// Selected metadata.
    pub metadata: GgufMetadata,
    /// The tensors of this file (a split file lists only its own).
    pub tensors: Vec<GgufTensor>,
}

/// A metadata value as far as this reader keeps it.
enum Value {
    Str(String),
    Uint(u64),
    Other,
}

/// A reader that refuses to go past a byte budget.
struct Bounded<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Bounded<R> {
    fn need(&self, n: u64, what: &str) -> Result<()> {
        if n > self.left {
            bail!("{what} needs {n} bytes, past the {MAX_HEADER_BYTES}-byte header limit");
        }
        Ok(())
    }

    fn bytes<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        self.need(N as u64, what)?;
        let mut b = [0u8; N];
        self.inner
            .read_exact(&mut b)
            .with_context(|| format!("reading {what} (file truncated?)"))?;
        self.left -= N as u64;
        Ok(b)
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.bytes(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.bytes(what)?))
    }

    fn skip(&mut self, n: u64, what: &str) -> Result<()> {
        self.need(n, what)?;
        let copied = io::copy(&mut (&mut self.inner).take(n), &mut io::sink())
            .with_context(|| format!("reading {what}"))?;
        if copied < n {
            bail!("reading {what}: file truncated");
        }
        self.left -= n;
        Ok(())
    }

    /// A string whose length is at most `MAX_STRING_LEN`; None if it was longer and skipped.
    fn string(&mut self, what: &str, refuse_long: bool) -> Result<Option<String>> {
        let len = self.u64(what)?;
        if len > MAX_STRING_LEN {
            if refuse_long {
                bail!("{what}: length {len} is over the {MAX_STRING_LEN}-byte limit");
            }
            self.skip(len, what)?;
            return Ok(None);
        }
        self.need(len, what)?;
        let mut buf = Vec::new();
        (&mut self.inner)
            .take(len)
            .read_to_end(&mut buf)
            .with_context(|| format!("reading {what}"))?;
        if (buf.len() as u64) < len {
            bail!("reading {what}: file truncated");
        }
        self.left -= len;
        Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
    }

    fn value(&mut self, ty: u32, key: &str, depth: u32) -> Result<Value> {
        Ok(match ty {
            0 => Value::Uint(u64::from(self.bytes::<1>(key)?[0])),
            2 => Value::Uint(u64::from(u16::from_le_bytes(self.bytes(key)?))),
            4 => Value::Uint(u64::from(self.u32(key)?)),
            10 => Value::Uint(self.u64(key)?),
            1 | 3 | 5 | 6 | 7 | 11 | 12 => {
                self.skip(scalar_size(ty).unwrap_or(0), key)?;
                Value::Other
            }
            8 => self.string(key, false)?.map_or(Value::Other, Value::Str),
            9 => {
                if depth >= MAX_ARRAY_DEPTH {
                    bail!("{key}: arrays nested more than {MAX_ARRAY_DEPTH} deep");
                }
                let item = self.u32(key)?;
                let count = self.u64(key)?;
                // Arrays are never kept: skip them within the byte budget.
                if let Some(size) = scalar_size(item) {
                    let total = count.saturating_mul(size);
                    self.skip(total, key)?;
                } else {
                    // Each string or array item takes at least 8 bytes, so the
                    // budget ends this loop.
                    for _ in 0..count {
                        match item {
                            8 => {
                                let len = self.u64(key)?;
                                self.skip(len, key)?;
                            }
                            9 => {
                                self.value(9, key, depth + 1)?;
                            }
                            other => bail!("{key}: unknown array item type {other}"),
                        }
                    }
                }
                Value::Other
            }
            other => bail!("{key}: unknown value type {other}"),
        })
    }
}

/// Byte size of a fixed-size GGUF value type.
fn scalar_size(ty: u32) -> Option<u64> {
    match ty {
        0 | 1 | 7 => Some(1),
        2 | 3 => Some(2),
        4..=6 => Some(4),
        10..=12 => Some(8),
        _ => None,
    }
}

/// Reads a GGUF header (magic, version, metadata, tensor infos) from the
/// start of a file; stops before the tensor data.
pub fn read_header(r: impl Read) -> Result<GgufHeader> {
    let mut r = Bounded {
        inner: io::BufReader::new(r),
        left: MAX_HEADER_BYTES,
    };
    let magic: [u8; 4] = r.bytes("the magic")?;
    if &magic != b"GGUF" {
        bail!("not a GGUF file (magic {magic:02x?}, expected \"GGUF\")");
    }
    let version = r.u32("the version")?;
    match version {
        2 | 3 => {}
        1 => bail!("GGUF version 1 is not supported (only 2 and 3)"),
        v if v.swap_bytes() == 2 || v.swap_bytes() == 3 => {
            bail!("big-endian GGUF files are not supported")
        }
        v => bail!("unsupported GGUF version {v} (only 2 and 3)"),
    }
    let tensor_count = r.u64("the tensor count")?;
    if tensor_count > MAX_TENSORS {
        bail!("tensor count {tensor_count} is over the limit of {MAX_TENSORS}");
    }
    let kv_count = r.u64("the metadata count")?;
    if kv_count > MAX_KV {
        bail!("metadata count {kv_count} is over the limit of {MAX_KV}");
    }
    let mut meta = GgufMetadata::default();
    let mut license_name = None;
    for i in 0..kv_count {
        let key = r
            .string(&format!("metadata key #{i}"), true)?
            .unwrap_or_default();
        let ty = r.u32(&key)?;
        let value = r.value(ty, &key, 0)?;
        match (key.as_str(), value) {
            ("general.architecture", Value::Str(s)) => meta.architecture = Some(s),
            ("general.name", Value::Str(s)) => meta.name = Some(s),
            ("general.basename", Value::Str(s)) => meta.basename = Some(s),
            ("general.size_label", Value::Str(s)) => meta.size_label = Some(s),
            ("general.license", Value::Str(s)) => meta.license = Some(s),
            ("general.license.name", Value::Str(s)) => license_name = Some(s),
            ("general.version", Value::Str(s)) => meta.version = Some(s),
            ("general.file_type", Value::Uint(n)) => meta.file_type = u32::try_from(n).ok(),
            ("split.count", Value::Uint(n)) => meta.split_count = Some(n),
            ("split.no", Value::Uint(n)) => meta.split_no = Some(n),
            _ => {}
        }
    }
    if meta.license.is_none() {
        meta.license = license_name;
    }
    let mut tensors = Vec::with_capacity(tensor_count.min(1024) as usize);
    for i in 0..tensor_count {
        let name = r
            .string(&format!("tensor #{i} name"), true)?
            .unwrap_or_default();
        let n_dims = r.u32(&name)?;
        if n_dims > MAX_DIMS {
            bail!("tensor {name:?}: {n_dims} dimensions, over the limit of {MAX_DIMS}");
        }
        let mut elements = 1u128;
        for _ in 0..n_dims {
            let d = r.u64(&name)?;
            elements = elements
                .checked_mul(u128::from(d))
                .with_context(|| format!("tensor {name:?}: element count overflows"))?;
        }
        let ggml_type = r.u32(&name)?;
        let _offset = r.u64(&name)?;
        tensors.push(GgufTensor {
            name,
            elements,
            ggml_type,
        });
    }
    Ok(GgufHeader {
        version,
        metadata: meta,
        tensors,
    })
}

/// llama.cpp's name of a `general.file_type` (`llama_ftype`) number, as
/// `llama-quantize` spells it: 0 → "F32", 1 → "F16", 2 → "Q4_0", 7 → "Q8_0",
/// 15 → "Q4_K_M", 32 → "BF16", 36 → "TQ1_0" … (numbers from gguf-py's
/// `LlamaFileType`, including ones llama.cpp since removed). None for 1024
/// (GUESSED) and unknown numbers.
pub fn file_type_name(file_type: u32) -> Option<&'static str> {
    Some(match file_type {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        4 => "Q4_1_SOME_F16",
        5 => "Q4_2",
        6 => "Q4_3",
        7 => "Q8_0",
        8 => "Q5_0",
        9 => "Q5_1",
        10 => "Q2_K",
        11 => "Q3_K_S",
        12 => "Q3_K_M",
        13 => "Q3_K_L",
        14 => "Q4_K_S",
        15 => "Q4_K_M",
        16 => "Q5_K_S",
        17 => "Q5_K_M",
        18 => "Q6_K",
        19 => "IQ2_XXS",
        20 => "IQ2_XS",
        21 => "Q2_K_S",
        22 => "IQ3_XS",
        23 => "IQ3_XXS",
        24 => "IQ1_S",
        25 => "IQ4_NL",
        26 => "IQ3_S",
        27 => "IQ3_M",
        28 => "IQ2_S",
        29 => "IQ2_M",
        30 => "IQ4_XS",
        31 => "IQ1_M",
        32 => "BF16",
        33 => "Q4_0_4_4",
        34 => "Q4_0_4_8",
        35 => "Q4_0_8_8",
        36 => "TQ1_0",
        37 => "TQ2_0",
        38 => "MXFP4_MOE",
        39 => "NVFP4",
        40 => "Q1_0",
        _ => return None,
    })
}

/// Whether a `general.file_type` names a quantization (not F32, F16, BF16).
pub fn file_type_is_quantized(file_type: u32) -> bool {
    !matches!(file_type, 0 | 1 | 32) && file_type_name(file_type).is_some()
}

/// ggml's name of a tensor type number (gguf-py's `GGMLQuantizationType`).
pub fn ggml_type_name(ggml_type: u32) -> Option<&'static str> {
    Some(match ggml_type {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        6 => "Q5_0",
        7 => "Q5_1",
        8 => "Q8_0",
        9 => "Q8_1",
        10 => "Q2_K",
        11 => "Q3_K",
        12 => "Q4_K",
        13 => "Q5_K",
        14 => "Q6_K",
        15 => "Q8_K",
        16 => "IQ2_XXS",
        17 => "IQ2_XS",
        18 => "IQ3_XXS",
        19 => "IQ1_S",
        20 => "IQ4_NL",
        21 => "IQ3_S",
        22 => "IQ2_S",
        23 => "IQ4_XS",
        24 => "I8",
        25 => "I16",
        26 => "I32",
        27 => "I64",
        28 => "F64",
        29 => "IQ1_M",
        30 => "BF16",
        34 => "TQ1_0",
        35 => "TQ2_0",
        39 => "MXFP4",
        40 => "NVFP4",
        41 => "Q1_0",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A little GGUF writer for hostile headers.
    #[derive(Default)]
    struct W(Vec<u8>);
    impl W {
        fn u32(mut self, v: u32) -> Self {
            self.0.extend_from_slice(&v.to_le_bytes());
            self
        }
        fn u64(mut self, v: u64) -> Self {
            self.0.extend_from_slice(&v.to_le_bytes());
            self
        }
        fn str(self, s: &str) -> Self {
            let mut w = self.u64(s.len() as u64);
            w.0.extend_from_slice(s.as_bytes());
            w
        }
        fn head(tensors: u64, kvs: u64) -> Self {
            let mut w = W::default();
            w.0.extend_from_slice(b"GGUF");
            w.u32(3).u64(tensors).u64(kvs)
        }
    }

    fn err(bytes: &[u8]) -> String {
        format!("{:#}", read_header(bytes).unwrap_err())
    }

    #[test]
    fn describe_gguf_hostile() {
        assert!(err(&W::head(1 << 40, 0).0).contains("tensor count"));
        assert!(err(&W::head(0, 1 << 40).0).contains("metadata count"));
        // An array of 2^32 strings, each claiming to be short, then nothing.
        let w = W::head(0, 1).str("tokens").u32(9).u32(8).u64(1 << 32);
        assert!(err(&w.0).contains("truncated"));
        // An array of 2^32 strings that are really there would pass the budget.
        let mut w = W::head(0, 1).str("tokens").u32(9).u32(8).u64(1 << 32);
        w.0.resize(w.0.len() + MAX_HEADER_BYTES as usize + 64, 0);
        assert!(err(&w.0).contains("header limit"), "{}", err(&w.0));
        // 2^32 u64 values: refused at once by size.
        let w = W::head(0, 1).str("scores").u32(9).u32(10).u64(1 << 32);
        assert!(err(&w.0).contains("header limit"));
        // A string value of length 2^62.
        let w = W::head(0, 1).str("general.name").u32(8).u64(1 << 62);
        assert!(err(&w.0).contains("header limit"));
        // A key of length 2^62.
        let w = W::head(0, 1).u64(1 << 62);
        assert!(err(&w.0).contains("limit"));
        // Nested arrays.
        let mut w = W::head(0, 1).str("deep").u32(9);
        for _ in 0..10 {
            w = w.u32(9).u64(1);
        }
        assert!(err(&w.0).contains("nested"));
        assert!(err(b"GGML\x03\0\0\0").contains("not a GGUF"));
        assert!(err(&W::default()
            .u32(u32::from_le_bytes(*b"GGUF"))
            .u32(1)
            .u64(0)
            .u64(0)
            .0)
        .contains("version 1"));
        assert!(err(&W::default()
            .u32(u32::from_le_bytes(*b"GGUF"))
            .u32(3 << 24)
            .0)
        .contains("big-endian"));
        assert!(err(b"GGU").contains("truncated"));
        // Truncated tensor info, too many dims, overflowing dims, bad types.
        assert!(err(&W::head(1, 0).str("t").u32(2).u64(4).0).contains("truncated"));
        assert!(err(&W::head(1, 0).str("t").u32(9).0).contains("dimensions"));
        let w = W::head(1, 0).str("t").u32(8);
        let w = (0..8).fold(w, |w, _| w.u64(u64::MAX));
        assert!(err(&w.u32(0).u64(0).0).contains("overflows"));
        assert!(err(&W::head(0, 1).str("k").u32(13).0).contains("unknown value type"));
        assert!(err(&W::head(0, 1).str("k").u32(9).u32(77).u64(1).0)
            .contains("unknown array item type"));
    }

    #[test]
    fn describe_gguf_small() {
        let w = W::head(1, 5)
            .str("general.architecture")
            .u32(8)
            .str("qwen2")
            .str("general.license.name")
            .u32(8)
            .str("mit")
            .str("general.file_type")
            .u32(4)
            .u32(18)
            .str("split.count")
            .u32(2)
            .u32(0)
            .0;
        // u16 split.count = 0 then the next key; build it by hand.
        let mut bytes = w;
        bytes.truncate(bytes.len() - 4);
        bytes.extend_from_slice(&3u16.to_le_bytes());
        let rest = W::default()
            .str("tokenizer.ggml.tokens")
            .u32(9)
            .u32(8)
            .u64(2)
            .str("a")
            .str("bc")
            .str("t")
            .u32(2)
            .u64(3)
            .u64(5)
            .u32(12)
            .u64(0)
            .0;
        bytes.extend_from_slice(&rest);
        let h = read_header(&bytes[..]).unwrap();
        assert_eq!(h.metadata.architecture.as_deref(), Some("qwen2"));
        assert_eq!(h.metadata.license.as_deref(), Some("mit"));
        assert_eq!(h.metadata.file_type, Some(18));
        assert_eq!(h.metadata.split_count, Some(3));
        assert_eq!(
            h.tensors,
            vec![GgufTensor {
                name: "t".into(),
                elements: 15,
                ggml_type: 12
            }]
        );
        assert_eq!(file_type_name(18), Some("Q6_K"));
        assert!(
            file_type_is_quantized(18)
                && !file_type_is_quantized(32)
                && !file_type_is_quantized(1024)
        );
    }
}
