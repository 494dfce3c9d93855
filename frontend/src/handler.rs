//! One build, from options to the returned layout: parse, list the source
//! (a scan step, or the Hub's listing), plan, emit, solve.

use std::collections::BTreeMap;

use crate::gateway::{Bridge, Environment, GatewayError, Reference, Solve};
use crate::options::{self, Request};
use crate::output::{self, Metadata, Output};
use crate::recipe;
use crate::source::{compose, context, hub, url, SourceSpec};
use crate::targets;

impl From<anyhow::Error> for GatewayError {
    fn from(e: anyhow::Error) -> Self {
        GatewayError::Local(e)
    }
}

/// LLB features every build uses.
const REQUIRED_LLB_CAPS: &[&str] = &[
    "file.base",
    "exec.mount.bind",
    "exec.mount.selector",
    "exec.meta.network",
    "source.local",
    "source.http",
];
/// Gateway features every build uses.
const REQUIRED_API_CAPS: &[&str] = &[
    "solve.base",
    "readfile",
    "return",
    "gateway.solve.evaluate",
    "proto.refarray",
];

/// Runs the build for the options in `env`; returns the ref and metadata.
pub async fn build(
    bridge: &mut Bridge,
    env: &Environment,
) -> Result<(Option<Reference>, BTreeMap<String, Vec<u8>>), GatewayError> {
    // First, so that every solve of the build is recorded.
    if let Some(tag) = env
        .opts
        .get(&format!("build-arg:{}", options::keys::DEBUG_DUMP_LLB))
        .filter(|t| !t.is_empty())
    {
        bridge.set_dump(Some(crate::llbdump::Dump::new(tag)?));
    }
    // Before any solve: every one of them may take steps from these.
    bridge.set_cache_imports(crate::cache_imports::parse(&env.opts)?);
    if let Some(id) = env.opts.get("requestid").filter(|id| !id.is_empty()) {
        let read = recipe::read(bridge, &env.session_id, &env.opts).await?;
        return Ok((
            None,
            crate::subrequests::answer_with(id, &env.opts, read.as_ref())?,
        ));
    }
    bridge.require_caps(REQUIRED_LLB_CAPS, REQUIRED_API_CAPS)?;
    let mut opts = env.opts.clone();
    let extras = match recipe::read(bridge, &env.session_id, &opts).await? {
        Some(read) => recipe::apply(&read.file, &read.loaded, &mut opts)?,
        None => recipe::Extras::default(),
    };
    let env = &Environment {
        opts,
        session_id: env.session_id.clone(),
    };
    // `--no-cache` (dockerui's key; a value naming stages means all here).
    bridge.set_no_cache(env.opts.contains_key("no-cache"));
    let bridge: &dyn Solve = bridge;
    let target = targets::route(env.opts.get("target").map(String::as_str))?;
    let mut request = options::parse(&env.opts)?;
    request.extras = extras;
    check_bundle_args(&env.opts, &request, target)?;
    let mut output = output::prepare(bridge, &env.opts, &request, target).await?;
    if target == targets::Target::Bundle {
        // The app first: a broken Dockerfile fails the build before the
        // model is fetched.
        let ignore = crate::source::context::read_dockerignore(bridge, &env.session_id).await?;
        output.bundle = Some(
            crate::bundle::build_app(bridge, &env.session_id, &env.opts, &request.app, &ignore)
                .await?,
        );
    }
    let (result, metadata) = package(bridge, env, &request, &output).await?;
    Ok((Some(result), metadata))
}

/// The app's build args and named build contexts (`--build-context`,
/// which only the app's Dockerfile build reads) belong to
/// `packager/bundle`, which writes a layout.
fn check_bundle_args(
    opts: &BTreeMap<String, String>,
    request: &Request,
    target: targets::Target,
) -> anyhow::Result<()> {
    if target == targets::Target::Bundle {
        if request.output != options::OutputMode::Layout {
            anyhow::bail!("packager/bundle writes an OCI layout; drop build-arg output_mode");
        }
        return Ok(());
    }
    if let Some(k) = opts.keys().find(|k| k.starts_with("context:")) {
        anyhow::bail!(
            "--build-context {} only applies to --target packager/bundle (the app's Dockerfile build); the model's source is build-arg source",
            k.trim_start_matches("context:")
        );
    }
    let prefixed = format!("build-arg:{}", options::keys::IMAGE_BUILD_ARG_PREFIX);
    let given = [options::keys::DOCKERFILE, options::keys::IMAGE_TARGET]
        .iter()
        .map(|k| format!("build-arg:{k}"))
        .chain(opts.keys().filter(|k| k.starts_with(&prefixed)).cloned())
        .find(|k| opts.get(k).is_some_and(|v| !v.trim().is_empty()) || k.starts_with(&prefixed));
    if let Some(k) = given {
        anyhow::bail!(
            "{} only applies to --target packager/bundle",
            k.replacen("build-arg:", "build-arg ", 1)
        );
    }
    Ok(())
}

async fn package(
    bridge: &dyn Solve,
    env: &Environment,
    request: &Request,
    output: &Output,
) -> Result<(Reference, Metadata), GatewayError> {
    if !request.extras.parts.is_empty() {
        return compose::build_layout(bridge, &env.session_id, request, output).await;
    }
    match &request.source {
        SourceSpec::Context(path) => {
            context::build_layout(bridge, &env.session_id, request, output, path.as_deref()).await
        }
        SourceSpec::HuggingFace(hf) => hub::build_layout(bridge, request, output, hf).await,
        SourceSpec::Url(urls) => url::build_layout(bridge, request, output, urls).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (format!("build-arg:{k}"), v.to_string()))
            .collect()
    }

    #[test]
    fn the_apps_build_args_belong_to_the_bundle_target_which_writes_a_layout() {
        let check = |pairs: &[(&str, &str)], target| {
            let o = opts(pairs);
            let r = options::parse(&o).unwrap();
            check_bundle_args(&o, &r, target).map_err(|e| e.to_string())
        };
        let bundle = targets::Target::Bundle;
        let model = targets::Target::ModelPack;
        assert!(check(&[("source", "."), ("dockerfile", "app/Dockerfile")], bundle).is_ok());
        assert_eq!(
            check(&[("source", "."), ("output_mode", "files")], bundle).unwrap_err(),
            "packager/bundle writes an OCI layout; drop build-arg output_mode"
        );
        assert_eq!(
            check(&[("source", "."), ("image_target", "run")], model).unwrap_err(),
            "build-arg image_target only applies to --target packager/bundle"
        );
        assert_eq!(
            check(&[("source", "."), ("image-build-arg:PORT", "80")], model).unwrap_err(),
            "build-arg image-build-arg:PORT only applies to --target packager/bundle"
        );
        assert!(check(&[("source", ".")], model).is_ok());
        let mut named = opts(&[("source", ".")]);
        named.insert("context:extra".into(), "local:extra".into());
        let r = options::parse(&named).unwrap();
        assert!(check_bundle_args(&named, &r, bundle).is_ok());
        assert_eq!(
            check_bundle_args(&named, &r, model).unwrap_err().to_string(),
            "--build-context extra only applies to --target packager/bundle (the app's Dockerfile build); the model's source is build-arg source"
        );
    }
}
