//! `packager/bundle`: the app image and the model in one OCI image index,
//! written as an OCI layout by one build. BuildKit's own Dockerfile
//! frontend builds the app from the context's Dockerfile through the
//! gateway ([`build_app`]), once per platform of `--platform`
//! ([`platforms`]), with the build's named contexts and labels
//! ([`forward`]); each answer is a file system and an image config, which
//! the `bundle-image` step turns into one-layer images and bundles, in the
//! platforms' order, with the model's layout, built once as for
//! `packager/modelpack` ([`bundle_layout`]). See docs/layout-and-readers.md,
//! "Models alongside images".

use std::collections::BTreeMap;

use anyhow::{anyhow, Context as _};
use futures_util::future::try_join_all;
use llb::proto::pb;
use llb::{Exec, FileOp, Mount, NetMode, State};

use crate::gateway::{FrontendSolve, GatewayError, Solve, META_IMAGE_CONFIG};
use crate::options::{keys, AppBuild};
use modelpack_steps::{bundle_image, BINARY};

/// BuildKit's built-in Dockerfile frontend.
pub const DOCKERFILE_FRONTEND: &str = "dockerfile.v0";

/// Where the `bundle-image` step finds the app's image config.
const CONFIG_FILE: &str = "/config/image-config.json";

/// The app as the Dockerfile build answered for one platform: its file
/// system (the result's own LLB, so later ops build on it) and its image
/// config.
#[derive(Clone, Debug)]
pub struct App {
    /// The platform asked for (normalised), or none (the engine's).
    pub platform: Option<String>,
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

/// The request to the Dockerfile frontend for `app` on `platform` (none:
/// the engine's): the Dockerfile (`filename`) and stage (`target`), its
/// build args (`build-arg:NAME`), the build's named contexts and labels
/// ([`forward`]), and as inputs the build context (without the
/// `.dockerignore` patterns `ignore`) and the Dockerfile, both from the
/// client's `context` local source, and the client's `inputs` the named
/// contexts name.
pub fn request(
    session: &str,
    opts: &BTreeMap<String, String>,
    app: &AppBuild,
    ignore: &[String],
    platform: Option<&str>,
    inputs: &BTreeMap<String, pb::Definition>,
) -> FrontendSolve {
    let mut fopts = forward::opts(opts);
    fopts.insert("filename".to_string(), app.dockerfile.clone());
    if let Some(t) = &app.target {
        fopts.insert("target".into(), t.clone());
    }
    if let Some(p) = platform {
        fopts.insert("platform".into(), p.to_string());
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
    let mut all = inputs.clone();
    all.insert("context".to_string(), context.to_definition());
    all.insert("dockerfile".to_string(), dockerfile.to_definition());
    FrontendSolve {
        frontend: DOCKERFILE_FRONTEND.into(),
        opts: fopts,
        inputs: all,
    }
}

/// The platforms to build the app for: each of the `platform` option
/// ([`platforms::parse_list`]), or the engine's (`None`) without one.
pub fn platforms_of(opts: &BTreeMap<String, String>) -> anyhow::Result<Vec<Option<String>>> {
    match opts.get("platform").filter(|p| !p.trim().is_empty()) {
        Some(p) => Ok(platforms::parse_list(p)?.into_iter().map(Some).collect()),
        None => Ok(vec![None]),
    }
}

/// The client's inputs the named contexts of `opts` name
/// ([`forward::wanted_inputs`]); asked for only when there is one.
async fn forwarded_inputs(
    bridge: &dyn Solve,
    opts: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, pb::Definition>, GatewayError> {
    let wanted = forward::wanted_inputs(opts);
    if wanted.is_empty() {
        return Ok(BTreeMap::new());
    }
    let mut all = bridge.frontend_inputs().await?;
    let mut inputs = BTreeMap::new();
    for name in wanted {
        let def = all.remove(&name).with_context(|| {
            format!("a named build context names the frontend input {name}, which the client did not send")
        })?;
        inputs.insert(name, def);
    }
    Ok(inputs)
}

/// Has BuildKit's Dockerfile frontend build the app, once per platform
/// of the `platform` option ([`platforms_of`], each solve with that one
/// platform, all in flight together), with the context's `.dockerignore`
/// patterns `ignore`; the apps in the platforms' order.
pub async fn build_app(
    bridge: &dyn Solve,
    session: &str,
    opts: &BTreeMap<String, String>,
    app: &AppBuild,
    ignore: &[String],
) -> Result<Vec<App>, GatewayError> {
    let platforms = platforms_of(opts)?;
    let inputs = forwarded_inputs(bridge, opts).await?;
    let requests: Vec<FrontendSolve> = platforms
        .iter()
        .map(|p| request(session, opts, app, ignore, p.as_deref(), &inputs))
        .collect();
    let answers = try_join_all(requests.iter().map(|r| bridge.solve_frontend(r))).await?;
    platforms
        .into_iter()
        .zip(answers)
        .map(|(platform, answer)| {
            let shown = platform
                .as_deref()
                .map(|p| format!(" for {p}"))
                .unwrap_or_default();
            let config = answer
                .metadata
                .get(META_IMAGE_CONFIG)
                .cloned()
                .with_context(|| {
                    format!(
                        "the Dockerfile build of {}{shown} returned no image config ({META_IMAGE_CONFIG})",
                        app.dockerfile
                    )
                })?;
            let rootfs = llb::Imported::from_definition(answer.def)
                .map_err(|e| anyhow!("the Dockerfile build's definition{shown}: {e}"))?
                .into_state();
            Ok(App {
                platform,
                rootfs,
                config,
            })
        })
        .collect()
}

/// Where the `bundle-image` step finds the `i`th app's file system and
/// image config (the first where a one-platform build always had them).
fn app_paths(i: usize) -> (String, String) {
    match i {
        0 => ("/rootfs".into(), CONFIG_FILE.into()),
        _ => (
            format!("/rootfs-{i}"),
            format!("/config/image-config-{i}.json"),
        ),
    }
}

/// The bundle layout: the `bundle-image` step (network off) writes each
/// app image of `apps` (one layer of its file system, in their order),
/// the bundle index and `index.json` named `name` into the model's layout
/// `layout` (mounted writable: the model's blobs stay). `epoch` clamps
/// file times and dates the images.
pub fn bundle_layout(
    image: &State,
    layout: &State,
    apps: &[App],
    name: &str,
    epoch: Option<i64>,
) -> State {
    let paths: Vec<(String, String)> = (0..apps.len()).map(app_paths).collect();
    let mut config = FileOp::new(State::scratch());
    for (app, (_, file)) in apps.iter().zip(&paths) {
        config = config.mkfile(
            file.trim_start_matches("/config"),
            0o644,
            app.config.clone(),
        );
    }
    let config = config
        .custom_name(match apps {
            [_] => "write the app image's config",
            _ => "write the app images' configs",
        })
        .into_state();
    let secs = epoch.map(|e| e.to_string());
    let mut args = vec![BINARY, bundle_image::NAME];
    if let Some(s) = &secs {
        args.extend([bundle_image::EPOCH_FLAG, s.as_str()]);
    }
    for (rootfs, file) in &paths {
        args.extend([rootfs.as_str(), file.as_str()]);
    }
    args.extend([name, "/layout"]);
    let shown = match apps {
        [_] => "the app image (one layer)".to_string(),
        _ => format!(
            "the app images for {} (one layer each)",
            apps.iter()
                .map(|a| a.platform.as_deref().unwrap_or("the engine's platform"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut exec = Exec::new(image, args).network(NetMode::None);
    for (app, (rootfs, _)) in apps.iter().zip(&paths) {
        exec = exec.mount(Mount::bind(rootfs, &app.rootfs).readonly());
    }
    exec.mount(Mount::bind("/config", &config).readonly())
        .mount(Mount::bind("/layout", layout))
        .custom_name(&format!("bundle {shown} and model {name} in one index"))
        .build()
        .output("/layout")
        .expect("/layout is a writable mount")
}

pub mod forward;
pub mod platforms;

#[cfg(test)]
mod tests;
