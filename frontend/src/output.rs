//! Output modes: what the build result holds and which result metadata
//! goes with it. `layout` is an OCI image layout; `files` the files at
//! their model paths; `artifact` the same files plus the proposed
//! `containerimage.artifact*` keys; `image` a data image for stock
//! exporters, one layer per file under `model_dir`: independent layers
//! stacked with MergeOp where BuildKit offers it, else a chain of one copy
//! per file (as a Dockerfile with one `COPY` per file).

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Context as _, Result};
use llb::proto::pb;
use llb::{CopyOptions, FileOp, State};
use serde_json::{json, Map, Value};

use crate::emit::{self, EarlyBlobs};
use crate::gateway::{GatewayError, Solve};
use crate::options::{OutputMode, Request};
use crate::targets::Target;
use modelpack::human::human_size;
use modelpack::oci::{self, Manifest};
use modelpack::plan::{self, ModelInfo, Plan, PlanFile, PlanKind, PlannedLayer};
use modelpack::LayerPackaging;

/// Result metadata: the result is an OCI image layout.
pub const META_OCI_LAYOUT: &str = "containerimage.oci-layout";
/// Result metadata: the result's files are an artifact's layers.
pub const META_ARTIFACT: &str = "containerimage.artifact";
/// Result metadata: the manifest `artifactType`.
pub const META_ARTIFACT_TYPE: &str = "containerimage.artifact.type";
/// Result metadata: the config blob's media type.
pub const META_ARTIFACT_CONFIG_MEDIATYPE: &str = "containerimage.artifact.config.mediatype";
/// Result metadata: the config blob's bytes.
pub const META_ARTIFACT_CONFIG: &str = "containerimage.artifact.config";
/// Result metadata: JSON list of `{path, mediaType, annotations}`.
pub const META_ARTIFACT_LAYERS: &str = "containerimage.artifact.layers";
pub use crate::gateway::META_IMAGE_CONFIG;

/// LLB cap of MergeOp (BuildKit ≥ 0.10).
pub const CAP_MERGE: &str = "mergeop";

/// Metadata returned with the result.
pub type Metadata = BTreeMap<String, Vec<u8>>;

/// A resolved base image.
#[derive(Clone, Debug)]
pub struct BaseImage {
    /// Its config JSON.
    pub config: Value,
    /// Its filesystem.
    pub state: State,
}

/// Everything the result shape depends on, settled before any source is
/// listed.
#[derive(Clone, Debug)]
pub struct Output {
    /// The mode.
    pub mode: OutputMode,
    /// ModelPack or generic.
    pub kind: PlanKind,
    /// `layer_packaging` (only ever non-raw in `layout` mode).
    pub packaging: LayerPackaging,
    /// Where files go in `image` mode.
    pub model_dir: String,
    /// `image` mode: the base image.
    pub base: Option<BaseImage>,
    /// `image` mode: stack independent per-file layers with MergeOp (else
    /// chain one copy op per file on the previous one).
    pub merge: bool,
    /// Platform of the image config and base image.
    pub platform: pb::Platform,
    /// `created` of the image config and its history.
    pub created: String,
    /// Modification time of every file and directory written
    /// (`SOURCE_DATE_EPOCH`, else 0), in nanoseconds: layers and trees
    /// do not depend on when or where the build ran.
    pub mtime_nanos: i64,
    /// `packager/bundle`: the app, one per platform, the layout is bundled with.
    pub bundle: Option<Vec<crate::bundle::App>>,
    /// `image` mode: the build's own labels (`--label k=v`, the frontend
    /// options `label:k`), set over the model's.
    pub labels: BTreeMap<String, String>,
}

