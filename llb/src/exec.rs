//! Exec ops: run a process on a root filesystem with extra mounts.

use std::collections::BTreeMap;

use crate::proto::pb;
use crate::state::{base_op, named, Inputs, NodeKind, State};

/// Network access of an exec step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NetMode {
    /// The daemon's default sandbox network.
    #[default]
    Sandbox,
    /// The host's network (needs the `network.host` entitlement).
    Host,
    /// No network at all.
    None,
}

#[derive(Clone, Debug)]
enum MountKind {
    Bind {
        source: State,
        readonly: bool,
    },
    Secret {
        id: String,
        optional: bool,
        mode: u32,
    },
    Cache {
        id: String,
    },
    Tmpfs,
}

/// A mount of an exec step other than the root.
#[derive(Clone, Debug)]
pub struct Mount {
    dest: String,
    selector: String,
    kind: MountKind,
    by_definition: bool,
}

impl Mount {
    /// Mounts `source` at `dest`; writable unless [`Mount::readonly`].
    pub fn bind(dest: &str, source: &State) -> Self {
        let kind = MountKind::Bind {
            source: source.clone(),
            readonly: false,
        };
        Mount {
            dest: dest.into(),
            selector: String::new(),
            kind,
            by_definition: false,
        }
    }

    /// Keys the step's cache on this mount's source by its definition
    /// alone: BuildKit then does not read (hash) the mounted files before
    /// the step runs, as it does by default for read-only mounts (LLB
    /// `MountContentCache.OFF`; engines without the field ignore it).
    pub fn keyed_by_definition(mut self) -> Self {
        self.by_definition = true;
        self
    }

    /// Makes a bind mount read-only (it then has no output).
    pub fn readonly(mut self) -> Self {
        if let MountKind::Bind { readonly, .. } = &mut self.kind {
            *readonly = true;
        }
        self
    }

    /// Mounts only this path of the source.
    pub fn selector(mut self, path: &str) -> Self {
        self.selector = path.into();
        self
    }

    /// Mounts the build secret `id` as a file at `dest` (mode 0400).
    pub fn secret(dest: &str, id: &str, optional: bool) -> Self {
        let kind = MountKind::Secret {
            id: id.into(),
            optional,
            mode: 0o400,
        };
        Mount {
            dest: dest.into(),
            selector: String::new(),
            kind,
            by_definition: false,
        }
    }

    /// A persistent cache directory shared between builds under `id`.
    pub fn cache(dest: &str, id: &str) -> Self {
        Mount {
            dest: dest.into(),
            selector: String::new(),
            kind: MountKind::Cache { id: id.into() },
            by_definition: false,
        }
    }

    /// An empty in-memory directory.
    pub fn tmpfs(dest: &str) -> Self {
        Mount {
            dest: dest.into(),
            selector: String::new(),
            kind: MountKind::Tmpfs,
            by_definition: false,
        }
    }
}

/// An exec step under construction.
#[derive(Debug)]
pub struct Exec {
    root: State,
    args: Vec<String>,
    env: Vec<String>,
    cwd: String,
    network: NetMode,
    mounts: Vec<Mount>,
    proxy: Option<pb::ProxyEnv>,
    metadata: pb::OpMetadata,
}

/// A built exec step; its root and writable mounts are outputs.
#[derive(Debug)]
pub struct ExecNode {
    root: State,
    outputs: BTreeMap<String, State>,
}

impl Exec {
    /// Runs `args` on `root` (cwd `/`, sandbox network).
    pub fn new<I, S>(root: &State, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Exec {
            root: root.clone(),
            args: args.into_iter().map(Into::into).collect(),
            env: Vec::new(),
            cwd: "/".into(),
            network: NetMode::Sandbox,
            mounts: Vec::new(),
            proxy: None,
            metadata: Default::default(),
        }
    }

    /// Sets the step's proxy variables (`http_proxy`, …). BuildKit passes
    /// them to the process but leaves them out of the cache key, so a
    /// proxy change does not re-run the step. Empty values are not set.
    pub fn proxy_env(mut self, proxy: pb::ProxyEnv) -> Self {
        self.proxy = (proxy != pb::ProxyEnv::default()).then_some(proxy);
        self
    }

