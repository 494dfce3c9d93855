//! Plan → LLB: the OCI layout assembled with file ops only. Layer blobs are
//! copied from their source states; the JSON documents are written inline.

use std::collections::BTreeSet;

use llb::{CopyOptions, Exec, FileOp, Mount, NetMode, State};

use modelpack::human::human_size;
use modelpack::plan::Plan;

/// Blob path inside the layout for a `sha256:<hex>` digest.
pub fn blob_path(digest: &str) -> String {
    format!("/{}", oci_types::blob_path(digest))
}

/// Follow symlinks: a blob is always the bytes of the file a link names.
fn blob_copy() -> CopyOptions {
    CopyOptions {
        mode: Some(0o644),
        follow_symlink: true,
        ..Default::default()
    }
}

/// Blobs copied into `blobs/sha256/` before the plan is known: the files
/// that stay raw are their own blobs, named by the digest their download
/// was checked against, so BuildKit can copy them while the headers are
/// read and the other files packed. [`layout`] builds on top of it.
pub struct EarlyBlobs {
    /// Scratch with `/blobs/sha256/<hex>` for each digest.
    pub state: State,
    /// The digests it holds.
    pub digests: BTreeSet<String>,
}

/// One file to copy early: its state, its path there, its digest and size.
pub struct EarlyBlob<'a> {
    /// The state holding the file.
    pub from: &'a State,
    /// The file's path inside `from`.
    pub path: &'a str,
    /// `sha256:<hex>` of its bytes (checked by its download or scan).
    pub digest: &'a str,
    /// Its size in bytes.
    pub size: u64,
}

/// The copies of `files` into their blob paths (each digest once), on
/// `base` when given (a state holding just these digests at their blob
/// paths, e.g. a download step's output, not copied again), or `None` when
/// there is nothing. `whole` is another such state (e.g. a scan step's
/// blobs): the base itself when there is none, else copied in with one
/// action; its files are not copied one by one.
pub fn early_blobs<'a>(
    base: Option<(&State, BTreeSet<String>)>,
    whole: Option<(&State, &BTreeSet<String>)>,
    files: impl IntoIterator<Item = EarlyBlob<'a>>,
    name: &str,
) -> Option<EarlyBlobs> {
    let (mut base, mut digests) = match base {
        Some((state, digests)) => (Some(state.clone()), digests),
        None => (None, BTreeSet::new()),
    };
    let mut copy_whole = None;
    let mut held = 0;
    if let Some((tree, in_tree)) = whole {
        match base {
            None => base = Some(tree.clone()),
            Some(_) => copy_whole = Some(tree),
        }
        held = in_tree
            .iter()
            .filter(|d| digests.insert(d.to_string()))
            .count();
    }
    let mut op = FileOp::new(base.clone().unwrap_or_else(State::scratch)).mkdir(
        "/blobs/sha256",
        0o755,
        true,
    );
    let mut copied = 0;
    let mut total = 0;
    for f in files {
        if digests.insert(f.digest.to_string()) {
            op = op.copy(f.from, f.path, &blob_path(f.digest), blob_copy());
            copied += 1;
            total += f.size;
        }
    }
    if let Some(tree) = copy_whole {
        op = op.copy(tree, "/blobs/sha256", "/blobs/sha256", folder_copy());
    }
    let state = match (copied, copy_whole, base) {
        (0, None, None) => return None,
        (0, None, Some(base)) => base,
        _ => {
            let what = match (copy_whole, copied) {
                (Some(_), 0) => format!("copy {held} scanned small file(s) of {name} to blobs/sha256 in one copy"),
                (Some(_), _) => format!(
                    "copy {copied} raw file(s) ({}) and {held} scanned small file(s) of {name} to blobs/sha256",
                    human_size(total)
                ),
                (None, _) => format!("copy {copied} raw file(s) of {name} to blobs/sha256 ({})", human_size(total)),
            };
            op.custom_name(&what).into_state()
        }
    };
    Some(EarlyBlobs { state, digests })
}

