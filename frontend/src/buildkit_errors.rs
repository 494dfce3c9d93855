//! BuildKit's error messages, classified in one place. BuildKit reports a
//! failed HTTP source or exec step only as text (a `google.rpc.Status`
//! message), so the frontend reads the cause out of that text here and
//! nowhere else. The unit tests hold messages captured from real builds on
//! Docker 26 (BuildKit 0.13) and Docker 28 (BuildKit 0.2x); re-capture them
//! with `integration/capture/capture.sh` after an engine upgrade.

use crate::gateway::GatewayError;
use modelpack_hub::download;

/// What made a BuildKit solve fail, as far as its message tells.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cause {
    /// The server answered this HTTP status (BuildKit's HTTP source, or
    /// `hf-get`'s exit code mapped back: 401, 404, 429, 500).
    Status(u16),
    /// The bytes do not match the expected digest (BuildKit's
    /// `http.checksum`, or `hf-get`'s sha256 / git blob check).
    DigestMismatch,
    /// The connection was reset by the server.
    ConnectionReset,
    /// The body ended before its declared length.
    Truncated,
    /// Redirects went in a loop or past the limit.
    TooManyRedirects,
    /// A redirect to a scheme other than http(s), e.g. `file://`.
    UnsupportedScheme(String),
    /// `hf-get` received nothing for its stall bound.
    Stalled,
    /// `hf-get` gave up after retrying transport errors.
    Transport,
    /// A step ran on the default network of an engine without one
    /// (`dockerd --bridge=none`).
    NoBridgeNetwork,
    /// A step asked for the host network and the build does not allow it
    /// (no `--allow network.host`).
    HostNetworkNotAllowed,
    /// Nothing we recognise.
    Unknown,
}

impl Cause {
    /// The HTTP status for messages and decisions: [`Cause::Status`] as is,
    /// `Some(0)` for a digest mismatch (the historical convention of
    /// `status_in`), `None` otherwise.
    pub fn status(&self) -> Option<u16> {
        match self {
            Cause::Status(s) => Some(*s),
            Cause::DigestMismatch => Some(0),
            _ => None,
        }
    }

    /// Whether the server refused access (401/403): worth a try with a token.
    pub fn is_refusal(&self) -> bool {
        matches!(self, Cause::Status(401 | 403))
    }

    /// A short phrase for the cause, for one-line errors ("" when unknown).
    pub fn phrase(&self) -> String {
        match self {
            Cause::Status(s) => format!("HTTP {s}"),
            Cause::DigestMismatch => "the content does not match its checksum".into(),
            Cause::ConnectionReset => "the server reset the connection".into(),
            Cause::Truncated => "the body ended before its declared length".into(),
            Cause::TooManyRedirects => "too many redirects (or a redirect loop)".into(),
            Cause::UnsupportedScheme(s) => format!("a redirect to an unsupported {s}: URL"),
            Cause::Stalled => format!("nothing received for {} s", download::STALL.as_secs()),
            Cause::Transport => "the connection failed repeatedly".into(),
            Cause::NoBridgeNetwork => "the engine has no default network".into(),
            Cause::HostNetworkNotAllowed => "the build does not allow the host network".into(),
            Cause::Unknown => String::new(),
        }
    }
}

