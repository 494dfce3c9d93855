//! Marshal graphs, decode the ops again and assert on what BuildKit sees.

use std::collections::BTreeMap;

use llb::proto::pb::{self, op::Op as Kind};
use llb::{
    digest_of, ignore_cache, source, CopyOptions, Exec, FileOp, Imported, Mount, NetMode, State,
};
use prost::Message;

/// Decodes every op, keyed by digest, and returns the terminal op too.
fn decode(def: &pb::Definition) -> (BTreeMap<String, pb::Op>, pb::Op) {
    let mut ops = BTreeMap::new();
    for bytes in &def.def {
        ops.insert(digest_of(bytes), pb::Op::decode(bytes.as_slice()).unwrap());
    }
    let terminal = pb::Op::decode(def.def.last().unwrap().as_slice()).unwrap();
    (ops, terminal)
}

fn head<'a>(ops: &'a BTreeMap<String, pb::Op>, terminal: &pb::Op) -> &'a pb::Op {
    &ops[&terminal.inputs[0].digest]
}

fn sample_graph() -> State {
    let ctx = source::local("context")
        .session("sess")
        .include_patterns(&["models/**".into(), "a\"b".into()])
        .shared_key_hint("context:models")
        .into_state();
    let weights = source::http("https://example.invalid/w.bin")
        .checksum("sha256:abc")
        .filename("w.bin")
        .custom_name("fetch w.bin")
        .into_state();
    FileOp::new(State::scratch())
        .mkdir("/blobs/sha256", 0o755, true)
        .copy(
            &ctx,
            "/models/a.json",
            "/blobs/sha256/aa",
            CopyOptions::default(),
        )
        .copy(
            &weights,
            "/w.bin",
            "/blobs/sha256/bb",
            CopyOptions::default(),
        )
        .mkfile("/index.json", 0o644, b"{}".to_vec())
        .custom_name("assemble")
        .into_state()
}

#[test]
fn definition_ends_with_terminal_and_digests_match_bytes() {
    let def = sample_graph().to_definition();
    let (ops, terminal) = decode(&def);
    assert!(terminal.op.is_none(), "terminal op carries no payload");
    assert_eq!(terminal.inputs.len(), 1);
    assert_eq!(ops.len(), 4, "two sources, one file op, one terminal");
    for (digest, op) in &ops {
        for input in &op.inputs {
            assert!(
                ops.contains_key(&input.digest),
                "{digest} names unknown input"
            );
        }
    }
    for key in def.metadata.keys() {
        assert!(
            ops.contains_key(key),
            "metadata key {key} is not an op digest"
        );
    }
    // Dependencies come first: every input appears earlier in `def`.
    let order: Vec<String> = def.def.iter().map(|b| digest_of(b)).collect();
    for (i, bytes) in def.def.iter().enumerate() {
        let op = pb::Op::decode(bytes.as_slice()).unwrap();
        for input in op.inputs {
            assert!(order[..i].contains(&input.digest));
        }
    }
}

#[test]
fn marshalling_twice_gives_identical_bytes() {
    let a = sample_graph().to_definition().encode_to_vec();
    let b = sample_graph().to_definition().encode_to_vec();
    assert_eq!(a, b);
}

#[test]
fn sources_carry_identifiers_and_attrs() {
    let def = sample_graph().to_definition();
    let (ops, _) = decode(&def);
    let sources: BTreeMap<String, pb::SourceOp> = ops
        .values()
        .filter_map(|op| match &op.op {
            Some(Kind::Source(s)) => Some((s.identifier.clone(), s.clone())),
            _ => None,
        })
        .collect();
    let local = &sources["local://context"];
    assert_eq!(local.attrs["local.session"], "sess");
    assert_eq!(
        local.attrs["local.includepattern"],
        r#"["models/**","a\"b"]"#
    );
    assert_eq!(local.attrs["local.sharedkeyhint"], "context:models");
    let http = &sources["https://example.invalid/w.bin"];
    assert_eq!(http.attrs["http.checksum"], "sha256:abc");
    assert_eq!(http.attrs["http.filename"], "w.bin");
    let named = def
        .metadata
        .values()
        .filter_map(|m| m.description.get("llb.customname"))
        .collect::<Vec<_>>();
    assert!(named.contains(&&"fetch w.bin".to_string()));
    assert!(named.contains(&&"assemble".to_string()));
}

