//! The Dockerfile frontend request and the bundle step, against the fake gateway.

use std::collections::BTreeMap;

use llb::proto::pb::{self, op::Op as Kind};
use prost::Message;

use super::*;
use crate::fake_gateway::FakeGateway;
use crate::gateway::frontend_request;
use llb::proto::gateway::CacheOptionsEntry;

fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn app() -> AppBuild {
    crate::options::app_build(&opts(&[
        ("build-arg:dockerfile", "app/Dockerfile"),
        ("build-arg:image_target", "run"),
        ("build-arg:image-build-arg:PORT", "8080"),
        ("build-arg:image-build-arg:EMPTY", ""),
    ]))
    .unwrap()
}

/// The ops of a definition, terminal op left out.
fn ops(def: &pb::Definition) -> Vec<pb::Op> {
    let (_, rest) = def.def.split_last().unwrap();
    rest.iter()
        .map(|b| pb::Op::decode(b.as_slice()).unwrap())
        .collect()
}

fn only_source(def: &pb::Definition) -> pb::SourceOp {
    match ops(def).as_slice() {
        [pb::Op {
            op: Some(Kind::Source(s)),
            ..
        }] => s.clone(),
        other => panic!("not one source op: {other:?}"),
    }
}

#[test]
fn the_dockerfile_frontend_gets_the_file_stage_args_and_the_context_as_inputs() {
    let o = opts(&[
        ("build-arg:SOURCE_DATE_EPOCH", "1700000000"),
        ("build-arg:source", "."),
        ("build-arg:image-build-arg:PORT", "8080"),
        ("platform", "linux/amd64"),
    ]);
    let r = request(
        "sess",
        &o,
        &app(),
        &["*.tmp".to_string()],
        Some("linux/amd64"),
        &BTreeMap::new(),
    );
    assert_eq!(r.frontend, "dockerfile.v0");
    assert_eq!(
        r.opts,
        opts(&[
            ("filename", "app/Dockerfile"),
            ("target", "run"),
            ("platform", "linux/amd64"),
            ("build-arg:SOURCE_DATE_EPOCH", "1700000000"),
            ("build-arg:PORT", "8080"),
            ("build-arg:EMPTY", ""),
        ]),
        "our own build args stay ours; the prefixed ones lose the prefix"
    );
    assert_eq!(
        r.inputs.keys().collect::<Vec<_>>(),
        ["context", "dockerfile"]
    );
    let ctx = only_source(&r.inputs["context"]);
    assert_eq!(ctx.identifier, "local://context");
    assert_eq!(ctx.attrs["local.session"], "sess");
    assert_eq!(ctx.attrs["local.excludepatterns"], r#"["*.tmp"]"#);
    let df = only_source(&r.inputs["dockerfile"]);
    assert_eq!(df.identifier, "local://context");
    assert_eq!(df.attrs["local.includepattern"], r#"["app/Dockerfile"]"#);
}

#[test]
fn the_gateway_request_is_evaluated_with_the_builds_cache_imports() {
    let r = request("s", &BTreeMap::new(), &app(), &[], None, &BTreeMap::new());
    let imports = vec![CacheOptionsEntry {
        r#type: "registry".into(),
        attrs: [("ref".to_string(), "127.0.0.1:5000/cache".to_string())]
            .into_iter()
            .collect(),
    }];
    let g = frontend_request(&r, &imports, false);
    assert_eq!(g.frontend, "dockerfile.v0");
    assert_eq!(g.cache_imports, imports);
    assert!(g.evaluate && g.allow_result_return && g.allow_result_array_ref);
    assert!(g.definition.is_none());
    assert_eq!(g.frontend_inputs, r.inputs);
    assert_eq!(g.frontend_opt, r.opts);
    let nc = frontend_request(&r, &imports, true);
    assert_eq!(nc.frontend_opt["no-cache"], "");
    // --no-cache marks the inputs (our ops) as every other solve's.
    for def in nc.frontend_inputs.values() {
        assert!(def.metadata.values().any(|m| m.ignore_cache), "{def:?}");
    }
    assert!(g
        .frontend_inputs
        .values()
        .all(|d| d.metadata.values().all(|m| !m.ignore_cache)));
}

fn answered() -> FakeGateway {
    let built = llb::source::image("docker.io/library/app:built").into_state();
    FakeGateway::new().frontend_answers(
        built,
        BTreeMap::from([(
            "containerimage.config".to_string(),
            br#"{"architecture":"amd64","os":"linux"}"#.to_vec(),
        )]),
    )
}

#[tokio::test]
async fn the_app_is_the_answers_definition_and_the_step_mounts_it() {
    let g = answered();
    let built = build_app(&g, "s", &BTreeMap::new(), &app(), &[])
        .await
        .unwrap();
    assert_eq!(g.frontend_solves().len(), 1);
    assert!(
        !g.frontend_solves()[0].opts.contains_key("platform"),
        "no --platform, the engine's"
    );
    assert_eq!(g.inputs_asked(), 0, "no named context asks for inputs");
    let [built] = built.as_slice() else {
        panic!("one app: {built:?}")
    };
    assert_eq!(built.config, br#"{"architecture":"amd64","os":"linux"}"#);
    let layout = llb::source::local("layout").into_state();
    let image = g.frontend_image().unwrap();
    let state = bundle_layout(
        &image,
        &layout,
        std::slice::from_ref(built),
        "tiny",
        Some(5),
    );
    let def = state.to_definition();
    let all = ops(&def);
    let exec = all
        .iter()
        .find_map(|o| match &o.op {
            Some(Kind::Exec(e)) => Some(e.clone()),
            _ => None,
        })
        .unwrap();
    let meta = exec.meta.as_ref().unwrap();
    assert_eq!(
        meta.args,
        [
            BINARY,
            "bundle-image",
            "--source-date-epoch",
            "5",
            "/rootfs",
            "/config/image-config.json",
            "tiny",
            "/layout"
        ]
    );
    assert_eq!(exec.network, pb::NetMode::None as i32);
    let rootfs = exec.mounts.iter().find(|m| m.dest == "/rootfs").unwrap();
    assert!(rootfs.readonly);
    let layout_mount = exec.mounts.iter().find(|m| m.dest == "/layout").unwrap();
    assert!(!layout_mount.readonly && layout_mount.output >= 0);
    assert!(
        all.iter().any(|o| matches!(&o.op, Some(Kind::Source(s)) if s.identifier == "docker-image://docker.io/library/app:built")),
        "the app's own LLB is in the graph"
    );
    // Without SOURCE_DATE_EPOCH, no flag.
    let def =
        bundle_layout(&image, &layout, std::slice::from_ref(built), "tiny", None).to_definition();
    assert!(!format!("{:?}", ops(&def)).contains("--source-date-epoch"));
}

#[tokio::test]
async fn an_answer_without_an_image_config_fails() {
    let built = llb::source::image("docker.io/library/app:built").into_state();
    let g = FakeGateway::new().frontend_answers(built, BTreeMap::new());
    let err = build_app(&g, "s", &BTreeMap::new(), &app(), &[])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("no image config"), "{err}");
    let err = build_app(&g, "s", &opts(&[("platform", "linux/arm64")]), &app(), &[])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("for linux/arm64 returned no image config"),
        "{err}"
    );
}

#[tokio::test]
async fn each_platform_is_one_dockerfile_solve_with_that_platform_in_order_each_once() {
    let g = answered();
    let built = build_app(
        &g,
        "s",
        &opts(&[("platform", "linux/arm64/v8,linux/amd64,linux/aarch64")]),
        &app(),
        &[],
    )
    .await
    .unwrap();
    let solves = g.frontend_solves();
    let asked: Vec<&str> = solves.iter().map(|s| s.opts["platform"].as_str()).collect();
    assert_eq!(
        asked,
        ["linux/arm64", "linux/amd64"],
        "normalised, deduplicated, in order"
    );
    for s in &solves {
        assert_eq!(s.frontend, "dockerfile.v0");
        assert_eq!(s.opts["filename"], "app/Dockerfile");
        assert_eq!(s.opts["target"], "run");
        assert_eq!(s.opts["build-arg:PORT"], "8080");
        assert_eq!(
            s.inputs.keys().collect::<Vec<_>>(),
            ["context", "dockerfile"]
        );
    }
    assert_eq!(
        solves[0].inputs, solves[1].inputs,
        "one context for every platform"
    );
    let platforms: Vec<Option<&str>> = built.iter().map(|a| a.platform.as_deref()).collect();
    assert_eq!(platforms, [Some("linux/arm64"), Some("linux/amd64")]);

    // One bundle-image step takes every platform's file system, in order.
    let layout = llb::source::local("layout").into_state();
    let image = g.frontend_image().unwrap();
    let def = bundle_layout(&image, &layout, &built, "tiny", Some(5)).to_definition();
    let all = ops(&def);
    let execs: Vec<pb::ExecOp> = all
        .iter()
        .filter_map(|o| match &o.op {
            Some(Kind::Exec(e)) => Some(e.clone()),
            _ => None,
        })
        .collect();
    let [exec] = execs.as_slice() else {
        panic!("one step: {execs:?}")
    };
    assert_eq!(
        exec.meta.as_ref().unwrap().args,
        [
            BINARY,
            "bundle-image",
            "--source-date-epoch",
            "5",
            "/rootfs",
            "/config/image-config.json",
            "/rootfs-1",
            "/config/image-config-1.json",
            "tiny",
            "/layout"
        ]
    );
    for dest in ["/rootfs", "/rootfs-1", "/config"] {
        let m = exec.mounts.iter().find(|m| m.dest == dest).unwrap();
        assert!(m.readonly, "{dest}");
    }
    let files: Vec<String> = all
        .iter()
        .filter_map(|o| match &o.op {
            Some(Kind::File(f)) => Some(f.actions.clone()),
            _ => None,
        })
        .flatten()
        .filter_map(|a| match a.action {
            Some(pb::file_action::Action::Mkfile(m)) => Some(m.path),
            _ => None,
        })
        .collect();
    assert_eq!(files, ["/image-config.json", "/image-config-1.json"]);
}

#[tokio::test]
async fn a_bad_platform_is_refused_before_any_solve() {
    let g = answered();
    let err = build_app(
        &g,
        "s",
        &opts(&[("platform", "linux/amd64,arm64")]),
        &app(),
        &[],
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with(
            "--platform linux/amd64,arm64: \"arm64\" is not a platform os/arch[/variant]"
        ),
        "{err}"
    );
    assert!(g.frontend_solves().is_empty());
}

#[tokio::test]
async fn named_contexts_labels_and_their_inputs_go_to_the_dockerfile_build() {
    let extra = llb::source::image("docker.io/library/extra:1").into_state();
    let g = answered().with_inputs(BTreeMap::from([
        ("built".to_string(), extra.to_definition()),
        ("unused".to_string(), extra.to_definition()),
        ("context".to_string(), extra.to_definition()),
    ]));
    let o = opts(&[
        ("platform", "linux/amd64,linux/arm64"),
        ("context:extra", "local:extra"),
        ("sharedkey:localdir:extra", "extra"),
        ("context:built", "input:built"),
        ("input-metadata:built", "{}"),
        ("context:context", "input:context"),
        ("label:org.example.team", "ml"),
        ("build-arg:source", "."),
    ]);
    build_app(&g, "sess", &o, &app(), &[]).await.unwrap();
    assert_eq!(g.inputs_asked(), 1, "asked once, for every platform");
    let solves = g.frontend_solves();
    assert_eq!(solves.len(), 2);
    for s in &solves {
        for k in [
            "context:extra",
            "sharedkey:localdir:extra",
            "context:built",
            "input-metadata:built",
            "context:context",
            "label:org.example.team",
        ] {
            assert_eq!(s.opts.get(k), o.get(k), "{k}");
        }
        assert!(!s.opts.contains_key("build-arg:source"));
        assert_eq!(
            s.inputs.keys().collect::<Vec<_>>(),
            ["built", "context", "dockerfile"],
            "the input a context names, not the others"
        );
        assert_eq!(s.inputs["built"], extra.to_definition());
        assert_eq!(
            only_source(&s.inputs["context"]).identifier,
            "local://context",
            "our build context stays ours"
        );
    }
    // A context naming an input the client did not send fails clearly.
    let g = answered();
    let err = build_app(&g, "s", &opts(&[("context:x", "input:x")]), &app(), &[])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("frontend input x, which the client did not send"),
        "{err}"
    );
    assert!(g.frontend_solves().is_empty());
}
