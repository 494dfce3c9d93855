//! Plan → LLB: the OCI layout assembled with file ops only. Layer blobs are
//! copied from their source states; the JSON documents are written inline.

use std::collections::BTreeSet;

use llb::{CopyOptions, FileOp, State};

use modelpack::plan::Plan;

/// Blob path inside the layout for a `sha256:<hex>` digest.
pub fn blob_path(digest: &str) -> String {
    format!("/blobs/{}", digest.replacen(':', "/", 1))
}

/// Human-readable size for progress names.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.2} {}", UNITS[unit])
    }
}

/// The layout as a state: `oci-layout`, `index.json` and `blobs/sha256/*`.
/// `sources[i]` is the state a layer with `origin.source == i` copies from.
pub fn layout(plan: &Plan, sources: &[State], name: &str) -> State {
    let total: u64 = plan.layers.iter().map(|l| l.descriptor.size).sum();
    let mut op = FileOp::new(State::scratch()).mkdir("/blobs/sha256", 0o755, true);
    let mut written = BTreeSet::new();
    // Follow symlinks: a blob is always the bytes of the file a link names.
    let blob_copy = CopyOptions { mode: Some(0o644), follow_symlink: true, ..Default::default() };
    for layer in &plan.layers {
        if written.insert(layer.descriptor.digest.clone()) {
            let from = &sources[layer.origin.source];
            op = op.copy(from, &layer.origin.path, &blob_path(&layer.descriptor.digest), blob_copy.clone());
        }
    }
    for blob in [&plan.config, &plan.manifest] {
        if written.insert(blob.descriptor.digest.clone()) {
            op = op.mkfile(&blob_path(&blob.descriptor.digest), 0o644, blob.bytes.clone());
        }
    }
    op.mkfile("/index.json", 0o644, plan.index.clone())
        .mkfile("/oci-layout", 0o644, plan.oci_layout.clone())
        .custom_name(&format!(
            "assemble ModelPack layout {name} ({} layers, {})",
            plan.layers.len(),
            human_size(total)
        ))
        .into_state()
}

#[cfg(test)]
mod tests {
    use super::*;
    use modelpack::LayerPackaging;
    use modelpack::plan::{self, ModelInfo, Origin, PlanFile};
    use llb::proto::pb::{file_action::Action, op::Op as Kind, Op};
    use prost::Message;

    #[test]
    fn layout_is_file_ops_only_with_one_copy_per_distinct_blob() {
        let src = llb::source::local("context").into_state();
        let f = |path: &str, bytes: &[u8]| PlanFile {
            path: path.into(),
            size: bytes.len() as u64,
            digest: llb::digest_of(bytes),
            executable: false,
            origin: Origin { source: 0, path: format!("/{path}") },
            packed: None,
        };
        let files = vec![f("a.safetensors", b"w"), f("copy.safetensors", b"w"), f("config.json", b"{}")];
        let info = ModelInfo { name: "m".into(), ..Default::default() };
        let plan = plan::build(files, &info, LayerPackaging::Raw).unwrap();
        let def = layout(&plan, &[src], "m").to_definition();
        let head = &def.def[def.def.len() - 2];
        let Some(Kind::File(file_op)) = Op::decode(head.as_slice()).unwrap().op else { panic!("file op") };
        let mut copies = Vec::new();
        let mut files_written = Vec::new();
        for a in &file_op.actions {
            match a.action.as_ref().unwrap() {
                Action::Copy(c) => {
                    assert!(c.follow_symlink, "a blob holds the bytes a symlink points to");
                    copies.push((c.src.clone(), c.dest.clone()))
                }
                Action::Mkfile(m) => files_written.push((m.path.clone(), m.data.clone())),
                Action::Mkdir(_) => {}
                Action::Rm(_) => panic!("no rm"),
            }
        }
        assert_eq!(copies.len(), 2, "identical content is stored once: {copies:?}");
        assert_eq!(copies[0].1, blob_path(&llb::digest_of(b"{}")));
        let index = files_written.iter().find(|(p, _)| p == "/index.json").unwrap();
        assert_eq!(index.1, plan.index);
        assert!(files_written.iter().any(|(p, d)| p == "/oci-layout" && d == &plan.oci_layout));
        assert!(files_written.iter().any(|(p, d)| *p == blob_path(&plan.manifest.descriptor.digest) && *d == plan.manifest.bytes));
        let name = &def.metadata.values().find_map(|m| m.description.get("llb.customname")).unwrap();
        assert_eq!(name.as_str(), "assemble ModelPack layout m (3 layers, 4 B)");
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_size(999), "999 B");
        assert_eq!(human_size(4_970_000_000), "4.97 GB");
    }
}
