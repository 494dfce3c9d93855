//! Merge ops: states stacked in order, each keeping its own layers.

use crate::proto::pb;
use crate::state::{base_op, named, NodeKind, State};

/// Stacks `states` in order (later ones win on conflicting paths). An
/// image exporter keeps each input's layers as they are, so merging one
/// state per file gives one layer per file. Needs the LLB cap `mergeop`
/// (BuildKit ≥ 0.10). Scratch inputs are dropped; none left gives scratch,
/// one left gives that state itself (as the Go client does).
pub fn merge(states: &[State], name: &str) -> State {
    let inputs: Vec<State> = states.iter().filter(|s| !s.is_scratch()).cloned().collect();
    match inputs.len() {
        0 => return State::scratch(),
        1 => return inputs[0].clone(),
        _ => {}
    }
    let merge_inputs = (0..inputs.len())
        .map(|i| pb::MergeInput { input: i as i64 })
        .collect();
    let op = base_op(pb::op::Op::Merge(pb::MergeOp {
        inputs: merge_inputs,
    }));
    let mut metadata = pb::OpMetadata::default();
    if !name.is_empty() {
        named(&mut metadata, name);
    }
    metadata.caps.insert("mergeop".into(), true);
    State::from_node(NodeKind::Op(Box::new(op)), inputs, metadata, 0)
}
