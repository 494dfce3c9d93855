//! The platforms of a `packager/bundle` build: the `platform` option (a
//! comma-separated list, as buildx sends `--platform a,b`) read as
//! BuildKit's Dockerfile frontend reads it (containerd's `platforms.Parse`
//! then `Normalize`: `linux/arm64/v8` is `linux/arm64`, `linux/arm` is
//! `linux/arm/v7`, `x86_64` is `amd64`), in the order given, each once.

use anyhow::Result;

/// The normalised platforms (`os/arch[/variant]`) of the `platform`
/// option `value`, in its order, duplicates (after normalising) dropped.
pub fn parse_list(value: &str) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for item in value.split(',') {
        let p =
            normalise(item.trim()).map_err(|why| anyhow::anyhow!("--platform {value}: {why}"))?;
        if !out.contains(&p) {
            out.push(p);
        }
    }
    Ok(out)
}

/// One platform, `os/arch[/variant]`, normalised; the error says why not.
fn normalise(p: &str) -> std::result::Result<String, String> {
    let parts: Vec<&str> = p.split('/').collect();
    let component = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    };
    if !(2..=3).contains(&parts.len()) || !parts.iter().all(|s| component(s)) {
        return Err(format!(
            "{p:?} is not a platform os/arch[/variant] (e.g. linux/amd64, linux/arm64, linux/arm/v7)"
        ));
    }
    let mut os = parts[0].to_ascii_lowercase();
    if os == "macos" {
        os = "darwin".into();
    }
    let (arch, variant) = normalise_arch(parts[1], parts.get(2).copied().unwrap_or(""));
    if variant.is_empty() {
        Ok(format!("{os}/{arch}"))
    } else {
        Ok(format!("{os}/{arch}/{variant}"))
    }
}

/// containerd's architecture and variant names (lower case; `aarch64` is
/// `arm64` and its `v8` is no variant; `armhf` is `arm/v7`; `arm` alone is
/// `arm/v7`; …).
fn normalise_arch(arch: &str, variant: &str) -> (String, String) {
    let (arch, variant) = (arch.to_ascii_lowercase(), variant.to_ascii_lowercase());
    let v = |s: &str| s.to_string();
    match arch.as_str() {
        "i386" => (v("386"), String::new()),
        "x86_64" | "x86-64" | "amd64" => (
            v("amd64"),
            if variant == "v1" {
                String::new()
            } else {
                variant
            },
        ),
        "aarch64" | "arm64" => (
            v("arm64"),
            match variant.as_str() {
                "8" | "v8" | "v8.0" => String::new(),
                "9" | "9.0" | "v9.0" => v("v9"),
                _ => variant,
            },
        ),
        "armhf" => (v("arm"), v("v7")),
        "armel" => (v("arm"), v("v6")),
        "arm" => (
            v("arm"),
            match variant.as_str() {
                "" | "7" => v("v7"),
                "5" | "6" | "8" => format!("v{variant}"),
                _ => variant,
            },
        ),
        _ => (arch, variant),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_are_normalised_as_buildkit_does_in_order_each_once() {
        assert_eq!(
            parse_list("linux/arm64/v8,linux/amd64,linux/aarch64,linux/x86_64").unwrap(),
            ["linux/arm64", "linux/amd64"]
        );
        assert_eq!(
            parse_list("linux/amd64, linux/arm64").unwrap(),
            ["linux/amd64", "linux/arm64"]
        );
        assert_eq!(
            parse_list("Linux/ARM,linux/armhf,linux/arm/7,linux/armel,linux/arm/v6").unwrap(),
            ["linux/arm/v7", "linux/arm/v6"]
        );
        assert_eq!(
            parse_list("linux/i386,macos/arm64,linux/amd64/v1,linux/amd64/v3").unwrap(),
            ["linux/386", "darwin/arm64", "linux/amd64", "linux/amd64/v3"]
        );
        assert_eq!(parse_list("linux/riscv64").unwrap(), ["linux/riscv64"]);
    }

    #[test]
    fn a_bad_platform_is_refused_naming_it() {
        for bad in [
            "amd64",
            "linux/amd64,",
            "linux//amd64",
            "linux/amd64/v3/x",
            "windows(10.0.17763)/amd64",
            "linux/*",
        ] {
            let err = parse_list(bad).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("--platform {bad}: ")) && err.contains("os/arch"),
                "{bad}: {err}"
            );
        }
    }
}