/// Settles the output for `request`: plan kind, platform, base image
/// (resolved through the gateway) and whether MergeOp is available.
pub async fn prepare(
    bridge: &dyn Solve,
    opts: &BTreeMap<String, String>,
    request: &Request,
    target: Target,
) -> Result<Output, GatewayError> {
    let kind = plan_kind(target, request.artifact_type.as_deref())?;
    let image = request.output == OutputMode::Image;
    // Only an image has a platform; other results are the same for all.
    let platform_opt = opts.get("platform").map(String::as_str).filter(|_| image);
    let platform = build_platform(platform_opt, bridge.worker_platform())?;
    let merge = image && bridge.has_llb_cap(CAP_MERGE);
    if image && !merge {
        eprintln!(
            "modelpack-frontend: this BuildKit lacks the mergeop capability; file layers are chained (a changed file changes every layer after it)"
        );
    }
    let base = match (&request.base_image, image) {
        (Some(reference), true) => Some(resolve_base(bridge, reference, &platform).await?),
        _ => None,
    };
    let labels = build_labels(opts);
    if !labels.is_empty() && !image && target != Target::Bundle {
        eprintln!(
            "modelpack-frontend: --label applies to output_mode=image only (the image's labels); the {} output leaves the ModelPack config and manifest as they are",
            request.output.word()
        );
    }
    Ok(Output {
        mode: request.output,
        kind,
        packaging: request.packaging,
        model_dir: request.model_dir.clone(),
        base,
        merge,
        platform,
        created: request
            .created_at
            .clone()
            .unwrap_or_else(|| plan::EPOCH.to_string()),
        mtime_nanos: request
            .source_date_epoch
            .unwrap_or(0)
            .saturating_mul(1_000_000_000),
        bundle: None,
        labels,
    })
}

/// The build's labels: `--label k=v` reaches a frontend as the option
/// `label:k` = `v`.
pub fn build_labels(opts: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    opts.iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("label:")?.to_string(), v.clone())))
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

/// The plan kind for a target; `artifact_type` belongs to the generic one.
pub fn plan_kind(target: Target, artifact_type: Option<&str>) -> Result<PlanKind> {
    match target {
        Target::ModelPack | Target::Bundle => {
            if artifact_type.is_some() {
                bail!("build-arg artifact_type only applies to --target packager/generic; ModelPack's is fixed");
            }
            Ok(PlanKind::ModelPack)
        }
        Target::Generic => {
            let artifact_type = artifact_type.unwrap_or(plan::DEFAULT_GENERIC_ARTIFACT_TYPE);
            modelpack::generic::validate_artifact_type(artifact_type)?;
            Ok(PlanKind::Generic {
                artifact_type: artifact_type.to_string(),
            })
        }
    }
}

/// The platform of the build: the `platform` opt (one only), else the
/// worker's first platform, else linux/amd64.
pub fn build_platform(opt: Option<&str>, worker: Option<pb::Platform>) -> Result<pb::Platform> {
    if let Some(p) = opt.map(str::trim).filter(|p| !p.is_empty()) {
        if p.contains(',') {
            bail!("--platform {p}: this frontend builds one platform at a time; pass a single platform");
        }
        let parts: Vec<&str> = p.split('/').collect();
        if !(2..=3).contains(&parts.len()) || parts.iter().any(|s| s.is_empty()) {
            bail!("--platform {p}: expected os/arch[/variant], e.g. linux/amd64");
        }
        return Ok(pb::Platform {
            os: parts[0].into(),
            architecture: parts[1].into(),
            variant: parts.get(2).map(|v| v.to_string()).unwrap_or_default(),
            ..Default::default()
        });
    }
    Ok(worker.unwrap_or_else(|| pb::Platform {
        os: "linux".into(),
        architecture: "amd64".into(),
        ..Default::default()
    }))
}

/// `reference` pinned to `digest` (unless it already names one).
pub fn pinned(reference: &str, digest: &str) -> String {
    if reference.contains('@') || digest.is_empty() {
        reference.to_string()
    } else {
        format!("{reference}@{digest}")
    }
}

async fn resolve_base(
    bridge: &dyn Solve,
    reference: &str,
    platform: &pb::Platform,
) -> Result<BaseImage, GatewayError> {
    bridge.require_caps(&["source.image"], &["resolveimage"])?;
    let (digest, bytes) = bridge.resolve_image_config(reference, platform).await.map_err(|e| {
        anyhow!("build-arg base_image: cannot resolve {reference:?}: {e}; check the reference and that the engine can reach its registry")
    })?;
    let config: Value = serde_json::from_slice(&bytes).with_context(|| {
        format!("build-arg base_image: the config of {reference:?} is not JSON")
    })?;
    let pinned = pinned(reference, &digest);
    let state = llb::source::image(&pinned)
        .platform(platform.clone())
        .custom_name(&format!("base image {pinned}"))
        .into_state();
    Ok(BaseImage { config, state })
}

impl Output {
    /// The packaging sources are packed with: raw unless a layout is built.
    pub fn packaging(&self) -> LayerPackaging {
        if self.mode == OutputMode::Layout {
            self.packaging
        } else {
            LayerPackaging::Raw
        }
    }