    /// Adds an environment variable (kept in the order given).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push(format!("{key}={value}"));
        self
    }

    /// Sets the working directory.
    pub fn cwd(mut self, dir: &str) -> Self {
        self.cwd = dir.into();
        self
    }

    /// Sets network access.
    pub fn network(mut self, mode: NetMode) -> Self {
        self.network = mode;
        self
    }

    /// Adds a mount.
    pub fn mount(mut self, mount: Mount) -> Self {
        self.mounts.push(mount);
        self
    }

    /// The name shown in progress output.
    pub fn custom_name(mut self, name: &str) -> Self {
        named(&mut self.metadata, name);
        self
    }

    /// Always re-run this step, never take it from the cache.
    pub fn ignore_cache(mut self) -> Self {
        self.metadata.ignore_cache = true;
        self
    }

    /// Finishes the op. Mounts are sorted by destination; the root and each
    /// writable bind mount get consecutive output indexes in that order.
    ///
    /// No mount refers to input 0 or names output 0, so that BuildKit
    /// ≤ 0.16 and BuildKit ≥ 0.17 compute the same cache key for the step
    /// (a cache exported by one is matched by the other). They key an exec
    /// by the JSON of its `pb.ExecOp`; BuildKit ≤ 0.16 (gogo-proto) writes a
    /// mount's `input` and `output` even when they are 0, BuildKit ≥ 0.17
    /// (protobuf-go, `omitempty`) leaves them out, so any mount with input
    /// or output 0 gives two keys. Hence:
    /// - the op's input 0 is a second copy of its first real input, which
    ///   no mount uses (BuildKit only mounts the inputs mounts refer to);
    /// - a mount's `output` field is its output index plus 1: BuildKit
    ///   reads the field only as "has an output" (≠ -1) and numbers an
    ///   exec's results by the order of those mounts, which stays 0, 1, …
    pub fn build(self) -> ExecNode {
        let mut inputs = Inputs::default();
        let mut mounts = self.mounts;
        mounts.push(Mount::bind("/", &self.root));
        mounts.sort_by(|a, b| a.dest.cmp(&b.dest));

        let mut next_output = 0i64;
        let mut outputs = Vec::new();
        let mut pb_mounts = Vec::new();
        for m in &mounts {
            let mut pm = pb::Mount {
                dest: m.dest.clone(),
                selector: m.selector.clone(),
                input: -1,
                output: -1,
                content_cache: if m.by_definition {
                    pb::MountContentCache::Off as i32
                } else {
                    0
                },
                ..Default::default()
            };
            match &m.kind {
                MountKind::Bind { source, readonly } => {
                    pm.input = inputs.index_of(source);
                    pm.readonly = *readonly;
                    if !readonly {
                        pm.output = next_output + 1;
                        outputs.push((m.dest.clone(), next_output));
                        next_output += 1;
                    }
                }
                MountKind::Secret { id, optional, mode } => {
                    pm.mount_type = pb::MountType::Secret as i32;
                    pm.secret_opt = Some(pb::SecretOpt {
                        id: id.clone(),
                        uid: 0,
                        gid: 0,
                        mode: *mode,
                        optional: *optional,
                    });
                }
                MountKind::Cache { id } => {
                    pm.mount_type = pb::MountType::Cache as i32;
                    pm.cache_opt = Some(pb::CacheOpt {
                        id: id.clone(),
                        sharing: pb::CacheSharingOpt::Locked as i32,
                    });
                }
                MountKind::Tmpfs => pm.mount_type = pb::MountType::Tmpfs as i32,
            }
            pb_mounts.push(pm);
        }
        if let Some(first) = inputs.states.first().cloned() {
            inputs.states.insert(0, first);
            for pm in &mut pb_mounts {
                if pm.input >= 0 {
                    pm.input += 1;
                }
            }
        }

        let network = match self.network {
            NetMode::Sandbox => pb::NetMode::Unset,
            NetMode::Host => pb::NetMode::Host,
            NetMode::None => pb::NetMode::None,
        };
        let op = base_op(pb::op::Op::Exec(pb::ExecOp {
            meta: Some(pb::Meta {
                args: self.args,
                env: self.env,
                cwd: self.cwd,
                proxy_env: self.proxy,
                ..Default::default()
            }),
            mounts: pb_mounts,
            network: network as i32,
            security: pb::SecurityMode::Sandbox as i32,
            secretenv: Vec::new(),
        }));
        let node =
            State::from_node(NodeKind::Op(Box::new(op)), inputs.states, self.metadata, 0).node;
        let at = |output| State {
            node: node.clone(),
            output,
        };
        ExecNode {
            root: at(0),
            outputs: outputs
                .into_iter()
                .map(|(dest, ix)| (dest, at(ix)))
                .collect(),
        }
    }
}

impl ExecNode {
    /// The root filesystem after the step.
    pub fn root(&self) -> State {
        self.root.clone()
    }

    /// The contents of the writable mount at `dest` after the step.
    pub fn output(&self, dest: &str) -> Option<State> {
        self.outputs.get(dest).cloned()
    }
}
