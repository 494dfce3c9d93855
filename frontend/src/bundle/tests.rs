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
    let r = request("sess", &o, &app(), &["*.tmp".to_string()]);
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
    let r = request("s", &BTreeMap::new(), &app(), &[]);
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
    assert_eq!(built.config, br#"{"architecture":"amd64","os":"linux"}"#);
    let layout = llb::source::local("layout").into_state();
    let image = g.frontend_image().unwrap();
    let state = bundle_layout(&image, &layout, &built, "tiny", Some(5));
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
    let def = bundle_layout(&image, &layout, &built, "tiny", None).to_definition();
    assert!(!format!("{:?}", ops(&def)).contains("--source-date-epoch"));
}

#[tokio::test]
async fn an_answer_without_an_image_config_or_for_several_platforms_fails() {
    let built = llb::source::image("docker.io/library/app:built").into_state();
    let g = FakeGateway::new().frontend_answers(built, BTreeMap::new());
    let err = build_app(&g, "s", &BTreeMap::new(), &app(), &[])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("no image config"), "{err}");
    let err = build_app(
        &answered(),
        "s",
        &opts(&[("platform", "linux/amd64,linux/arm64")]),
        &app(),
        &[],
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("one platform"), "{err}");
}