    /// Whether weight layers are compressed too: as asked for ModelPack
    /// (whose readers want plain weights), always for generic artifacts,
    /// which have no weights.
    pub fn compress_weights(&self, asked: bool) -> bool {
        asked || matches!(self.kind, PlanKind::Generic { .. })
    }

    /// The plan of the chosen kind.
    pub fn plan(&self, files: Vec<PlanFile>, info: &ModelInfo) -> Result<Plan> {
        plan::build_kind(&self.kind, files, info, self.packaging())
    }

    /// The result state and its metadata. `sources[i]` is the state a
    /// layer with `origin.source == i` copies from. The `bases` that fit
    /// the plan (hold only blobs of it) go into a layout whole (other
    /// modes ignore them). `image` (our own) writes a big layout's
    /// documents ([`emit::layout`]).
    #[cfg(test)]
    pub fn emit(
        &self,
        plan: &Plan,
        sources: &[State],
        name: &str,
        bases: impl IntoIterator<Item = EarlyBlobs>,
        image: Option<&State>,
    ) -> Result<(State, Metadata)> {
        self.emit_with(plan, sources, name, bases, image, &[])
    }

    /// [`Output::emit`]; a layout also lists `referrers` (the model's
    /// documents, [`emit::layout_with`]); other modes leave them out.
    pub fn emit_with(
        &self,
        plan: &Plan,
        sources: &[State],
        name: &str,
        bases: impl IntoIterator<Item = EarlyBlobs>,
        image: Option<&State>,
        referrers: &[modelpack::trust::referrer::Referrer],
    ) -> Result<(State, Metadata)> {
        Ok(match self.mode {
            OutputMode::Layout => (
                emit::layout_with(
                    plan,
                    sources,
                    name,
                    &bases
                        .into_iter()
                        .filter(|b| b.fits(plan))
                        .collect::<Vec<_>>(),
                    image,
                    referrers,
                ),
                Metadata::from([(META_OCI_LAYOUT.into(), b"true".to_vec())]),
            ),
            OutputMode::Files => (
                files_state(plan, sources, "/", name, self.mtime_nanos),
                Metadata::new(),
            ),
            OutputMode::Artifact => (
                files_state(plan, sources, "/", name, self.mtime_nanos),
                artifact_metadata(plan)?,
            ),
            OutputMode::Image => {
                let base = self
                    .base
                    .as_ref()
                    .map(|b| b.state.clone())
                    .unwrap_or_default();
                let alone =
                    |l: &PlannedLayer| layer_alone(l, sources, &self.model_dir, self.mtime_nanos);
                let state = if self.merge {
                    let mut inputs = vec![base];
                    inputs.extend(plan.layers.iter().map(alone));
                    llb::merge(
                        &inputs,
                        &format!("stack {} file layers of {name}", plan.layers.len()),
                    )
                } else {
                    plan.layers.iter().fold(base, |below, l| {
                        layer_on(&alone(l), below, &l.path, self.mtime_nanos)
                    })
                };
                let config = image_config(plan, name, self, self.base.as_ref().map(|b| &b.config))?;
                (state, Metadata::from([(META_IMAGE_CONFIG.into(), config)]))
            }
        })
    }
}

/// `dir` joined with a model path.
fn dest(dir: &str, path: &str) -> String {
    format!("{}/{path}", dir.trim_end_matches('/'))
}

fn copy_options(layer: &PlannedLayer, mtime_nanos: i64) -> CopyOptions {
    // Follow symlinks: a model file is always the bytes a link names.
    CopyOptions {
        mode: Some(layer.mode as i32),
        follow_symlink: true,
        create_dest_path: true,
        timestamp: Some(mtime_nanos),
        ..Default::default()
    }
}

/// Every file copied under `dir` on scratch, in one file op.
pub fn files_state(
    plan: &Plan,
    sources: &[State],
    dir: &str,
    name: &str,
    mtime_nanos: i64,
) -> State {
    let total: u64 = plan.layers.iter().map(|l| l.descriptor.size).sum();
    let mut op = FileOp::new(State::scratch());
    for layer in &plan.layers {
        let to = dest(dir, &layer.path);
        op = op.copy(
            &sources[layer.origin.source],
            &layer.origin.path,
            &to,
            copy_options(layer, mtime_nanos),
        );
    }
    op.custom_name(&format!(
        "copy files of {name} to {dir} ({} files, {})",
        plan.layers.len(),
        human_size(total)
    ))
    .into_state()
}