impl EarlyBlobs {
    /// Whether `plan` has a layer for every blob copied early (a blob no
    /// layer names must not end up in the layout).
    pub fn fits(&self, plan: &Plan) -> bool {
        let layers: BTreeSet<&str> = plan
            .layers
            .iter()
            .map(|l| l.descriptor.digest.as_str())
            .collect();
        self.digests.iter().all(|d| layers.contains(d.as_str()))
    }
}

/// Documents (manifest and config) at least this big are written by a
/// step of our image from a compressed bundle ([`modelpack::layout_docs`]) rather
/// than inline in the graph: about 2,000 files. Smaller ones are written by
/// the file op, which saves starting a container.
pub const DOCS_STEP_MIN_BYTES: usize = 1 << 20;

/// The layout as a state: `oci-layout`, `index.json` and `blobs/sha256/*`.
/// `sources[i]` is the state a layer with `origin.source == i` copies from.
/// `trees` (each must [fit](EarlyBlobs::fits) the plan) go in whole: the
/// layout is written on top of the first, the others' blob folders are
/// copied in with one action each, and their blobs are not copied one by
/// one. With `image` (our own), big documents are written by a step of it
/// (see [`DOCS_STEP_MIN_BYTES`]).
#[cfg(test)]
pub fn layout(
    plan: &Plan,
    sources: &[State],
    name: &str,
    trees: &[EarlyBlobs],
    image: Option<&State>,
) -> State {
    layout_with(plan, sources, name, trees, image, &[])
}

/// [`layout`] with `referrers` (the model's BOM and provenance, see
/// `modelpack::trust`): their blobs are written with the documents and
/// `index.json` lists them after the model. The model's own bytes are the
/// same with or without them.
pub fn layout_with(
    plan: &Plan,
    sources: &[State],
    name: &str,
    trees: &[EarlyBlobs],
    image: Option<&State>,
    referrers: &[modelpack::trust::referrer::Referrer],
) -> State {
    let index = if referrers.is_empty() {
        plan.index.clone()
    } else {
        modelpack::trust::referrer::index_with(&plan.index, referrers)
            .expect("the plan's own index.json parses")
    };
    let total: u64 = plan.layers.iter().map(|l| l.descriptor.size).sum();
    let mut written: BTreeSet<String> = trees
        .iter()
        .flat_map(|t| t.digests.iter().cloned())
        .collect();
    let copies: Vec<_> = plan
        .layers
        .iter()
        .filter(|l| written.insert(l.descriptor.digest.clone()))
        .collect();
    let (base, others) = match trees.split_first() {
        Some((first, rest)) => (Some(first), rest),
        None => (None, &[][..]),
    };
    let blobs_op = || {
        let op = match base {
            Some(e) => FileOp::new(e.state.clone()),
            None => FileOp::new(State::scratch()).mkdir("/blobs/sha256", 0o755, true),
        };
        let op = others.iter().fold(op, |op, t| {
            op.copy(&t.state, "/blobs/sha256", "/blobs/sha256", folder_copy())
        });
        copies.iter().fold(op, |op, l| {
            op.copy(
                &sources[l.origin.source],
                &l.origin.path,
                &blob_path(&l.descriptor.digest),
                blob_copy(),
            )
        })
    };
    let mut docs = Vec::new();
    let attached = referrers
        .iter()
        .flat_map(|r| [&r.config, &r.document, &r.manifest]);
    for blob in [&plan.config, &plan.manifest].into_iter().chain(attached) {
        if written.insert(blob.descriptor.digest.clone()) {
            docs.push((blob_path(&blob.descriptor.digest), &blob.bytes));
        }
    }
    docs.push(("/index.json".to_string(), &index));
    docs.push(("/oci-layout".to_string(), &plan.oci_layout));
    let described = format!("{} layers, {}", plan.layers.len(), human_size(total));
    let big: usize = docs.iter().map(|(_, bytes)| bytes.len()).sum();
    match image {
        Some(image) if big >= DOCS_STEP_MIN_BYTES => {
            let blobs = match base {
                Some(e) if copies.is_empty() && others.is_empty() => e.state.clone(),
                _ => blobs_op()
                    .custom_name(&format!(
                        "copy the blobs of ModelPack layout {name} ({described})"
                    ))
                    .into_state(),
            };
            write_docs_step(
                image,
                &blobs,
                &docs,
                &format!(
                    "write the documents of ModelPack layout {name} ({})",
                    human_size(big as u64)
                ),
            )
        }
        _ => docs
            .into_iter()
            .fold(blobs_op(), |op, (path, bytes)| {
                op.mkfile(&path, 0o644, bytes.clone())
            })
            .custom_name(&format!("assemble ModelPack layout {name} ({described})"))
            .into_state(),
    }
}