#[test]
fn file_actions_chain_and_only_last_has_output() {
    let def = sample_graph().to_definition();
    let (ops, terminal) = decode(&def);
    let file_op = head(&ops, &terminal);
    let Some(Kind::File(f)) = &file_op.op else {
        panic!("head is a file op")
    };
    assert_eq!(file_op.inputs.len(), 2, "scratch base is not an input");
    let n = file_op.inputs.len() as i64;
    let a = &f.actions;
    assert_eq!(a.len(), 4);
    assert_eq!(a[0].input, -1, "first action starts from scratch");
    for (i, action) in a.iter().enumerate().skip(1) {
        assert_eq!(
            action.input,
            n + i as i64 - 1,
            "action {i} applies to the previous result"
        );
    }
    let outputs: Vec<i64> = a.iter().map(|x| x.output).collect();
    assert_eq!(outputs, vec![-1, -1, -1, 0]);
    let Some(pb::file_action::Action::Copy(c)) = &a[1].action else {
        panic!()
    };
    assert_eq!(
        (c.src.as_str(), c.dest.as_str()),
        ("/models/a.json", "/blobs/sha256/aa")
    );
    let secondary = &file_op.inputs[a[1].secondary_input as usize];
    let Some(Kind::Source(s)) = &ops[&secondary.digest].op else {
        panic!()
    };
    assert_eq!(s.identifier, "local://context");
    let Some(pb::file_action::Action::Mkfile(m)) = &a[3].action else {
        panic!()
    };
    assert_eq!(
        (m.path.as_str(), m.data.as_slice(), m.mode),
        ("/index.json", &b"{}"[..], 0o644)
    );
}

#[test]
fn exec_mounts_are_sorted_with_outputs_for_writable_binds() {
    let image = source::image("docker.io/library/busybox:latest").into_state();
    let src = source::local("context").into_state();
    let node = Exec::new(&image, ["/bin/true", "x"])
        .env("A", "1")
        .cwd("/work")
        .network(NetMode::None)
        .mount(Mount::bind("/src", &src).readonly().selector("models"))
        .mount(Mount::bind("/out", &State::scratch()))
        .mount(Mount::secret("/run/secrets/tok", "hf-token", true))
        .mount(Mount::cache("/cache", "dl"))
        .mount(Mount::tmpfs("/tmp"))
        .custom_name("pack")
        .build();
    let out = node.output("/out").expect("writable mount is an output");
    assert!(
        node.output("/src").is_none(),
        "read-only mounts have no output"
    );
    let def = out.to_definition();
    let (ops, terminal) = decode(&def);
    assert_eq!(terminal.inputs[0].index, 1, "/ is output 0, /out output 1");
    let op = head(&ops, &terminal);
    let Some(Kind::Exec(e)) = &op.op else {
        panic!()
    };
    let meta = e.meta.as_ref().unwrap();
    assert_eq!(meta.args, vec!["/bin/true", "x"]);
    assert_eq!(meta.env, vec!["A=1"]);
    assert_eq!(meta.cwd, "/work");
    assert_eq!(e.network, pb::NetMode::None as i32);
    let dests: Vec<&str> = e.mounts.iter().map(|m| m.dest.as_str()).collect();
    assert_eq!(
        dests,
        vec!["/", "/cache", "/out", "/run/secrets/tok", "/src", "/tmp"]
    );
    let by = |d: &str| e.mounts.iter().find(|m| m.dest == d).unwrap();
    // No mount refers to input 0 or names output 0 (BuildKit <= 0.16 and
    // >= 0.17 marshal a 0 there differently into the step's cache key):
    // input 0 is a copy of input 1, the output fields are the output
    // indexes plus 1.
    assert_eq!((by("/").input, by("/").output), (1, 1));
    assert_eq!((by("/out").input, by("/out").output), (-1, 2));
    assert_eq!(op.inputs.len(), 3);
    assert_eq!(op.inputs[0], op.inputs[1]);
    assert!(e.mounts.iter().all(|m| m.input != 0 && m.output != 0));
    let src_mount = by("/src");
    assert!(src_mount.readonly);
    assert_eq!(
        (
            src_mount.input,
            src_mount.output,
            src_mount.selector.as_str()
        ),
        (2, -1, "models")
    );
    let secret = by("/run/secrets/tok");
    assert_eq!(secret.mount_type, pb::MountType::Secret as i32);
    assert_eq!(secret.secret_opt.as_ref().unwrap().id, "hf-token");
    assert!(secret.secret_opt.as_ref().unwrap().optional);
    assert_eq!(by("/cache").mount_type, pb::MountType::Cache as i32);
    assert_eq!(by("/tmp").mount_type, pb::MountType::Tmpfs as i32);
    assert_eq!(
        src_mount.content_cache,
        pb::MountContentCache::Default as i32,
        "content hashing unless asked"
    );
}