/// One file alone on scratch under `dir`: a merge input, so one layer.
fn layer_alone(layer: &PlannedLayer, sources: &[State], dir: &str, mtime_nanos: i64) -> State {
    let to = dest(dir, &layer.path);
    FileOp::new(State::scratch())
        .copy(
            &sources[layer.origin.source],
            &layer.origin.path,
            &to,
            copy_options(layer, mtime_nanos),
        )
        .custom_name(&format!(
            "layer {to} ({})",
            human_size(layer.descriptor.size)
        ))
        .into_state()
}

/// Without MergeOp: the tree of [`layer_alone`] copied onto `below`, one op
/// (one layer) per file. Copying the whole tree, not just the file, sets
/// the fixed time on the parent directories too, so the layer does not
/// record when the copy ran.
fn layer_on(alone: &State, below: State, path: &str, mtime_nanos: i64) -> State {
    let opts = CopyOptions {
        dir_copy_contents: true,
        follow_symlink: false,
        timestamp: Some(mtime_nanos),
        ..Default::default()
    };
    FileOp::new(below)
        .copy(alone, "/", "/", opts)
        .custom_name(&format!("add layer {path}"))
        .into_state()
}

/// The `containerimage.artifact*` keys: artifact type, config and the
/// layers in manifest order (paths relative to the result's root).
pub fn artifact_metadata(plan: &Plan) -> Result<Metadata> {
    let manifest: Manifest = serde_json::from_slice(&plan.manifest.bytes)?;
    let layers: Vec<Value> = plan
        .layers
        .iter()
        .map(|l| json!({"path": l.path, "mediaType": l.descriptor.media_type, "annotations": l.descriptor.annotations}))
        .collect();
    Ok(Metadata::from([
        (META_ARTIFACT.into(), b"true".to_vec()),
        (
            META_ARTIFACT_TYPE.into(),
            manifest.artifact_type.into_bytes(),
        ),
        (
            META_ARTIFACT_CONFIG_MEDIATYPE.into(),
            plan.config.descriptor.media_type.clone().into_bytes(),
        ),
        (META_ARTIFACT_CONFIG.into(), plan.config.bytes.clone()),
        (META_ARTIFACT_LAYERS.into(), serde_json::to_vec(&layers)?),
    ]))
}

/// `paramSize` → `param_size`, `sourceURL` → `source_url`.
fn snake(key: &str) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for c in key.chars() {
        if c.is_ascii_uppercase() && prev_lower {
            out.push('_');
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        out.push(c.to_ascii_lowercase());
    }
    out
}

fn flatten(prefix: &str, value: &Value, labels: &mut BTreeMap<String, String>) {
    let text = match value {
        Value::Null => return,
        Value::String(s) => s.clone(),
        Value::Object(map) => {
            for (k, v) in map {
                flatten(&format!("{prefix}.{}", snake(k)), v, labels);
            }
            return;
        }
        Value::Array(items)
            if items
                .iter()
                .all(|v| v.is_string() || v.is_number() || v.is_boolean()) =>
        {
            items
                .iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join(",")
        }
        other => other.to_string(),
    };
    labels.insert(prefix.to_string(), text);
}

/// Image labels: every field of the ModelPack config's `descriptor` and
/// `config` as `org.cncf.model.<snake_case>` (nested objects dotted, lists
/// comma-joined), plus the OCI title/source/revision/created labels.
pub fn labels(plan: &Plan, name: &str) -> Result<BTreeMap<String, String>> {
    let mut labels = BTreeMap::from([(
        "org.opencontainers.image.title".to_string(),
        name.to_string(),
    )]);
    let Some(spelling) = oci::Spelling::ALL
        .into_iter()
        .find(|s| s.config_media_type() == plan.config.descriptor.media_type)
    else {
        return Ok(labels);
    };
    let prefix = spelling.annotation_prefix();
    let config: Value = serde_json::from_slice(&plan.config.bytes)?;
    for section in ["descriptor", "config"] {
        if let Some(Value::Object(map)) = config.get(section) {
            for (k, v) in map {
                flatten(&format!("{prefix}{}", snake(k)), v, &mut labels);
            }
        }
    }
    let descriptor = &config["descriptor"];
    for (field, label) in [
        ("sourceURL", "source"),
        ("revision", "revision"),
        ("createdAt", "created"),
    ] {
        if let Some(v) = descriptor.get(field).and_then(Value::as_str) {
            labels.insert(format!("org.opencontainers.image.{label}"), v.to_string());
        }
    }
    labels.insert(
        format!("{prefix}config.digest"),
        plan.config.descriptor.digest.clone(),
    );
    Ok(labels)
}