/// Copies a tree's `/blobs/sha256` contents into the layout's: no mode
/// override, which would reach the folder too.
pub(crate) fn folder_copy() -> CopyOptions {
    CopyOptions {
        dir_copy_contents: true,
        follow_symlink: true,
        ..Default::default()
    }
}

/// A step of `image` writing `docs` (path, bytes) into `below`, from one
/// compressed bundle in the graph (network off). `below`, holding every
/// blob, is a writable mount: BuildKit keys it by its definition and does
/// not read it first.
fn write_docs_step(
    image: &State,
    below: &State,
    docs: &[(String, &Vec<u8>)],
    progress: &str,
) -> State {
    let mut bundle = modelpack::layout_docs::Bundle::default();
    for (path, bytes) in docs {
        bundle
            .push(path, bytes)
            .expect("OCI documents are JSON, so UTF-8");
    }
    let input = FileOp::new(State::scratch())
        .mkfile(&format!("/{DOCS_FILE}"), 0o644, bundle.to_compressed())
        .custom_name(&format!(
            "list {} layout document(s), compressed",
            docs.len()
        ))
        .into_state();
    let bundle_path = format!("/in/{DOCS_FILE}");
    Exec::new(
        image,
        [
            modelpack_steps::BINARY,
            modelpack_steps::write_docs::NAME,
            bundle_path.as_str(),
            "/out",
        ],
    )
    .network(NetMode::None)
    .mount(Mount::bind("/in", &input).readonly())
    .mount(Mount::bind("/out", below))
    .custom_name(progress)
    .build()
    .output("/out")
    .expect("/out is a writable mount")
}

/// The bundle's file name in the step's input.
const DOCS_FILE: &str = "docs.json.zst";

#[cfg(test)]
mod tests {
    use super::*;
    use llb::proto::pb::{self, file_action::Action, op::Op as Kind, Op};
    use modelpack::plan::{self, ModelInfo, Origin, PlanFile};
    use modelpack::LayerPackaging;
    use prost::Message;

    /// A raw file at `/<path>` of source 0.
    fn context_file(path: &str, bytes: &[u8]) -> PlanFile {
        PlanFile {
            path: path.into(),
            size: bytes.len() as u64,
            digest: llb::digest_of(bytes),
            executable: false,
            origin: Origin {
                source: 0,
                path: format!("/{path}"),
            },
            packed: None,
        }
    }

