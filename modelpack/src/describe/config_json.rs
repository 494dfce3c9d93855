//! Hugging Face `config.json`: architecture, model type, declared dtype and
//! quantization method.

use anyhow::{Context, Result};
use serde_json::Value;

/// What a `config.json` tells.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigFacts {
    /// `architectures[0]`, else `model_type`.
    pub architecture: Option<String>,
    /// `model_type` (e.g. "llama").
    pub model_type: Option<String>,
    /// `torch_dtype`, else `dtype`, in the spec's spelling (a fallback for
    /// when no weight header was read).
    pub precision: Option<String>,
    /// `quantization_config.quant_method`, lower-cased (awq, gptq, bitsandbytes, fp8 …).
    pub quantization: Option<String>,
}

/// Parses a `config.json`.
pub fn parse_config(json: &[u8]) -> Result<ConfigFacts> {
    let v: Value = serde_json::from_slice(json).context("not valid JSON")?;
    let obj = v.as_object().context("not a JSON object")?;
    let text = |k: &str| {
        obj.get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let model_type = text("model_type").map(str::to_string);
    let first_arch = obj
        .get("architectures")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let precision = text("torch_dtype")
        .or_else(|| text("dtype"))
        .and_then(torch_dtype_precision)
        .map(str::to_string);
    let quantization = obj
        .get("quantization_config")
        .and_then(|q| q.get("quant_method"))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_ascii_lowercase);
    Ok(ConfigFacts {
        architecture: first_arch.or_else(|| model_type.clone()),
        model_type,
        precision,
        quantization,
    })
}

/// The spec's precision name for a torch dtype string ("bfloat16",
/// "torch.float16", "half" …); None for "auto" and unknown names.
pub fn torch_dtype_precision(dtype: &str) -> Option<&'static str> {
    let d = dtype.trim().strip_prefix("torch.").unwrap_or(dtype.trim());
    Some(match d {
        "float16" | "half" | "fp16" => "float16",
        "bfloat16" | "bf16" => "bfloat16",
        "float32" | "float" | "fp32" => "float32",
        "float64" | "double" => "float64",
        "float8_e4m3fn" | "float8_e4m3" => "float8_e4m3",
        "float8_e5m2" => "float8_e5m2",
        "int8" => "int8",
        "uint8" => "uint8",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_config_edge_cases() {
        let c =
            parse_config(br#"{"architectures": [], "model_type": "gpt2", "torch_dtype": "auto"}"#)
                .unwrap();
        assert_eq!(c.architecture.as_deref(), Some("gpt2"));
        assert_eq!(c.precision, None);
        let c = parse_config(br#"{"architectures": [7], "dtype": "torch.float16", "quantization_config": {"quant_method": 3}}"#).unwrap();
        assert_eq!(c.architecture, None);
        assert_eq!(c.precision.as_deref(), Some("float16"));
        assert_eq!(c.quantization, None);
        assert!(parse_config(b"[1]").is_err());
        assert!(parse_config(b"{").is_err());
    }
}