/// The number right after `key` in `message`.
fn number_after(message: &str, key: &str) -> Option<u64> {
    let i = message.find(key)? + key.len();
    let digits: String = message[i..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

/// Classifies a BuildKit error message.
pub fn classify(message: &str) -> Cause {
    if let Some(s) = number_after(message, "invalid response status ") {
        return u16::try_from(s)
            .map(Cause::Status)
            .unwrap_or(Cause::Unknown);
    }
    if message.contains("digest mismatch") {
        return Cause::DigestMismatch;
    }
    if message.contains("hf-get") {
        if let Some(code) = number_after(message, "exit code: ") {
            return match u8::try_from(code).unwrap_or(0) {
                download::exit::AUTH => Cause::Status(401),
                download::exit::NOT_FOUND => Cause::Status(404),
                download::exit::RATE_LIMITED => Cause::Status(429),
                download::exit::SERVER => Cause::Status(500),
                download::exit::TRANSPORT => Cause::Transport,
                download::exit::STALLED => Cause::Stalled,
                download::exit::REDIRECT => Cause::TooManyRedirects,
                download::exit::CHECKSUM => Cause::DigestMismatch,
                _ => Cause::Unknown,
            };
        }
    }
    if message.contains("network bridge not found") {
        return Cause::NoBridgeNetwork;
    }
    if message.contains("network.host is not allowed") {
        return Cause::HostNetworkNotAllowed;
    }
    if message.contains("connection reset by peer") {
        return Cause::ConnectionReset;
    }
    if message.contains("unexpected EOF") {
        return Cause::Truncated;
    }
    if message.contains("stopped after") && message.contains("redirects") {
        return Cause::TooManyRedirects;
    }
    if let Some(i) = message.find("unsupported protocol scheme \"") {
        let rest = &message[i + "unsupported protocol scheme \"".len()..];
        let scheme: String = rest.chars().take_while(|c| *c != '"').take(16).collect();
        return Cause::UnsupportedScheme(scheme);
    }
    Cause::Unknown
}

/// Classifies a failed gateway call (a remote status's message or our own).
pub fn classify_error(err: &GatewayError) -> Cause {
    match err {
        GatewayError::Remote(status) => classify(&status.message),
        GatewayError::Local(e) => classify(&format!("{e:#}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_in(message: &str) -> Option<u16> {
        classify(message).status()
    }

    /// Messages captured with integration/capture/capture.sh: the text in
    /// parentheses after "BuildKit:" of buildx's ERROR line, Docker 26
    /// (buildx 0.13) then Docker 28 (buildx 0.29); the texts are the same
    /// on both. The hf-get line is the shape BuildKit gives a failed exec
    /// step (`process "<args>" did not complete successfully: exit code: N`).
    /// A stalled body gives no message at all on either engine: the build
    /// waits until cancelled.
    const CAPTURED: &[(&str, &str, Cause)] = &[
        ("26", "failed to load cache key: invalid response status 401", Cause::Status(401)),
        ("26", "failed to load cache key: invalid response status 403", Cause::Status(403)),
        ("26", "failed to load cache key: invalid response status 404", Cause::Status(404)),
        ("26", "failed to load cache key: invalid response status 410", Cause::Status(410)),
        ("26", "failed to load cache key: invalid response status 429", Cause::Status(429)),
        ("26", "failed to load cache key: invalid response status 500", Cause::Status(500)),
        ("26", "failed to load cache key: invalid response status 503", Cause::Status(503)),
        (
            "26",
            "failed to load cache key: Get \"http://127.0.0.1:40607/reset/m.bin\": read tcp 127.0.0.1:56624->127.0.0.1:40607: read: connection reset by peer",
            Cause::ConnectionReset,
        ),
        ("26", "failed to load cache key: unexpected EOF", Cause::Truncated),
        ("26", "failed to load cache key: Get \"/loop/m.bin\": stopped after 10 redirects", Cause::TooManyRedirects),
        (
            "26",
            "failed to load cache key: Get \"file:///etc/passwd\": unsupported protocol scheme \"file\"",
            Cause::UnsupportedScheme(String::new()),
        ),
        (
            "26",
            "digest mismatch sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03: sha256:2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881",
            Cause::DigestMismatch,
        ),
        ("28", "failed to load cache key: invalid response status 401", Cause::Status(401)),
        ("28", "failed to load cache key: invalid response status 404", Cause::Status(404)),
        ("28", "failed to load cache key: invalid response status 410", Cause::Status(410)),
        ("28", "failed to load cache key: invalid response status 429", Cause::Status(429)),
        ("28", "failed to load cache key: invalid response status 503", Cause::Status(503)),
        (
            "28",
            "failed to load cache key: Get \"http://127.0.0.1:40607/reset/m.bin\": read tcp 127.0.0.1:42926->127.0.0.1:40607: read: connection reset by peer",
            Cause::ConnectionReset,
        ),
        ("28", "failed to load cache key: unexpected EOF", Cause::Truncated),
        ("28", "failed to load cache key: Get \"/loop/m.bin\": stopped after 10 redirects", Cause::TooManyRedirects),
        (
            "28",
            "failed to load cache key: Get \"file:///etc/passwd\": unsupported protocol scheme \"file\"",
            Cause::UnsupportedScheme(String::new()),
        ),
        (
            "28",
            "digest mismatch sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03: sha256:2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881",
            Cause::DigestMismatch,
        ),
        ("26", "failed to load LLB: network.host is not allowed", Cause::HostNetworkNotAllowed),
        ("28", "failed to load LLB: network.host is not allowed", Cause::HostNetworkNotAllowed),
        (
            "26",
            "process \"/modelpack-frontend hf-get http://127.0.0.1:1/o/r/resolve/c/w.bin /out/w.bin sha256:ab\" did not complete successfully: exit code: 41",
            Cause::Status(401),
        ),
    ];

    #[test]
    fn captured_messages_are_classified() {
        for (engine, message, want) in CAPTURED {
            let got = classify(message);
            match want {
                Cause::UnsupportedScheme(_) => assert_eq!(
                    got,
                    Cause::UnsupportedScheme("file".into()),
                    "Docker {engine}: {message}"
                ),
                _ => assert_eq!(&got, want, "Docker {engine}: {message}"),
            }
        }
    }

    #[test]
    fn hf_get_exit_codes_map_back() {
        let step = |code: u8| {
            format!("process \"/modelpack-frontend hf-get u /out/f\" did not complete successfully: exit code: {code}")
        };
        assert_eq!(classify(&step(download::exit::AUTH)), Cause::Status(401));
        assert_eq!(
            classify(&step(download::exit::NOT_FOUND)),
            Cause::Status(404)
        );
        assert_eq!(
            classify(&step(download::exit::RATE_LIMITED)),
            Cause::Status(429)
        );
        assert_eq!(classify(&step(download::exit::SERVER)), Cause::Status(500));
        assert_eq!(classify(&step(download::exit::STALLED)), Cause::Stalled);
        assert_eq!(classify(&step(download::exit::TRANSPORT)), Cause::Transport);
        assert_eq!(
            classify(&step(download::exit::REDIRECT)),
            Cause::TooManyRedirects
        );
        assert_eq!(
            classify(&step(download::exit::CHECKSUM)),
            Cause::DigestMismatch
        );
        assert_eq!(classify(&step(1)), Cause::Unknown);
        assert_eq!(
            classify("some other step: exit code: 41"),
            Cause::Unknown,
            "only hf-get's codes mean HTTP statuses"
        );
    }

    #[test]
    fn odd_messages_are_unknown_and_never_panic() {
        assert_eq!(classify(""), Cause::Unknown);
        assert_eq!(classify("invalid response status "), Cause::Unknown);
        assert_eq!(
            classify("invalid response status 99999999999999999999"),
            Cause::Unknown
        );
        assert_eq!(classify("invalid response status 70000"), Cause::Unknown);
        assert_eq!(
            classify("unsupported protocol scheme \""),
            Cause::UnsupportedScheme(String::new())
        );
        assert_eq!(classify("hf-get exit code: 300"), Cause::Unknown);
        assert_eq!(status_in("something else"), None);
        assert_eq!(status_in("exit code: 1"), None);
    }

    #[test]
    fn statuses_and_refusals() {
        assert_eq!(
            status_in("failed to load cache key: invalid response status 404"),
            Some(404)
        );
        assert_eq!(status_in("digest mismatch sha256:a: sha256:b"), Some(0));
        assert!(classify("invalid response status 403").is_refusal());
        assert!(!classify("invalid response status 404").is_refusal());
        assert_eq!(Cause::Stalled.phrase(), "nothing received for 60 s");
    }
}