    #[test]
    fn layout_is_file_ops_only_with_one_copy_per_distinct_blob() {
        let src = llb::source::local("context").into_state();
        let f = context_file;
        let files = vec![
            f("a.safetensors", b"w"),
            f("copy.safetensors", b"w"),
            f("config.json", b"{}"),
        ];
        let info = ModelInfo {
            name: "m".into(),
            ..Default::default()
        };
        let plan = plan::build(files, &info, LayerPackaging::Raw).unwrap();
        let def = layout(&plan, &[src], "m", &[], None).to_definition();
        let head = &def.def[def.def.len() - 2];
        let Some(Kind::File(file_op)) = Op::decode(head.as_slice()).unwrap().op else {
            panic!("file op")
        };
        let mut copies = Vec::new();
        let mut files_written = Vec::new();
        for a in &file_op.actions {
            match a.action.as_ref().unwrap() {
                Action::Copy(c) => {
                    assert!(
                        c.follow_symlink,
                        "a blob holds the bytes a symlink points to"
                    );
                    copies.push((c.src.clone(), c.dest.clone()))
                }
                Action::Mkfile(m) => files_written.push((m.path.clone(), m.data.clone())),
                Action::Mkdir(_) => {}
                Action::Rm(_) => panic!("no rm"),
            }
        }
        assert_eq!(
            copies.len(),
            2,
            "identical content is stored once: {copies:?}"
        );
        assert_eq!(copies[0].1, blob_path(&llb::digest_of(b"{}")));
        let index = files_written
            .iter()
            .find(|(p, _)| p == "/index.json")
            .unwrap();
        assert_eq!(index.1, plan.index);
        assert!(files_written
            .iter()
            .any(|(p, d)| p == "/oci-layout" && d == &plan.oci_layout));
        assert!(files_written
            .iter()
            .any(|(p, d)| *p == blob_path(&plan.manifest.descriptor.digest)
                && *d == plan.manifest.bytes));
        let name = &def
            .metadata
            .values()
            .find_map(|m| m.description.get("llb.customname"))
            .unwrap();
        assert_eq!(name.as_str(), "assemble ModelPack layout m (3 layers, 4 B)");
    }

    #[test]
    fn early_blobs_are_copied_once_and_the_layout_builds_on_them() {
        let src = llb::source::local("context").into_state();
        let f = context_file;
        let files = vec![
            f("a.safetensors", b"w"),
            f("b.safetensors", b"w"),
            f("config.json", b"{}"),
        ];
        let early = early_blobs(
            None,
            None,
            files.iter().take(2).map(|f| EarlyBlob {
                from: &src,
                path: &f.origin.path,
                digest: &f.digest,
                size: f.size,
            }),
            "m",
        )
        .unwrap();
        assert_eq!(early.digests.len(), 1, "the same bytes are one blob");
        let info = ModelInfo {
            name: "m".into(),
            ..Default::default()
        };
        let plan = plan::build(files.clone(), &info, LayerPackaging::Raw).unwrap();
        assert!(early.fits(&plan));
        let def = layout(
            &plan,
            std::slice::from_ref(&src),
            "m",
            std::slice::from_ref(&early),
            None,
        )
        .to_definition();
        let copies_to = |wanted: &str| {
            copy_actions(&def)
                .iter()
                .filter(|c| c.dest == wanted)
                .count()
        };
        assert_eq!(
            copies_to(&blob_path(&files[0].digest)),
            1,
            "copied early, not again"
        );
        assert_eq!(
            copies_to(&blob_path(&files[2].digest)),
            1,
            "config.json is copied by the layout"
        );
        // A plan without the early blob's layer does not fit: the blob
        // would sit in the layout unreferenced.
        let other = plan::build(vec![files[2].clone()], &info, LayerPackaging::Raw).unwrap();
        assert!(!early.fits(&other));
        assert!(early_blobs(None, None, std::iter::empty(), "m").is_none());

        // On a base that holds a.safetensors' blob already, only
        // config.json is copied, and the layout copies nothing more.
        let step = llb::source::local("downloads").into_state();
        let held = BTreeSet::from([files[0].digest.clone()]);
        let on_base = early_blobs(
            Some((&step, held)),
            None,
            files.iter().skip(2).map(|f| EarlyBlob {
                from: &src,
                path: &f.origin.path,
                digest: &f.digest,
                size: f.size,
            }),
            "m",
        )
        .unwrap();
        assert_eq!(on_base.digests.len(), 2);
        assert!(on_base.fits(&plan));
        let def = layout(
            &plan,
            std::slice::from_ref(&src),
            "m",
            std::slice::from_ref(&on_base),
            None,
        )
        .to_definition();
        assert_eq!(copy_actions(&def).len(), 1, "only config.json is copied");
        let only_base = early_blobs(
            Some((&step, BTreeSet::from([files[0].digest.clone()]))),
            None,
            std::iter::empty(),
            "m",
        )
        .unwrap();
        assert_eq!(
            only_base.state.to_definition().def,
            step.to_definition().def,
            "nothing to copy: the base itself"
        );
    }