#[test]
fn a_mount_keyed_by_definition_turns_content_hashing_off() {
    let src = source::http("http://h/w.bin")
        .checksum(&digest_of(b"w"))
        .into_state();
    let node = Exec::new(&State::scratch(), ["/bin/true"])
        .mount(Mount::bind("/w", &src).readonly().keyed_by_definition())
        .mount(Mount::bind("/out", &State::scratch()))
        .build();
    let (ops, terminal) = decode(&node.output("/out").unwrap().to_definition());
    let Some(Kind::Exec(exec)) = &head(&ops, &terminal).op else {
        panic!("exec op")
    };
    let w = exec.mounts.iter().find(|m| m.dest == "/w").unwrap();
    assert_eq!(w.content_cache, pb::MountContentCache::Off as i32);
    assert!(exec
        .mounts
        .iter()
        .filter(|m| m.dest != "/w")
        .all(|m| m.content_cache == 0));
}

#[test]
fn imported_definition_is_merged_verbatim() {
    let image = source::image("localhost:5000/fe:dev")
        .custom_name("fe")
        .into_state();
    let imported_def = image.to_definition();
    let imported = Imported::from_definition(imported_def.clone())
        .unwrap()
        .into_state();
    let node = Exec::new(&imported, ["/frontend", "hash"]).build();
    let def = node.root().to_definition();
    for bytes in &imported_def.def[..imported_def.def.len() - 1] {
        assert!(
            def.def.contains(bytes),
            "imported op bytes are kept as they were"
        );
    }
    for (k, v) in &imported_def.metadata {
        assert_eq!(def.metadata.get(k), Some(v));
    }
    let (ops, terminal) = decode(&def);
    let exec = head(&ops, &terminal);
    let image_digest = digest_of(&imported_def.def[0]);
    assert_eq!(exec.inputs[0].digest, image_digest);
}

#[test]
fn scratch_gives_an_empty_definition() {
    assert!(State::scratch().to_definition().def.is_empty());
}

#[test]
fn ignore_cache_marks_every_op_but_the_terminal_and_keeps_names() {
    let mut def = sample_graph().to_definition();
    let bytes_before = def.def.clone();
    ignore_cache(&mut def);
    assert_eq!(
        def.def, bytes_before,
        "op bytes (and so digests) are unchanged"
    );
    let terminal = digest_of(def.def.last().unwrap());
    for op in &def.def[..def.def.len() - 1] {
        assert!(def.metadata[&digest_of(op)].ignore_cache);
    }
    assert!(!def.metadata.contains_key(&terminal));
    let names: Vec<_> = def
        .metadata
        .values()
        .filter_map(|m| m.description.get("llb.customname"))
        .collect();
    assert_eq!(names.len(), 2, "progress names survive");
}

#[test]
fn merge_stacks_inputs_in_order_and_declares_its_cap() {
    let file = |path: &str| {
        FileOp::new(State::scratch())
            .mkfile(path, 0o644, path.as_bytes().to_vec())
            .into_state()
    };
    let base = source::image("docker.io/library/busybox:latest")
        .platform(pb::Platform {
            architecture: "amd64".into(),
            os: "linux".into(),
            ..Default::default()
        })
        .into_state();
    let merged = llb::merge(
        &[base, State::scratch(), file("/a"), file("/b")],
        "merge files",
    );
    let def = merged.to_definition();
    let (ops, terminal) = decode(&def);
    let merge_op = head(&ops, &terminal);
    let Some(Kind::Merge(m)) = &merge_op.op else {
        panic!("head is a merge op")
    };
    let indexes: Vec<i64> = m.inputs.iter().map(|i| i.input).collect();
    assert_eq!(indexes, [0, 1, 2], "scratch is dropped, order kept");
    let Some(Kind::Source(s)) = &ops[&merge_op.inputs[0].digest].op else {
        panic!("base first")
    };
    assert_eq!(
        s.identifier,
        "docker-image://docker.io/library/busybox:latest"
    );
    assert_eq!(
        ops[&merge_op.inputs[0].digest]
            .platform
            .as_ref()
            .unwrap()
            .architecture,
        "amd64"
    );
    let Some(Kind::File(f)) = &ops[&merge_op.inputs[2].digest].op else {
        panic!("file last")
    };
    let Some(pb::file_action::Action::Mkfile(mk)) = &f.actions[0].action else {
        panic!()
    };
    assert_eq!(mk.path, "/b");
    let meta = &def.metadata[&terminal.inputs[0].digest];
    assert_eq!(meta.caps.get("mergeop"), Some(&true));
    assert_eq!(meta.description["llb.customname"], "merge files");
}