/// The OCI image config for `output_mode=image`: the base image's config
/// (or an empty one) with our labels, the build platform, a fixed
/// `created` and one history entry per layer we add, so the exporter adds
/// none with the current time. `rootfs.diff_ids` is filled in by BuildKit.
pub fn image_config(
    plan: &Plan,
    name: &str,
    out: &Output,
    base: Option<&Value>,
) -> Result<Vec<u8>> {
    let mut image = match base {
        Some(Value::Object(m)) => m.clone(),
        Some(_) => bail!("build-arg base_image: its config is not a JSON object"),
        None => Map::new(),
    };
    if base.is_none() {
        image.insert("architecture".into(), json!(out.platform.architecture));
        image.insert("os".into(), json!(out.platform.os));
        if !out.platform.variant.is_empty() {
            image.insert("variant".into(), json!(out.platform.variant));
        }
    }
    image.insert("created".into(), json!(out.created));
    let mut config = match image.remove("config") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let mut all_labels = match config.remove("Labels") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    for (k, v) in labels(plan, name)?.into_iter().chain(out.labels.clone()) {
        all_labels.insert(k, Value::String(v));
    }
    config.insert("Labels".into(), Value::Object(all_labels));
    image.insert("config".into(), Value::Object(config));

    let mut history: Vec<Value> = match image.remove("history") {
        Some(Value::Array(h)) => h,
        _ => Vec::new(),
    };
    // A base whose history covers fewer layers than it has gets entries for
    // the rest, so ours line up with our layers.
    let base_layers = base
        .and_then(|b| b["rootfs"]["diff_ids"].as_array())
        .map_or(0, Vec::len);
    let with_layer = history
        .iter()
        .filter(|h| !h["empty_layer"].as_bool().unwrap_or(false))
        .count();
    for _ in with_layer..base_layers {
        history.push(json!({"created": out.created, "created_by": "base image layer", "comment": "modelpack-frontend"}));
    }
    let mut ours = |created_by: String| {
        history.push(json!({"created": out.created, "created_by": created_by, "comment": "modelpack-frontend"}))
    };
    for l in &plan.layers {
        ours(format!("COPY {} {}", l.path, dest(&out.model_dir, &l.path)));
    }
    image.insert("history".into(), Value::Array(history));
    image.insert("rootfs".into(), json!({"type": "layers", "diff_ids": []}));
    Ok(serde_json::to_vec(&Value::Object(image))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use llb::proto::pb::{file_action::Action, op::Op as Kind, Op};
    use modelpack::plan::Origin;
    use prost::Message;

    fn file(path: &str, bytes: &[u8], executable: bool) -> PlanFile {
        PlanFile {
            path: path.into(),
            size: bytes.len() as u64,
            digest: llb::digest_of(bytes),
            executable,
            origin: Origin {
                source: 0,
                path: format!("/ctx/{path}"),
            },
            packed: None,
        }
    }

    fn output(mode: OutputMode, kind: PlanKind) -> Output {
        Output {
            mode,
            kind,
            packaging: LayerPackaging::Raw,
            model_dir: "/models".into(),
            base: None,
            merge: true,
            platform: pb::Platform {
                os: "linux".into(),
                architecture: "arm64".into(),
                ..Default::default()
            },
            created: plan::EPOCH.into(),
            mtime_nanos: 0,
            bundle: None,
            labels: BTreeMap::new(),
        }
    }

    fn sample(out: &Output) -> Plan {
        let files = vec![
            file("config.json", b"{}", false),
            file("w.safetensors", b"w", false),
            file("run.sh", b"x", true),
        ];
        let info = ModelInfo {
            name: "tiny".into(),
            source_url: Some("https://hf.example/org/tiny".into()),
            revision: Some("abc".into()),
            ..Default::default()
        };
        out.plan(files, &info).unwrap()
    }

    fn ops(state: &State) -> (Vec<Op>, Op) {
        let def = state.to_definition();
        let all: Vec<Op> = def
            .def
            .iter()
            .map(|b| Op::decode(b.as_slice()).unwrap())
            .collect();
        let head = all[all.len() - 2].clone();
        (all, head)
    }

    fn copies(op: &Op) -> Vec<(String, String, i32, bool)> {
        let Some(Kind::File(f)) = &op.op else {
            panic!("file op")
        };
        f.actions
            .iter()
            .map(|a| match a.action.as_ref().unwrap() {
                Action::Copy(c) => (c.src.clone(), c.dest.clone(), c.mode, c.follow_symlink),
                other => panic!("only copies: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn files_mode_copies_each_file_to_its_model_path_without_metadata() {
        let out = output(OutputMode::Files, PlanKind::ModelPack);
        let plan = sample(&out);
        let (state, meta) = out
            .emit(
                &plan,
                &[llb::source::local("context").into_state()],
                "tiny",
                None,
                None,
            )
            .unwrap();
        assert!(meta.is_empty());
        let (_, head) = ops(&state);
        let mut c = copies(&head);
        c.sort();
        assert_eq!(
            c,
            [
                (
                    "/ctx/config.json".into(),
                    "/config.json".into(),
                    0o644,
                    true
                ),
                ("/ctx/run.sh".into(), "/run.sh".into(), 0o755, true),
                (
                    "/ctx/w.safetensors".into(),
                    "/w.safetensors".into(),
                    0o644,
                    true
                ),
            ]
        );
    }

    #[test]
    fn artifact_mode_describes_config_and_layers_in_manifest_order() {
        let out = output(OutputMode::Artifact, PlanKind::ModelPack);
        let plan = sample(&out);
        let (_, meta) = out
            .emit(
                &plan,
                &[llb::source::local("context").into_state()],
                "tiny",
                None,
                None,
            )
            .unwrap();
        assert_eq!(meta[META_ARTIFACT], b"true");
        assert_eq!(
            meta[META_ARTIFACT_TYPE],
            oci::ARTIFACT_TYPE_MODEL.as_bytes()
        );
        assert_eq!(
            meta[META_ARTIFACT_CONFIG_MEDIATYPE],
            oci::MEDIA_TYPE_MODEL_CONFIG.as_bytes()
        );
        assert_eq!(meta[META_ARTIFACT_CONFIG], plan.config.bytes);
        let layers: Vec<Value> = serde_json::from_slice(&meta[META_ARTIFACT_LAYERS]).unwrap();
        let manifest: Manifest = serde_json::from_slice(&plan.manifest.bytes).unwrap();
        assert_eq!(layers.len(), manifest.layers.len());
        for (l, d) in layers.iter().zip(&manifest.layers) {
            assert_eq!(l["mediaType"], d.media_type.as_str());
            assert_eq!(l["path"], d.annotations[oci::ANNOTATION_FILEPATH].as_str());
            assert_eq!(
                l["annotations"],
                serde_json::to_value(&d.annotations).unwrap()
            );
        }
        assert!(!meta.contains_key(META_OCI_LAYOUT));
    }

    #[test]
    fn generic_artifact_metadata_has_the_empty_config() {
        let out = output(
            OutputMode::Artifact,
            plan_kind(Target::Generic, Some("application/vnd.x.v1")).unwrap(),
        );
        let meta = artifact_metadata(&sample(&out)).unwrap();
        assert_eq!(meta[META_ARTIFACT_TYPE], b"application/vnd.x.v1");
        assert_eq!(
            meta[META_ARTIFACT_CONFIG_MEDIATYPE],
            b"application/vnd.oci.empty.v1+json"
        );
        assert_eq!(meta[META_ARTIFACT_CONFIG], b"{}");
    }

    #[test]
    fn build_labels_are_set_over_the_models_in_image_mode() {
        let opts = BTreeMap::from([
            ("label:org.example.team".to_string(), "ml".to_string()),
            (
                "label:org.cncf.model.name".to_string(),
                "renamed".to_string(),
            ),
            ("build-arg:label:x".to_string(), "not a label".to_string()),
        ]);
        let mut out = output(OutputMode::Image, PlanKind::ModelPack);
        out.labels = build_labels(&opts);
        assert_eq!(out.labels.len(), 2, "{:?}", out.labels);
        let plan = sample(&out);
        let config: Value =
            serde_json::from_slice(&image_config(&plan, "tiny", &out, None).unwrap()).unwrap();
        let labels = &config["config"]["Labels"];
        assert_eq!(labels["org.example.team"], "ml");
        assert_eq!(
            labels["org.cncf.model.name"], "renamed",
            "the build's label wins"
        );
        assert_eq!(labels["org.cncf.model.format"], "safetensors");
    }

    #[test]
    fn image_mode_merges_one_state_per_file_and_labels_the_config() {
        let out = output(OutputMode::Image, PlanKind::ModelPack);
        let plan = sample(&out);
        let (state, meta) = out
            .emit(
                &plan,
                &[llb::source::local("context").into_state()],
                "tiny",
                None,
                None,
            )
            .unwrap();
        let (all, head) = ops(&state);
        let Some(Kind::Merge(m)) = &head.op else {
            panic!("a merge op")
        };
        assert_eq!(m.inputs.len(), 3, "one input per file, no base");
        let dests: Vec<String> = head
            .inputs
            .iter()
            .map(|i| {
                let op = all
                    .iter()
                    .find(|o| llb::digest_of(&o.encode_to_vec()) == i.digest)
                    .unwrap();
                copies(op)[0].1.clone()
            })
            .collect();
        let expected: Vec<String> = plan
            .layers
            .iter()
            .map(|l| format!("/models/{}", l.path))
            .collect();
        assert_eq!(dests, expected, "layers in manifest order");
        let config: Value = serde_json::from_slice(&meta[META_IMAGE_CONFIG]).unwrap();
        assert_eq!(
            (config["os"].as_str(), config["architecture"].as_str()),
            (Some("linux"), Some("arm64"))
        );
        let labels = &config["config"]["Labels"];
        assert_eq!(labels["org.cncf.model.name"], "tiny");
        assert_eq!(labels["org.cncf.model.format"], "safetensors");
        assert_eq!(
            labels["org.cncf.model.source_url"],
            "https://hf.example/org/tiny"
        );
        assert_eq!(
            labels["org.opencontainers.image.source"],
            "https://hf.example/org/tiny"
        );
        assert_eq!(labels["org.opencontainers.image.revision"], "abc");
        assert_eq!(
            labels["org.cncf.model.config.digest"],
            plan.config.descriptor.digest.as_str()
        );
        assert_eq!(config["history"].as_array().unwrap().len(), 3);
        assert_eq!(config["created"], plan::EPOCH);
        assert_eq!(config["rootfs"], json!({"type": "layers", "diff_ids": []}));
    }

    #[test]
    fn image_mode_without_mergeop_chains_one_copy_per_file_on_the_base() {
        let mut out = output(OutputMode::Image, PlanKind::ModelPack);
        out.merge = false;
        out.model_dir = "/opt/m".into();
        let base_config = json!({
            "architecture": "amd64", "os": "linux",
            "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"], "Labels": {"base": "yes"}},
            "rootfs": {"type": "layers", "diff_ids": ["sha256:a", "sha256:b"]},
            "history": [{"created_by": "ADD a"}, {"created_by": "ENV", "empty_layer": true}]
        });
        out.base = Some(BaseImage {
            config: base_config.clone(),
            state: llb::source::image("busybox@sha256:x").into_state(),
        });
        let plan = sample(&out);
        let (state, meta) = out
            .emit(
                &plan,
                &[llb::source::local("context").into_state()],
                "tiny",
                None,
                None,
            )
            .unwrap();
        let (all, head) = ops(&state);
        assert!(
            all.iter().all(|o| !matches!(o.op, Some(Kind::Merge(_)))),
            "no merge op"
        );
        // Walk down the chain from the head: each op copies one file's tree
        // (its first input) onto the op below (its second), down to the base.
        let find = |digest: &str| {
            all.iter()
                .find(|o| llb::digest_of(&o.encode_to_vec()) == digest)
                .unwrap()
                .clone()
        };
        let mut dests = Vec::new();
        let mut op = head;
        while let Some(Kind::File(_)) = &op.op {
            let c = copies(&op);
            assert_eq!(
                (c.len(), c[0].0.as_str(), c[0].1.as_str()),
                (1, "/", "/"),
                "a tree copy per layer"
            );
            let alone = copies(&find(&op.inputs[0].digest));
            assert_eq!(alone.len(), 1, "one file per layer");
            dests.push(alone[0].1.clone());
            op = find(&op.inputs[1].digest);
        }
        assert!(
            matches!(&op.op, Some(Kind::Source(s)) if s.identifier == "docker-image://busybox@sha256:x"),
            "the chain ends on the base"
        );
        dests.reverse();
        let expected: Vec<String> = plan
            .layers
            .iter()
            .map(|l| format!("/opt/m/{}", l.path))
            .collect();
        assert_eq!(dests, expected, "layers in manifest order");
        let config: Value = serde_json::from_slice(&meta[META_IMAGE_CONFIG]).unwrap();
        assert_eq!(
            config["architecture"], "amd64",
            "the base's platform is kept"
        );
        assert_eq!(config["config"]["Env"], json!(["PATH=/bin"]));
        assert_eq!(config["config"]["Cmd"], json!(["sh"]));
        assert_eq!(config["config"]["Labels"]["base"], "yes");
        assert_eq!(config["config"]["Labels"]["org.cncf.model.name"], "tiny");
        let history = config["history"].as_array().unwrap();
        assert_eq!(
            history.len(),
            6,
            "two base entries, one padding for the second base layer, three ours"
        );
        assert_eq!(
            history[3]["created_by"],
            format!(
                "COPY {} /opt/m/{}",
                plan.layers[0].path, plan.layers[0].path
            )
        );
    }

    #[test]
    fn cnai_labels_use_the_cnai_prefix() {
        let out = output(OutputMode::Image, PlanKind::ModelPack);
        let files = vec![file("w.safetensors", b"w", false)];
        let info = ModelInfo {
            name: "tiny".into(),
            media_types: modelpack::oci::Spelling::Cnai,
            ..Default::default()
        };
        let plan = out.plan(files, &info).unwrap();
        let labels = labels(&plan, "tiny").unwrap();
        assert_eq!(labels["org.cnai.model.name"], "tiny");
        assert_eq!(labels["org.cnai.model.format"], "safetensors");
        assert_eq!(
            labels["org.cnai.model.config.digest"],
            plan.config.descriptor.digest.as_str()
        );
        assert!(!labels.keys().any(|k| k.contains("cncf")), "{labels:?}");
    }

    #[test]
    fn labels_follow_new_config_fields() {
        let mut labels = BTreeMap::new();
        flatten("org.cncf.model.param_size", &json!("8b"), &mut labels);
        flatten(
            "org.cncf.model.capabilities",
            &json!({"inputTypes": ["text", "image"], "toolUsage": true}),
            &mut labels,
        );
        assert_eq!(
            labels["org.cncf.model.capabilities.input_types"],
            "text,image"
        );
        assert_eq!(labels["org.cncf.model.capabilities.tool_usage"], "true");
        assert_eq!(snake("paramSize"), "param_size");
        assert_eq!(snake("sourceURL"), "source_url");
    }

    #[test]
    fn layout_mode_keeps_tar_packaging_and_other_modes_use_raw() {
        let mut out = output(OutputMode::Layout, PlanKind::ModelPack);
        out.packaging = LayerPackaging::TarGzip;
        assert_eq!(out.packaging(), LayerPackaging::TarGzip);
        out.mode = OutputMode::Image;
        assert_eq!(out.packaging(), LayerPackaging::Raw);
    }

    #[test]
    fn platform_and_pinning() {
        let p = build_platform(Some("linux/arm64/v8"), None).unwrap();
        assert_eq!(
            (p.os.as_str(), p.architecture.as_str(), p.variant.as_str()),
            ("linux", "arm64", "v8")
        );
        assert_eq!(build_platform(None, None).unwrap().architecture, "amd64");
        assert!(build_platform(Some("linux/amd64,linux/arm64"), None).is_err());
        assert!(build_platform(Some("amd64"), None).is_err());
        assert_eq!(pinned("busybox", "sha256:a"), "busybox@sha256:a");
        assert_eq!(pinned("busybox@sha256:b", "sha256:a"), "busybox@sha256:b");
        assert!(plan_kind(Target::ModelPack, Some("a/b")).is_err());
        assert_eq!(
            plan_kind(Target::Generic, None).unwrap(),
            PlanKind::Generic {
                artifact_type: plan::DEFAULT_GENERIC_ARTIFACT_TYPE.into()
            }
        );
    }
}
