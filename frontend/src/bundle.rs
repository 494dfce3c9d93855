//! `packager/bundle`: the app image and the model in one OCI image index,
//! written as an OCI layout by one build. BuildKit's own Dockerfile
//! frontend builds the app from the context's Dockerfile through the
//! gateway ([`build_app`]); its answer is a file system and an image
//! config, which the `bundle-image` step turns into a one-layer image and
//! bundles with the model's layout, built as for `packager/modelpack`
//! ([`bundle_layout`]). See docs/layout-and-readers.md, "Models alongside
//! images".

use std::collections::BTreeMap;

use anyhow::{anyhow, Context as _};
use llb::{Exec, FileOp, Mount, NetMode, State};

use crate::gateway::{FrontendSolve, GatewayError, Solve, META_IMAGE_CONFIG};
use crate::options::{keys, AppBuild};
use modelpack_steps::{bundle_image, BINARY};

/// BuildKit's built-in Dockerfile frontend.
pub const DOCKERFILE_FRONTEND: &str = "dockerfile.v0";

/// Where the `bundle-image` step finds the app's image config.
const CONFIG_FILE: &str = "/config/image-config.json";

/// The app as the Dockerfile build answered: its file system (the
/// result's own LLB, so later ops build on it) and its image config.
#[derive(Clone, Debug)]
pub struct App {
    /// The built file system.
    pub rootfs: State,
    /// `containerimage.config` of the result.
    pub config: Vec<u8>,
}

/// Build args the Dockerfile build gets as they are: the reproducible
/// time and the proxy settings (BuildKit's predefined args).
const PASSED_ARGS: &[&str] = &[
    keys::SOURCE_DATE_EPOCH,
    "http_proxy",
    "https_proxy",
    "ftp_proxy",
    "no_proxy",
    "all_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "FTP_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
];

/// The request to the Dockerfile frontend for `app`: the Dockerfile
/// (`filename`) and stage (`target`), its build args (`build-arg:NAME`),
/// the `platform` asked for, and as inputs the build context (without the
/// `.dockerignore` patterns `ignore`) and the Dockerfile, both from the
/// client's `context` local source.
pub fn request(
    session: &str,
    opts: &BTreeMap<String, String>,
    app: &AppBuild,
    ignore: &[String],
) -> FrontendSolve {
    let mut fopts = BTreeMap::from([("filename".to_string(), app.dockerfile.clone())]);
    if let Some(t) = &app.target {
        fopts.insert("target".into(), t.clone());
    }
    if let Some(p) = opts.get("platform").filter(|p| !p.trim().is_empty()) {
        fopts.insert("platform".into(), p.clone());
    }
    for name in PASSED_ARGS {
        let key = format!("build-arg:{name}");
        if let Some(v) = opts.get(&key) {
            fopts.insert(key, v.clone());
        }
    }
    for (name, value) in &app.build_args {
        fopts.insert(format!("build-arg:{name}"), value.clone());
    }
    let context = llb::source::local("context")
        .session(session)
        .exclude_patterns(ignore)
        .shared_key_hint("context")
        .custom_name("load the app's build context")
        .into_state();
    let dockerfile = llb::source::local("context")
        .session(session)
        .include_patterns(std::slice::from_ref(&app.dockerfile))
        .shared_key_hint(&format!("context:{}", app.dockerfile))
        .custom_name(&format!("load the app's {}", app.dockerfile))
        .into_state();
    FrontendSolve {
        frontend: DOCKERFILE_FRONTEND.into(),
        opts: fopts,
        inputs: BTreeMap::from([
            ("context".to_string(), context.to_definition()),
            ("dockerfile".to_string(), dockerfile.to_definition()),
        ]),
    }
}

/// Has BuildKit's Dockerfile frontend build the app (one platform), with
/// the context's `.dockerignore` patterns `ignore`.
pub async fn build_app(
    bridge: &dyn Solve,
    session: &str,
    opts: &BTreeMap<String, String>,
    app: &AppBuild,
    ignore: &[String],
) -> Result<App, GatewayError> {
    if let Some(p) = opts.get("platform").filter(|p| p.contains(',')) {
        return Err(anyhow!(
            "--platform {p}: packager/bundle builds the app for one platform; build each platform's image with buildx and bundle it with the CLI's bundle command"
        )
        .into());
    }
    let answer = bridge
        .solve_frontend(&request(session, opts, app, ignore))
        .await?;
    let config = answer
        .metadata
        .get(META_IMAGE_CONFIG)
        .cloned()
        .with_context(|| {
            format!(
                "the Dockerfile build of {} returned no image config ({META_IMAGE_CONFIG})",
                app.dockerfile
            )
        })?;
    let rootfs = llb::Imported::from_definition(answer.def)
        .map_err(|e| anyhow!("the Dockerfile build's definition: {e}"))?
        .into_state();
    Ok(App { rootfs, config })
}

/// The bundle layout: the `bundle-image` step (network off) writes the
/// app image (one layer of `app`'s file system), the bundle index and
/// `index.json` named `name` into the model's layout `layout` (mounted
/// writable: the model's blobs stay). `epoch` clamps file times and dates
/// the image.
pub fn bundle_layout(
    image: &State,
    layout: &State,
    app: &App,
    name: &str,
    epoch: Option<i64>,
) -> State {
    let config = FileOp::new(State::scratch())
        .mkfile(
            CONFIG_FILE.trim_start_matches("/config"),
            0o644,
            app.config.clone(),
        )
        .custom_name("write the app image's config")
        .into_state();
    let secs = epoch.map(|e| e.to_string());
    let mut args = vec![BINARY, bundle_image::NAME];
    if let Some(s) = &secs {
        args.extend([bundle_image::EPOCH_FLAG, s.as_str()]);
    }
    args.extend(["/rootfs", CONFIG_FILE, name, "/layout"]);
    Exec::new(image, args)
        .network(NetMode::None)
        .mount(Mount::bind("/rootfs", &app.rootfs).readonly())
        .mount(Mount::bind("/config", &config).readonly())
        .mount(Mount::bind("/layout", layout))
        .custom_name(&format!(
            "bundle the app image (one layer) and model {name} in one index"
        ))
        .build()
        .output("/layout")
        .expect("/layout is a writable mount")
}

#[cfg(test)]
mod tests;