    /// Every copy action of every file op of `def`.
    fn copy_actions(def: &pb::Definition) -> Vec<pb::FileActionCopy> {
        def.def
            .iter()
            .filter_map(|op| match Op::decode(op.as_slice()).unwrap().op {
                Some(Kind::File(f)) => Some(f),
                _ => None,
            })
            .flat_map(|f| f.actions)
            .filter_map(|a| match a.action {
                Some(Action::Copy(c)) => Some(c),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn scanned_blobs_are_the_base_or_one_copy_never_one_per_file() {
        let scanned = llb::source::local("scanned").into_state();
        let lfs = llb::source::local("lfs-step").into_state();
        let files = vec![
            context_file("a.json", b"a"),
            context_file("b.json", b"b"),
            context_file("w.safetensors", b"w"),
        ];
        let small: BTreeSet<String> = files[..2].iter().map(|f| f.digest.clone()).collect();
        // Alone, the scanned blobs are the base: nothing is copied.
        let alone = early_blobs(None, Some((&scanned, &small)), std::iter::empty(), "m").unwrap();
        assert_eq!(alone.state.to_definition().def, scanned.to_definition().def);
        assert_eq!(alone.digests, small);
        // On a download step's output: one copy of their folder's contents.
        let lfs_held = BTreeSet::from([files[2].digest.clone()]);
        let both = early_blobs(
            Some((&lfs, lfs_held)),
            Some((&scanned, &small)),
            std::iter::empty(),
            "m",
        )
        .unwrap();
        assert_eq!(both.digests.len(), 3);
        let copies = copy_actions(&both.state.to_definition());
        assert_eq!(copies.len(), 1, "{copies:?}");
        assert!(
            copies[0].dir_copy_contents
                && copies[0].src == "/blobs/sha256"
                && copies[0].dest == "/blobs/sha256"
        );
        assert_eq!(
            copies[0].mode, -1,
            "no mode override, which would reach the folder too"
        );
        let plan = plan::build(
            files,
            &ModelInfo {
                name: "m".into(),
                ..Default::default()
            },
            LayerPackaging::Raw,
        )
        .unwrap();
        assert!(both.fits(&plan));
    }

    #[test]
    fn every_fitting_tree_goes_in_whole_the_first_as_the_base() {
        let src = llb::source::local("context").into_state();
        let files = vec![
            context_file("a.json", b"a"),
            context_file("w.safetensors", b"w"),
            context_file("x.json", b"x"),
        ];
        let info = ModelInfo {
            name: "m".into(),
            ..Default::default()
        };
        let plan = plan::build(files.clone(), &info, LayerPackaging::Raw).unwrap();
        let tree = |name: &str, f: &PlanFile| EarlyBlobs {
            state: llb::source::local(name).into_state(),
            digests: BTreeSet::from([f.digest.clone()]),
        };
        let trees = [tree("chain", &files[1]), tree("batch", &files[0])];
        let def = layout(&plan, &[src], "m", &trees, None).to_definition();
        let copies: Vec<(String, bool)> = copy_actions(&def)
            .into_iter()
            .map(|c| (c.dest, c.dir_copy_contents))
            .collect();
        assert_eq!(
            copies,
            [
                ("/blobs/sha256".to_string(), true),
                (blob_path(&files[2].digest), false)
            ],
            "the second tree in one copy, x.json alone"
        );
    }

    /// `n` distinct small files in folders, as a Hub repo or a context has.
    fn many_files(n: usize) -> Vec<PlanFile> {
        (0..n)
            .map(|i| {
                context_file(
                    &format!("d{:03}/f{i:05}.txt", i / 500),
                    format!("file {i}\n").as_bytes(),
                )
            })
            .collect()
    }

    #[test]
    fn a_big_layouts_documents_are_written_by_a_step_from_a_compressed_bundle() {
        let src = llb::source::local("context").into_state();
        let image = llb::source::image("localhost:5000/modelpack-frontend:dev").into_state();
        let info = ModelInfo {
            name: "many".into(),
            ..Default::default()
        };
        let plan = plan::build(many_files(10_000), &info, LayerPackaging::Raw).unwrap();
        let def =
            layout(&plan, std::slice::from_ref(&src), "many", &[], Some(&image)).to_definition();
        let ops: Vec<Op> = def
            .def
            .iter()
            .map(|b| Op::decode(b.as_slice()).unwrap())
            .collect();
        let exec = ops
            .iter()
            .find_map(|o| match &o.op {
                Some(Kind::Exec(e)) => Some(e),
                _ => None,
            })
            .expect("a docs step");
        assert_eq!(
            exec.meta.as_ref().unwrap().args[1..],
            ["write-docs", "/in/docs.json.zst", "/out"]
        );
        assert_eq!(exec.network, llb::proto::pb::NetMode::None as i32);
        let bundle = ops
            .iter()
            .filter_map(|o| match &o.op {
                Some(Kind::File(f)) => Some(f),
                _ => None,
            })
            .flat_map(|f| &f.actions)
            .find_map(|a| match &a.action {
                Some(Action::Mkfile(m)) if m.path == "/docs.json.zst" => Some(m.data.clone()),
                _ => None,
            })
            .expect("the bundle is written by the graph");
        let bundle: modelpack::layout_docs::Bundle =
            serde_json::from_slice(&modelpack::compact::expand(&bundle, "bundle").unwrap())
                .unwrap();
        let docs: Vec<(&str, &[u8])> = bundle
            .docs
            .iter()
            .map(|d| (d.path.as_str(), d.text.as_bytes()))
            .collect();
        assert_eq!(
            docs,
            [
                (
                    blob_path(&plan.config.descriptor.digest).as_str(),
                    plan.config.bytes.as_slice()
                ),
                (
                    blob_path(&plan.manifest.descriptor.digest).as_str(),
                    plan.manifest.bytes.as_slice()
                ),
                ("/index.json", plan.index.as_slice()),
                ("/oci-layout", plan.oci_layout.as_slice()),
            ]
        );
        // What made 10,000 files fail on BuildKit 0.13 (4 MiB per request):
        // the documents alone were 5.4 MB inline.
        let size: usize = def.def.iter().map(Vec::len).sum();
        assert!(plan.manifest.bytes.len() + plan.config.bytes.len() > 5_000_000);
        assert!(
            size < 2 << 20,
            "the layout graph of 10,000 files is {size} bytes"
        );

        // On early blobs holding every layer, the step writes on them directly.
        let all = many_files(3_000);
        let early = early_blobs(
            None,
            None,
            all.iter().map(|f| EarlyBlob {
                from: &src,
                path: &f.origin.path,
                digest: &f.digest,
                size: f.size,
            }),
            "many",
        )
        .unwrap();
        let plan = plan::build(all.clone(), &info, LayerPackaging::Raw).unwrap();
        let def = layout(
            &plan,
            std::slice::from_ref(&src),
            "many",
            std::slice::from_ref(&early),
            Some(&image),
        )
        .to_definition();
        let file_ops = def
            .def
            .iter()
            .filter(|b| matches!(Op::decode(b.as_slice()).unwrap().op, Some(Kind::File(_))))
            .count();
        assert_eq!(
            file_ops, 2,
            "the early copies and the bundle, no empty file op"
        );

        // A small layout keeps its documents inline: no container to start.
        let small = plan::build(many_files(50), &info, LayerPackaging::Raw).unwrap();
        let def = layout(&small, &[src], "few", &[], Some(&image)).to_definition();
        assert!(def
            .def
            .iter()
            .all(|b| !matches!(Op::decode(b.as_slice()).unwrap().op, Some(Kind::Exec(_)))));
    }
}
