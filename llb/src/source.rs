//! Source ops: the local build context, HTTP(S) files and container images.

use std::collections::BTreeMap;

use crate::proto::pb;
use crate::state::{base_op, named, NodeKind, State};

/// A source op under construction. Attributes are kept sorted.
#[derive(Clone, Debug)]
pub struct Source {
    identifier: String,
    attrs: BTreeMap<String, String>,
    metadata: pb::OpMetadata,
    platform: Option<pb::Platform>,
}

/// A directory the client shares with the session (`local://<name>`).
pub fn local(name: &str) -> Source {
    Source::new(format!("local://{name}"))
}

/// A file fetched by buildkitd itself over HTTP(S).
pub fn http(url: &str) -> Source {
    Source::new(url.to_string())
}

/// A container image by reference (`docker-image://<ref>`).
pub fn image(reference: &str) -> Source {
    Source::new(format!("docker-image://{reference}"))
}

fn json_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| json_string(s)).collect();
    format!("[{}]", quoted.join(","))
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Source {
    fn new(identifier: String) -> Self {
        Source {
            identifier,
            attrs: BTreeMap::new(),
            metadata: pb::OpMetadata::default(),
            platform: None,
        }
    }

    /// Sets any attribute by its wire name.
    pub fn attr(mut self, key: &str, value: impl Into<String>) -> Self {
        self.attrs.insert(key.to_string(), value.into());
        self
    }

    /// Local: the client session that owns the directory.
    pub fn session(self, id: &str) -> Self {
        self.attr("local.session", id)
    }

    /// Local: transfer only paths matching these patterns.
    pub fn include_patterns(self, patterns: &[String]) -> Self {
        if patterns.is_empty() {
            return self;
        }
        self.attr("local.includepattern", json_list(patterns))
    }

    /// Local: never transfer paths matching these patterns.
    pub fn exclude_patterns(self, patterns: &[String]) -> Self {
        if patterns.is_empty() {
            return self;
        }
        self.attr("local.excludepatterns", json_list(patterns))
    }

    /// Local: lets transfers with the same hint reuse each other's cache.
    pub fn shared_key_hint(self, hint: &str) -> Self {
        self.attr("local.sharedkeyhint", hint)
    }

    /// HTTP: the expected `sha256:<hex>` of the body, verified by buildkitd.
    pub fn checksum(self, digest: &str) -> Self {
        self.attr("http.checksum", digest)
    }

    /// HTTP: the name of the downloaded file inside the state.
    pub fn filename(self, name: &str) -> Self {
        self.attr("http.filename", name)
    }

    /// HTTP: file permissions, e.g. `0o644`.
    pub fn perm(self, mode: u32) -> Self {
        self.attr("http.perm", format!("0{mode:o}"))
    }

    /// HTTP: the secret whose value is sent as the `Authorization` header
    /// (cap `source.http.auth`, BuildKit ≥ 0.21).
    pub fn auth_header_secret(self, secret_id: &str) -> Self {
        self.attr("http.authheadersecret", secret_id)
    }

    /// The name shown in progress output.
    pub fn custom_name(mut self, name: &str) -> Self {
        named(&mut self.metadata, name);
        self
    }

    /// Image: the platform to pull (the Go client sets it on image sources).
    pub fn platform(mut self, platform: pb::Platform) -> Self {
        self.platform = Some(platform);
        self
    }

    /// Finishes the op.
    pub fn into_state(self) -> State {
        let mut op = base_op(pb::op::Op::Source(pb::SourceOp {
            identifier: self.identifier,
            attrs: self.attrs,
        }));
        op.platform = self.platform;
        State::from_node(NodeKind::Op(Box::new(op)), Vec::new(), self.metadata, 0)
    }
}
