//! File ops: chains of mkdir, mkfile, copy and rm actions on one base.

use crate::proto::pb;
use crate::state::{base_op, named, Inputs, NodeKind, State};

/// Options for [`FileOp::copy`]; `Default` copies a single path as-is.
#[derive(Clone, Debug, Default)]
pub struct CopyOptions {
    /// Copy the contents of a source directory rather than the directory.
    pub dir_copy_contents: bool,
    /// Create missing parent directories of the destination.
    pub create_dest_path: bool,
    /// Resolve symlinks in the source path.
    pub follow_symlink: bool,
    /// Treat the source path as a glob.
    pub allow_wildcard: bool,
    /// Only copy paths matching one of these patterns.
    pub include_patterns: Vec<String>,
    /// Skip paths matching any of these patterns.
    pub exclude_patterns: Vec<String>,
    /// Override permission bits of copied files.
    pub mode: Option<i32>,
    /// Set the modification time of copied files and of directories the
    /// copy creates or fills (nanoseconds since 1970).
    pub timestamp: Option<i64>,
}

/// A chain of file actions applied in order to a base state.
#[derive(Debug)]
pub struct FileOp {
    base: State,
    inputs: Inputs,
    /// Each action with its secondary input index; every action applies to
    /// the result of the one before it (the first to the base).
    actions: Vec<(i64, pb::file_action::Action)>,
    metadata: pb::OpMetadata,
}

impl FileOp {
    /// Starts a chain on `base` (use [`State::scratch`] for an empty tree).
    pub fn new(base: State) -> Self {
        FileOp {
            base,
            inputs: Inputs::default(),
            actions: Vec::new(),
            metadata: Default::default(),
        }
    }

    /// Creates a directory (`parents` as in `mkdir -p`).
    pub fn mkdir(mut self, path: &str, mode: i32, parents: bool) -> Self {
        let action = pb::file_action::Action::Mkdir(pb::FileActionMkDir {
            path: path.to_string(),
            mode,
            make_parents: parents,
            owner: None,
            timestamp: -1,
        });
        self.actions.push((-1, action));
        self
    }

    /// Writes a file with the given bytes.
    pub fn mkfile(mut self, path: &str, mode: i32, data: impl Into<Vec<u8>>) -> Self {
        let action = pb::file_action::Action::Mkfile(pb::FileActionMkFile {
            path: path.to_string(),
            mode,
            data: data.into(),
            owner: None,
            timestamp: -1,
        });
        self.actions.push((-1, action));
        self
    }

    /// Copies `src_path` of `from` to `dest` on the chain's tree.
    pub fn copy(mut self, from: &State, src_path: &str, dest: &str, opts: CopyOptions) -> Self {
        let secondary = self.inputs.index_of(from);
        let action = pb::file_action::Action::Copy(pb::FileActionCopy {
            src: src_path.to_string(),
            dest: dest.to_string(),
            owner: None,
            mode: opts.mode.unwrap_or(-1),
            follow_symlink: opts.follow_symlink,
            dir_copy_contents: opts.dir_copy_contents,
            attempt_unpack_docker_compatibility: false,
            create_dest_path: opts.create_dest_path,
            allow_wildcard: opts.allow_wildcard,
            allow_empty_wildcard: false,
            timestamp: opts.timestamp.unwrap_or(-1),
            include_patterns: opts.include_patterns,
            exclude_patterns: opts.exclude_patterns,
            always_replace_existing_dest_paths: false,
        });
        self.actions.push((secondary, action));
        self
    }

    /// Removes a path.
    pub fn rm(mut self, path: &str, allow_not_found: bool) -> Self {
        let action = pb::file_action::Action::Rm(pb::FileActionRm {
            path: path.to_string(),
            allow_not_found,
            allow_wildcard: false,
        });
        self.actions.push((-1, action));
        self
    }

    /// The name shown in progress output.
    pub fn custom_name(mut self, name: &str) -> Self {
        named(&mut self.metadata, name);
        self
    }

    /// Finishes the op; only the last action's result is an output.
    pub fn into_state(mut self) -> State {
        assert!(
            !self.actions.is_empty(),
            "a file op needs at least one action"
        );
        let base = self.inputs.index_of(&self.base.clone());
        let actions = std::mem::take(&mut self.actions);
        let n_inputs = self.inputs.states.len() as i64;
        let last = actions.len() - 1;
        let actions = actions
            .into_iter()
            .enumerate()
            .map(|(i, (secondary, action))| {
                // Index n_inputs + k names the result of action k.
                let input = if i == 0 {
                    base
                } else {
                    n_inputs + i as i64 - 1
                };
                pb::FileAction {
                    input,
                    secondary_input: secondary,
                    output: if i == last { 0 } else { -1 },
                    action: Some(action),
                }
            })
            .collect();
        let op = base_op(pb::op::Op::File(pb::FileOp { actions }));
        State::from_node(
            NodeKind::Op(Box::new(op)),
            self.inputs.states,
            self.metadata,
            0,
        )
    }
}

/// `result`'s tree, unchanged, from an op that also takes every state of
/// `kept` as an input, so that they belong to its graph without being
/// read: one action removes a path that does not exist from `result`
/// (the op's only output), and one action per kept state, whose result is
/// no output, refers to it. BuildKit runs only the actions an output
/// needs, but keys the op by all its inputs, and exports to a remote
/// cache (`mode=max`) every step of the returned result's graph: so the
/// kept steps are exported too. With nothing to keep, `result` itself.
pub fn keep_in_graph(result: &State, kept: &[State], name: &str) -> State {
    if kept.is_empty() {
        return result.clone();
    }
    let mut inputs = Inputs::default();
    let base = inputs.index_of(result);
    let kept: Vec<i64> = kept.iter().map(|s| inputs.index_of(s)).collect();
    let untouched = |input: i64, output: i64| pb::FileAction {
        input,
        secondary_input: -1,
        output,
        action: Some(pb::file_action::Action::Rm(pb::FileActionRm {
            path: KEEP_PLACEHOLDER.to_string(),
            allow_not_found: true,
            allow_wildcard: false,
        })),
    };
    let actions = std::iter::once(untouched(base, 0))
        .chain(
            kept.into_iter()
                .filter(|&i| i != base && i >= 0)
                .map(|i| untouched(i, -1)),
        )
        .collect();
    let op = base_op(pb::op::Op::File(pb::FileOp { actions }));
    let mut metadata = pb::OpMetadata::default();
    named(&mut metadata, name);
    State::from_node(NodeKind::Op(Box::new(op)), inputs.states, metadata, 0)
}

/// The path [`keep_in_graph`]'s and [`unchanged`]'s actions remove: one no
/// tree holds.
pub const KEEP_PLACEHOLDER: &str = "/.llb-keep-in-graph-placeholder";

/// `state`'s tree, unchanged, as the output of a step of its own named
/// `name`: BuildKit takes such a step from a remote cache where it fetches
/// a source again, and the step is what a solve of it keeps in the graph.
pub fn unchanged(state: &State, name: &str) -> State {
    FileOp::new(state.clone())
        .rm(KEEP_PLACEHOLDER, true)
        .custom_name(name)
        .into_state()
}
