//! Graph nodes, the [`State`] handle and marshalling into a `Definition`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use prost::Message;
use sha2::{Digest, Sha256};

use crate::proto::pb;

/// A filesystem produced by the build graph: one output of one op, or
/// scratch (the empty filesystem). Cheap to clone; immutable.
#[derive(Clone, Debug, Default)]
pub struct State {
    pub(crate) node: Option<Arc<Node>>,
    pub(crate) output: i64,
}

/// One vertex: an op whose `inputs` are filled in at marshal time, or a
/// definition imported whole (such as the frontend's own image).
#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) kind: NodeKind,
    pub(crate) inputs: Vec<State>,
    pub(crate) metadata: pb::OpMetadata,
}

#[derive(Debug)]
pub(crate) enum NodeKind {
    Op(Box<pb::Op>),
    Imported(Imported),
}

/// A previously marshalled definition used as a state, e.g. the frontend
/// image from `/run/config/buildkit/metadata/frontend.bin`.
#[derive(Clone, Debug)]
pub struct Imported {
    ops: Vec<Vec<u8>>,
    metadata: BTreeMap<String, pb::OpMetadata>,
    head: pb::Input,
}

impl Imported {
    /// Wraps a definition; its last op must be a terminal op naming the head.
    pub fn from_definition(def: pb::Definition) -> Result<Self, String> {
        let (terminal, ops) = def
            .def
            .split_last()
            .ok_or_else(|| "definition is empty".to_string())?;
        let terminal = pb::Op::decode(terminal.as_slice())
            .map_err(|e| format!("terminal op does not decode: {e}"))?;
        let head = terminal
            .inputs
            .first()
            .cloned()
            .ok_or_else(|| "terminal op has no input".to_string())?;
        Ok(Imported {
            ops: ops.to_vec(),
            metadata: def.metadata,
            head,
        })
    }

    /// The op output the definition ends at.
    pub fn head(&self) -> &pb::Input {
        &self.head
    }

    /// The imported graph's output as a state.
    pub fn into_state(self) -> State {
        let output = self.head.index;
        State::from_node(
            NodeKind::Imported(self),
            Vec::new(),
            pb::OpMetadata::default(),
            output,
        )
    }
}

/// Marks every op of a definition (all but the terminal) to be run again
/// rather than taken from BuildKit's cache, as `--no-cache` asks. Op bytes
/// and digests do not change: this is metadata only.
pub fn ignore_cache(def: &mut pb::Definition) {
    ignore_cache_except(def, &std::collections::BTreeSet::new());
}

/// [`ignore_cache`] for every op but those whose digest is in `keep`,
/// whose metadata stays as it is: ops another frontend built in this
/// build (its `--no-cache` marks are its own), which BuildKit must see with
/// the same cache options in every solve (BuildKit 0.13 crashes when one
/// vertex comes both with and without `ignore_cache` in one build).
pub fn ignore_cache_except(def: &mut pb::Definition, keep: &std::collections::BTreeSet<String>) {
    let Some((_, ops)) = def.def.split_last() else {
        return;
    };
    for op in ops {
        let d = digest_of(op);
        if !keep.contains(&d) {
            def.metadata.entry(d).or_default().ignore_cache = true;
        }
    }
}

/// `sha256:<hex>` of the given bytes: the digest BuildKit expects for ops,
/// and the OCI digest of a blob.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

impl State {
    /// The empty filesystem.
    pub fn scratch() -> Self {
        State::default()
    }

    /// Whether this is scratch.
    pub fn is_scratch(&self) -> bool {
        self.node.is_none()
    }

    pub(crate) fn from_node(
        kind: NodeKind,
        inputs: Vec<State>,
        metadata: pb::OpMetadata,
        output: i64,
    ) -> Self {
        State {
            node: Some(Arc::new(Node {
                kind,
                inputs,
                metadata,
            })),
            output,
        }
    }

    pub(crate) fn same_as(&self, other: &State) -> bool {
        self.output == other.output
            && match (&self.node, &other.node) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            }
    }

    /// Marshals the graph ending at this state: ops dependencies first, no
    /// duplicates, a terminal op last. Scratch gives an empty definition.
    pub fn to_definition(&self) -> pb::Definition {
        let Some(node) = &self.node else {
            return pb::Definition::default();
        };
        let mut m = Marshaller::default();
        let head = m.visit(node);
        let terminal = pb::Op {
            inputs: vec![pb::Input {
                digest: head,
                index: self.output,
            }],
            ..Default::default()
        };
        m.push(terminal.encode_to_vec(), None);
        pb::Definition {
            def: m.def,
            metadata: m.metadata,
        }
    }
}

#[derive(Default)]
struct Marshaller {
    def: Vec<Vec<u8>>,
    metadata: BTreeMap<String, pb::OpMetadata>,
    visited: HashMap<*const Node, String>,
    present: HashMap<String, ()>,
}

impl Marshaller {
    fn push(&mut self, bytes: Vec<u8>, meta: Option<pb::OpMetadata>) -> String {
        let digest = digest_of(&bytes);
        if self.present.insert(digest.clone(), ()).is_none() {
            self.def.push(bytes);
        }
        if let Some(meta) = meta {
            if meta != pb::OpMetadata::default() {
                self.metadata.insert(digest.clone(), meta);
            }
        }
        digest
    }

    fn visit(&mut self, node: &Arc<Node>) -> String {
        let key = Arc::as_ptr(node);
        if let Some(d) = self.visited.get(&key) {
            return d.clone();
        }
        let digest = match &node.kind {
            NodeKind::Imported(imp) => {
                for op in &imp.ops {
                    self.push(op.clone(), None);
                }
                for (k, v) in &imp.metadata {
                    self.metadata.entry(k.clone()).or_insert_with(|| v.clone());
                }
                imp.head.digest.clone()
            }
            NodeKind::Op(op) => {
                let mut op = pb::Op::clone(op);
                op.inputs = node
                    .inputs
                    .iter()
                    .map(|s| {
                        let n = s.node.as_ref().expect("scratch is never an op input");
                        pb::Input {
                            digest: self.visit(n),
                            index: s.output,
                        }
                    })
                    .collect();
                self.push(op.encode_to_vec(), Some(node.metadata.clone()))
            }
        };
        self.visited.insert(key, digest.clone());
        digest
    }
}

/// Collects the distinct non-scratch input states of an op, in first-use
/// order, and hands out their indexes (-1 for scratch).
#[derive(Debug, Default)]
pub(crate) struct Inputs {
    pub(crate) states: Vec<State>,
}

impl Inputs {
    pub(crate) fn index_of(&mut self, state: &State) -> i64 {
        if state.is_scratch() {
            return -1;
        }
        if let Some(i) = self.states.iter().position(|s| s.same_as(state)) {
            return i as i64;
        }
        self.states.push(state.clone());
        (self.states.len() - 1) as i64
    }
}

/// Op metadata with `llb.customname` set: the name shown in progress output.
pub(crate) fn named(metadata: &mut pb::OpMetadata, name: &str) {
    metadata
        .description
        .insert("llb.customname".into(), name.into());
}

/// Every op carries an empty constraints message, as the Go client emits.
pub(crate) fn base_op(op: pb::op::Op) -> pb::Op {
    pb::Op {
        op: Some(op),
        constraints: Some(pb::WorkerConstraints::default()),
        ..Default::default()
    }
}