#[test]
fn merge_of_one_state_is_that_state_and_of_none_is_scratch() {
    let a = FileOp::new(State::scratch())
        .mkdir("/a", 0o755, false)
        .into_state();
    let def = llb::merge(&[State::scratch(), a.clone()], "x").to_definition();
    assert_eq!(def, a.to_definition());
    assert!(llb::merge(&[State::scratch()], "x").is_scratch());
}

#[test]
fn kept_states_become_inputs_of_one_op_whose_only_output_is_the_result_untouched() {
    let result = sample_graph();
    let scan = Exec::new(
        &source::image("docker.io/library/x:1").into_state(),
        ["/scan"],
    )
    .mount(Mount::bind("/out", &State::scratch()))
    .build()
    .output("/out")
    .unwrap();
    // A helper imported from an earlier solve's definition, as the
    // gateway keeps them; the result itself and scratch are not inputs.
    let headers = Imported::from_definition(
        FileOp::new(State::scratch())
            .mkfile("/facts.json", 0o644, b"{}".to_vec())
            .into_state()
            .to_definition(),
    )
    .unwrap()
    .into_state();
    let kept = llb::keep_in_graph(
        &result,
        &[scan.clone(), headers, result.clone(), State::scratch()],
        "keep",
    );
    let (ops, terminal) = decode(&kept.to_definition());
    let op = head(&ops, &terminal);
    let Some(Kind::File(file)) = &op.op else {
        panic!("not a file op: {op:?}")
    };
    assert_eq!(op.inputs.len(), 3, "the result, the scan, the headers");
    let result_def = result.to_definition();
    let (_, result_terminal) = decode(&result_def);
    assert_eq!(
        op.inputs[0], result_terminal.inputs[0],
        "input 0 is the result"
    );
    let (_, result_ops) = result_def.def.split_last().unwrap();
    assert!(result_ops.iter().all(|b| ops.contains_key(&digest_of(b))));
    let outputs: Vec<(i64, i64)> = file.actions.iter().map(|a| (a.input, a.output)).collect();
    assert_eq!(outputs, [(0, 0), (1, -1), (2, -1)]);
    for a in &file.actions {
        let Some(pb::file_action::Action::Rm(rm)) = &a.action else {
            panic!("not an rm: {a:?}")
        };
        assert!(rm.allow_not_found && rm.path == llb::KEEP_PLACEHOLDER);
    }
    // Nothing to keep: the result itself, not another op.
    assert_eq!(
        llb::keep_in_graph(&result, &[], "keep").to_definition(),
        result.to_definition()
    );
}

#[test]
fn an_unchanged_step_is_one_named_rm_of_the_placeholder_on_its_input() {
    let source = source::http("https://example.invalid/w.bin")
        .checksum("sha256:abc")
        .into_state();
    let def = llb::unchanged(&source, "fetched w.bin").to_definition();
    let (ops, terminal) = decode(&def);
    let op = head(&ops, &terminal);
    let Some(Kind::File(file)) = &op.op else {
        panic!("not a file op: {op:?}")
    };
    let (_, source_terminal) = decode(&source.to_definition());
    assert_eq!(op.inputs, source_terminal.inputs);
    assert_eq!(file.actions.len(), 1);
    let Some(pb::file_action::Action::Rm(rm)) = &file.actions[0].action else {
        panic!("not an rm: {:?}", file.actions[0])
    };
    assert!(rm.allow_not_found && rm.path == llb::KEEP_PLACEHOLDER);
    assert_eq!(
        def.metadata[&terminal.inputs[0].digest].description["llb.customname"],
        "fetched w.bin"
    );
}

#[test]
fn ignore_cache_except_leaves_the_kept_ops_as_they_are() {
    let mut def = sample_graph().to_definition();
    let ops: Vec<String> = def.def[..def.def.len() - 1]
        .iter()
        .map(|op| digest_of(op))
        .collect();
    let keep: std::collections::BTreeSet<String> = [ops[0].clone()].into();
    let before = def.metadata.get(&ops[0]).cloned();
    llb::ignore_cache_except(&mut def, &keep);
    assert_eq!(def.metadata.get(&ops[0]).cloned(), before);
    for d in &ops[1..] {
        assert!(def.metadata[d].ignore_cache, "{d}");
    }
}
