//! Parameter counts and precisions in the spec's spelling.

use std::collections::BTreeMap;

/// Scales of `paramSize`, smallest first (the spec's K, M, B, T, Q).
const SCALES: &[(u128, char)] = &[
    (1_000, 'K'),
    (1_000_000, 'M'),
    (1_000_000_000, 'B'),
    (1_000_000_000_000, 'T'),
    (1_000_000_000_000_000, 'Q'),
];

/// Formats a parameter count as the spec's `paramSize`: `<count><scale>`
/// with at most one decimal, rounded half up, and no trailing `.0`
/// (22_713_216 → "22.7M", 1_000_000_000 → "1B"). The spec has no scale
/// below K, so counts under 1000 are tenths of K (999 → "1K", 420 →
/// "0.4K") and counts under 50, which round to "0K", give `None`. A count
/// that rounds up to 1000 of a scale moves to the next one (999_960 → "1M").
pub fn format_param_size(n: u128) -> Option<String> {
    let mut i = SCALES.iter().rposition(|&(s, _)| n >= s).unwrap_or(0);
    loop {
        let (scale, letter) = SCALES[i];
        // Tenths of the scale, rounded half up, without overflowing.
        let tenths = (n / scale) * 10 + ((n % scale) * 10 + scale / 2) / scale;
        if tenths >= 10_000 && i + 1 < SCALES.len() {
            i += 1;
            continue;
        }
        return match tenths {
            0 => None,
            t if t.is_multiple_of(10) => Some(format!("{}{letter}", t / 10)),
            t => Some(format!("{}.{}{letter}", t / 10, t % 10)),
        };
    }
}

/// The spec's precision name for a safetensors dtype (`F16` → `float16`);
/// None for dtypes the spec has no name for (F8_E8M0, F4, F6_* …).
pub fn safetensors_precision(dtype: &str) -> Option<&'static str> {
    Some(match dtype {
        "F64" => "float64",
        "F32" => "float32",
        "F16" => "float16",
        "BF16" => "bfloat16",
        "F8_E4M3" => "float8_e4m3",
        "F8_E5M2" => "float8_e5m2",
        "C64" => "complex64",
        "I64" => "int64",
        "I32" => "int32",
        "I16" => "int16",
        "I8" => "int8",
        "U64" => "uint64",
        "U32" => "uint32",
        "U16" => "uint16",
        "U8" => "uint8",
        "BOOL" => "bool",
        _ => return None,
    })
}

/// The spec's precision name for a ggml tensor type (GGUF tensor info);
/// None for block-quantized types (Q4_K, IQ2_XXS …) and unknown numbers.
pub fn ggml_precision(ggml_type: u32) -> Option<&'static str> {
    Some(match ggml_type {
        0 => "float32",
        1 => "float16",
        24 => "int8",
        25 => "int16",
        26 => "int32",
        27 => "int64",
        28 => "float64",
        30 => "bfloat16",
        _ => return None,
    })
}

fn is_float(precision: &str) -> bool {
    precision.starts_with("float")
        || precision.starts_with("bfloat")
        || precision.starts_with("complex")
}

/// The `precision` value from element counts per precision name, where the
/// None key counts elements of quantized or unknown types.
///
/// Rules: the dtype with the most elements dominates (ties: by name). If it
/// is quantized/unknown, there is no precision (the quantization says it).
/// Otherwise every float dtype is listed, most elements first, comma-separated;
/// integer and bool dtypes (position ids, masks) appear only when one of
/// them dominates, and then only that one, first (an int8-quantized model
/// is "int8,float16"). Zero counts are ignored.
pub fn precision_from_counts(counts: &BTreeMap<Option<&'static str>, u128>) -> Option<String> {
    let mut entries: Vec<(Option<&'static str>, u128)> = counts
        .iter()
        .filter(|(_, &n)| n > 0)
        .map(|(&k, &n)| (k, n))
        .collect();
    entries.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let dominant = entries.first()?.0?;
    let mut out: Vec<&str> = Vec::new();
    if !is_float(dominant) {
        out.push(dominant);
    }
    out.extend(
        entries
            .iter()
            .filter_map(|(k, _)| k.filter(|p| is_float(p))),
    );
    Some(out.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_param_size_rows() {
        for (n, want) in [
            (22_713_216u128, "22.7M"),
            (6_738_415_616, "6.7B"),
            (7_000_000_000, "7B"),
            (1_000_000_000, "1B"),
            (1_500, "1.5K"),
            (135_000_000_000, "135B"),
            (1_230_000_000_000, "1.2T"),
            (999, "1K"),
            (420, "0.4K"),
            (50, "0.1K"),
            (1_000, "1K"),
            (999_960, "1M"),
            (6_750_000_000, "6.8B"),
            (1_000_000_000_000_000, "1Q"),
        ] {
            assert_eq!(format_param_size(n).as_deref(), Some(want), "for {n}");
            assert!(
                crate::config::is_param_size(want),
                "{want} is in the spec's form"
            );
        }
        assert_eq!(format_param_size(49), None, "rounds to 0K");
        assert_eq!(format_param_size(0), None);
        // No overflow at the top of the range.
        assert!(format_param_size(u128::MAX).unwrap().ends_with('Q'));
    }

    fn counts(v: &[(Option<&'static str>, u128)]) -> BTreeMap<Option<&'static str>, u128> {
        v.iter().copied().collect()
    }

    #[test]
    fn describe_precision_rules() {
        let c = counts(&[
            (Some("float16"), 256),
            (Some("float32"), 128),
            (Some("int64"), 32),
        ]);
        assert_eq!(
            precision_from_counts(&c).as_deref(),
            Some("float16,float32")
        );
        let c = counts(&[
            (Some("int8"), 1000),
            (Some("float16"), 10),
            (Some("bool"), 5),
        ]);
        assert_eq!(precision_from_counts(&c).as_deref(), Some("int8,float16"));
        let c = counts(&[(Some("int64"), 10), (Some("uint8"), 3)]);
        assert_eq!(precision_from_counts(&c).as_deref(), Some("int64"));
        let c = counts(&[(None, 1000), (Some("float32"), 10)]);
        assert_eq!(precision_from_counts(&c), None);
        assert_eq!(precision_from_counts(&counts(&[])), None);
        assert_eq!(
            precision_from_counts(&counts(&[(Some("float32"), 0)])),
            None
        );
    }
}
