//! `http://` and `https://` sources: the URL grammar, the file name a URL
//! gives inside the model, and the `checksum` build arg. Pure: the fetching
//! is BuildKit's (an HTTP source per URL).

use anyhow::{bail, Result};

use crate::setting::SourceError;

/// One file to fetch over HTTP(S).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlSource {
    /// The URL as given, with its scheme in lower case (what BuildKit
    /// fetches; its source identifiers are case-sensitive).
    pub url: String,
    /// The URL without `user:password@`: the only form shown in progress,
    /// errors and `descriptor.sourceURL`.
    pub shown: String,
    /// Host (and port) of the URL, for progress names.
    pub host: String,
    /// The file's path in the model: the URL's last path segment,
    /// percent-decoded.
    pub file_name: String,
    /// `sha256:<64 hex>` the body must have (build arg `checksum`).
    pub checksum: Option<String>,
}

/// Whether `url` (`scheme://[user@]host[:port]/…`, or just the authority)
/// names this host's loopback: `localhost` or a loopback IP address.
pub fn is_loopback_url(url: &str) -> bool {
    // The scheme ends at the first "://" only when no path, query or
    // fragment comes before it (a query may hold another URL).
    let rest = match url.split_once("://") {
        Some((scheme, r)) if !scheme.contains(['/', '?', '#']) => r,
        _ => url,
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host_port.split(':').next().unwrap_or(""),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// How several URLs are separated in `source`.
fn split_list(s: &str) -> impl Iterator<Item = &str> {
    s.split([',', ' ', '\t', '\n', '\r'])
        .filter(|p| !p.is_empty())
}

/// Whether `source` names one or more http(s) URLs.
pub fn is_url_list(source: &str) -> bool {
    let first = source.trim_start();
    let lower = first.get(..8).unwrap_or(first).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// Parses `source` as one or more URLs separated by commas or spaces.
pub fn parse_list(source: &str) -> Result<Vec<UrlSource>, SourceError> {
    let mut out: Vec<UrlSource> = Vec::new();
    for raw in split_list(source) {
        let u = UrlSource::parse(raw)?;
        if let Some(prev) = out.iter().find(|p| p.file_name == u.file_name) {
            return Err(SourceError::SameFileName {
                first: prev.shown.clone(),
                second: u.shown,
                name: u.file_name,
            });
        }
        out.push(u);
    }
    if out.is_empty() {
        return Err(SourceError::NoUrl);
    }
    Ok(out)
}

impl UrlSource {
    /// Parses one `http(s)://[user[:password]@]host[:port]/path/file[?query][#fragment]`.
    pub fn parse(raw: &str) -> Result<Self, SourceError> {
        let Some((scheme, rest)) = raw.split_once("://") else {
            return Err(SourceError::NotAUrl {
                raw: raw.to_string(),
            });
        };
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(SourceError::MixedSchemes { scheme });
        }
        if raw.chars().any(|c| c.is_control()) {
            return Err(SourceError::ControlCharacter {
                shown: redact_guess(raw),
            });
        }
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        let (userinfo, host) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let shown = format!("{scheme}://{host}{tail}");
        if host.is_empty() || host.starts_with(':') {
            return Err(SourceError::NoHost { shown, scheme });
        }
        if userinfo.is_some() && host.contains('@') {
            return Err(SourceError::InvalidUrl { shown });
        }
        let path = &tail[..tail.find(['?', '#']).unwrap_or(tail.len())];
        let last = path.rsplit('/').next().unwrap_or("");
        if last.is_empty() {
            return Err(SourceError::NoFileName {
                shown,
                scheme,
                host: host.to_string(),
            });
        }
        let bad = |e: anyhow::Error| SourceError::BadFileName {
            shown: shown.clone(),
            reason: e.to_string(),
        };
        let file_name = percent_decode(last).map_err(bad)?;
        check_file_name(&file_name).map_err(bad)?;
        Ok(UrlSource {
            url: format!("{scheme}://{rest}"),
            shown,
            host: host.to_string(),
            file_name,
            checksum: None,
        })
    }

    /// The name's stem (without its last extension), for a default reference name.
    pub fn stem(&self) -> &str {
        match self.file_name.rsplit_once('.') {
            Some((stem, _)) if !stem.is_empty() => stem,
            _ => &self.file_name,
        }
    }
}

/// A raw URL with anything before an `@` in its authority replaced, for
/// errors about URLs that could not be parsed.
fn redact_guess(raw: &str) -> String {
    match raw.split_once("://") {
        Some((s, rest)) => {
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            match rest[..end].rsplit_once('@') {
                Some((_, host)) => format!("{s}://…@{host}{}", &rest[end..]),
                None => raw.to_string(),
            }
        }
        None => raw.to_string(),
    }
}

/// Decodes `%XX` escapes; the result must be UTF-8.
fn percent_decode(s: &str) -> Result<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .filter(|h| h.chars().all(|c| c.is_ascii_hexdigit()));
            let Some(hex) = hex else {
                bail!(
                    "invalid percent-escape at {:?} in its file name; write '%' as %25",
                    &s[i..]
                );
            };
            out.push(
                u8::from_str_radix(hex, 16)
                    .map_err(|_| anyhow::anyhow!("invalid percent-escape %{hex}"))?,
            );
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
        .map_err(|_| anyhow::anyhow!("its file name {s:?} does not decode to UTF-8 text"))
}

/// A decoded file name is one safe path component.
fn check_file_name(name: &str) -> Result<()> {
    if name == "." || name == ".." {
        bail!("the file name {name:?} is not a file; point the URL at a file");
    }
    if name.contains(['/', '\\']) {
        bail!("the file name {name:?} holds a path separator (an encoded '/' or '\\'); point the URL at a plainly named file");
    }
    if name.chars().any(char::is_control) {
        bail!("the file name {name:?} holds a control character");
    }
    Ok(())
}

/// Applies build arg `checksum` (`sha256:<64 hex>`, or a comma list in the
/// order of the URLs) to `urls`.
pub fn apply_checksums(urls: &mut [UrlSource], checksum: &str) -> Result<(), SourceError> {
    let list: Vec<&str> = split_list(checksum).collect();
    if list.len() != urls.len() {
        return Err(SourceError::ChecksumCount {
            checksums: list.len(),
            urls: urls.len(),
        });
    }
    for (u, c) in urls.iter_mut().zip(list) {
        u.checksum = Some(parse_checksum(c)?);
    }
    Ok(())
}

/// `descriptor.sourceURL`: the URL (without credentials) when there is
/// exactly one; several URLs have no single origin.
pub fn source_url(urls: &[UrlSource]) -> Option<String> {
    match urls {
        [one] => Some(one.shown.clone()),
        _ => None,
    }
}

/// Checks and lower-cases one `sha256:<64 hex>`.
fn parse_checksum(c: &str) -> Result<String, SourceError> {
    let hex = c.strip_prefix("sha256:").unwrap_or("");
    if hex.len() != 64 || !hex.chars().all(|ch| ch.is_ascii_hexdigit()) {
        return Err(SourceError::NotAChecksum {
            given: c.to_string(),
        });
    }
    Ok(format!("sha256:{}", hex.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(s: &str) -> Vec<String> {
        parse_list(s)
            .unwrap()
            .into_iter()
            .map(|u| u.file_name)
            .collect()
    }

    #[test]
    fn file_names_come_from_the_last_segment_decoded() {
        assert_eq!(names("https://h/a/b/model.gguf"), ["model.gguf"]);
        assert_eq!(
            names("http://h:8080/x/My%20Model.gguf?download=true#frag"),
            ["My Model.gguf"]
        );
        assert_eq!(
            names("https://h/a.gguf, https://h/b.gguf"),
            ["a.gguf", "b.gguf"]
        );
        assert_eq!(
            names(" https://h/a.gguf  https://h/b.json\n"),
            ["a.gguf", "b.json"]
        );
        assert_eq!(names("HTTPS://h/caf%C3%A9.bin"), ["café.bin"]);
        assert_eq!(
            UrlSource::parse("HTTPS://H/Caf%C3%A9.bin").unwrap().url,
            "https://H/Caf%C3%A9.bin"
        );
    }

    #[test]
    fn loopback_urls_are_recognised() {
        for yes in [
            "http://127.0.0.1:8080",
            "http://127.1.2.3/x",
            "http://localhost:1",
            "https://LOCALHOST",
            "http://[::1]:9/a",
            "http://u:p@127.0.0.1:5",
            "HTTP://127.0.0.2/a",
        ] {
            assert!(is_loopback_url(yes), "{yes}");
        }
        for no in [
            "https://huggingface.co",
            "http://10.0.0.1:80",
            "http://127.0.0.1.example.com",
            "http://[::2]:1",
            "",
            "http://localhost.evil/x",
            "http://u:p@example.com/a",
            "http://evil.example/?u=http://127.0.0.1",
            "evil.example/x?u=http://localhost",
        ] {
            assert!(!is_loopback_url(no), "{no}");
        }
    }

    #[test]
    fn credentials_are_kept_for_the_fetch_only() {
        let u = UrlSource::parse("https://user:secret@h.example:443/m.gguf?x=1").unwrap();
        assert_eq!(u.url, "https://user:secret@h.example:443/m.gguf?x=1");
        assert_eq!(u.shown, "https://h.example:443/m.gguf?x=1");
        assert_eq!(u.host, "h.example:443");
        let err = UrlSource::parse("https://user:secret@h/dir/")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("secret"), "{err}");
    }

    #[test]
    fn a_url_without_a_file_name_is_refused() {
        for bad in [
            "https://h",
            "https://h/",
            "https://h/dir/",
            "https://h/dir/?q=a.gguf",
        ] {
            let err = UrlSource::parse(bad).unwrap_err().to_string();
            assert!(
                err.contains("names no file") && err.contains("point the URL at a file"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn unsafe_file_names_are_refused() {
        for bad in [
            "https://h/.",
            "https://h/..",
            "https://h/%2E%2E",
            "https://h/a%2Fb",
            "https://h/a%5Cb",
            "https://h/a%0Ab",
            "https://h/%zz",
            "https://h/%FF",
            "https://:80/a",
        ] {
            assert!(UrlSource::parse(bad).is_err(), "{bad} accepted");
        }
        assert!(UrlSource::parse("ftp://h/a").is_err());
    }

    #[test]
    fn the_same_file_name_twice_names_both_urls() {
        let err = parse_list("https://a/x/m.gguf,https://b/y/m.gguf")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("https://a/x/m.gguf") && err.contains("https://b/y/m.gguf"),
            "{err}"
        );
        assert!(!err.contains('\n'));
    }

    #[test]
    fn checksums_go_with_urls_in_order() {
        let a = "ab".repeat(32);
        let mut one = parse_list("https://h/a.gguf").unwrap();
        apply_checksums(&mut one, &format!("sha256:{}", a.to_uppercase())).unwrap();
        assert_eq!(
            one[0].checksum.as_deref(),
            Some(format!("sha256:{a}").as_str())
        );
        let mut two = parse_list("https://h/a.gguf https://h/b.gguf").unwrap();
        let err = apply_checksums(&mut two, &format!("sha256:{a}"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("build-arg checksum: 1 checksum(s) for 2 URL(s)"),
            "{err}"
        );
        let b = "cd".repeat(32);
        apply_checksums(&mut two, &format!("sha256:{a},sha256:{b}")).unwrap();
        assert_eq!(
            two[1].checksum.as_deref(),
            Some(format!("sha256:{b}").as_str())
        );
        for bad in ["md5:00", "sha256:abc", &a] {
            assert!(apply_checksums(&mut one, bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn source_url_is_the_single_url_without_credentials() {
        assert_eq!(
            source_url(&parse_list("https://u:p@h/a.gguf?v=2").unwrap()).as_deref(),
            Some("https://h/a.gguf?v=2")
        );
        assert_eq!(
            source_url(&parse_list("https://h/a.gguf https://h/b.gguf").unwrap()),
            None
        );
    }

    #[test]
    fn stems() {
        let stem = |s: &str| UrlSource::parse(s).unwrap().stem().to_string();
        assert_eq!(stem("https://h/Qwen3-0.6B-Q8_0.gguf"), "Qwen3-0.6B-Q8_0");
        assert_eq!(stem("https://h/README"), "README");
        assert_eq!(stem("https://h/.hidden"), ".hidden");
    }
}
