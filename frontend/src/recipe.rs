//! The model recipe file as the build reads it: like BuildKit's dockerui,
//! the file named by the `filename` opt (default `model.yaml`) in the local
//! source `dockerfile` (buildx's `-f`). An empty or missing file, or one
//! with only comments (`# syntax=…`), leaves the build to its build args.
//! A recipe fills in every build arg not given on the command line (a
//! build arg wins); what build args cannot say (several sources, per-kind
//! packaging, annotations) goes into [`Extras`].

use std::collections::BTreeMap;

use anyhow::Result;
use llb::State;

use crate::gateway::{GatewayError, Solve};
pub use crate::options::Extras;
use crate::options::{keys, KNOWN};
use modelpack::recipe::{Loaded, Recipe, DEFAULT_FILE};

/// The recipe file's name: the `filename` opt, else [`DEFAULT_FILE`].
pub fn file_name(opts: &BTreeMap<String, String>) -> String {
    opts.get("filename")
        .map(|f| f.trim())
        .filter(|f| !f.is_empty())
        .unwrap_or(DEFAULT_FILE)
        .to_string()
}

/// The state holding only the recipe file of the `dockerfile` local.
pub fn state(session: &str, file: &str) -> State {
    llb::source::local("dockerfile")
        .session(session)
        .include_patterns(&[file.to_string()])
        .shared_key_hint(&format!("dockerfile:{file}"))
        .custom_name(&format!("load recipe {file}"))
        .into_state()
}

/// A recipe as read: the file's name, its text and what it says.
#[derive(Clone, Debug)]
pub struct Read {
    /// The file's base name, as errors show it.
    pub file: String,
    /// The file's text.
    pub text: String,
    /// The parsed recipe.
    pub loaded: Loaded,
}

/// Reads and parses the recipe; `None` when there is none.
pub async fn read(
    bridge: &dyn Solve,
    session: &str,
    opts: &BTreeMap<String, String>,
) -> Result<Option<Read>, GatewayError> {
    let file = file_name(opts);
    // No `dockerfile` local (buildctl without --local dockerfile) or no
    // such file: no recipe.
    let Ok(r) = bridge.solve(state(session, &file).to_definition()).await else {
        return Ok(None);
    };
    let Ok(bytes) = bridge.read_file(&r, &file).await else {
        return Ok(None);
    };
    let text = String::from_utf8(bytes)
        .map_err(|_| anyhow::anyhow!("{file}: not UTF-8 text; a model recipe is YAML"))?;
    let shown = file.rsplit('/').next().unwrap_or(&file).to_string();
    Ok(
        Recipe::load(&text, &shown, &build_args(opts))?.map(|loaded| Read {
            file: shown,
            text,
            loaded,
        }),
    )
}

fn build_args(opts: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    opts.iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("build-arg:")
                .map(|k| (k.to_string(), v.clone()))
        })
        .collect()
}

/// Fills `opts` from the recipe where the command line gave nothing, and
/// returns the rest. Build args the recipe reads through `${…}` are taken
/// out of the typo check.
pub fn apply(file: &str, loaded: &Loaded, opts: &mut BTreeMap<String, String>) -> Result<Extras> {
    let r = &loaded.recipe;
    let given = |opts: &BTreeMap<String, String>, k: &str| {
        opts.get(&format!("build-arg:{k}"))
            .is_some_and(|v| !v.trim().is_empty())
    };
    let set = |opts: &mut BTreeMap<String, String>, k: &str, v: String| {
        if !given(opts, k) && !v.is_empty() {
            opts.insert(format!("build-arg:{k}"), v);
        }
    };
    if opts.get("target").is_none_or(|t| t.trim().is_empty()) {
        opts.insert(
            "target".into(),
            r.target
                .clone()
                .unwrap_or_else(|| "packager/modelpack".into()),
        );
    }
    for name in &loaded.args_read {
        if !KNOWN.contains(&name.as_str()) {
            opts.remove(&format!("build-arg:{name}"));
        }
    }
    if let Some(n) = &r.name {
        set(opts, keys::NAME, n.0.clone());
    }
    let mut extras = Extras {
        file: file.to_string(),
        annotations: r.annotations(file)?,
        ..Default::default()
    };
    let source_given = given(opts, keys::SOURCE);
    match r.sources.as_slice() {
        _ if source_given => {}
        [] => {}
        [one] if one.path.is_none() => {
            set(opts, keys::SOURCE, one.source.clone());
            set(
                opts,
                keys::REVISION,
                one.revision.clone().unwrap_or_default(),
            );
            set(
                opts,
                keys::CHECKSUM,
                one.checksum.clone().unwrap_or_default(),
            );
            set(opts, keys::INCLUDE, one.include.join(","));
            set(opts, keys::EXCLUDE, one.exclude.join(","));
        }
        many => {
            // The first source stands in for the build args' checks
            // (revision, checksum) and the default name.
            set(opts, keys::SOURCE, many[0].source.clone());
            set(
                opts,
                keys::REVISION,
                many[0].revision.clone().unwrap_or_default(),
            );
            set(
                opts,
                keys::CHECKSUM,
                many[0].checksum.clone().unwrap_or_default(),
            );
            extras.parts = many.to_vec();
        }
    }
    if let Some(p) = &r.layer_packaging {
        if p.by_kind.is_empty() {
            set(
                opts,
                keys::LAYER_PACKAGING,
                p.default
                    .map(|d| d.suffix().to_string())
                    .unwrap_or_default(),
            );
        } else if !given(opts, keys::LAYER_PACKAGING) {
            // The strongest format asked stands for the layout as a whole.
            let top = p
                .by_kind
                .values()
                .chain(p.default.iter())
                .copied()
                .max_by_key(|f| {
                    f.is_compressed() as u8 * 2 + (*f != modelpack::LayerPackaging::Raw) as u8
                });
            set(
                opts,
                keys::LAYER_PACKAGING,
                top.map(|d| d.suffix().to_string()).unwrap_or_default(),
            );
            extras.packaging = Some(p.clone());
        }
    }
    if let Some(m) = r.media_types {
        set(opts, keys::MEDIA_TYPES, m.word().to_string());
    }
    if let Some(a) = r.attest {
        set(opts, keys::ATTEST, a.word().to_string());
    }
    if let Some(o) = r.overrides() {
        set(opts, keys::CONFIG_JSON, serde_json::to_string(&o)?);
    }
    if let Some(image) = &r.image {
        let text = |t: &Option<modelpack::recipe::Text>| {
            t.as_ref()
                .map(|t| t.0.trim().to_string())
                .unwrap_or_default()
        };
        set(opts, keys::DOCKERFILE, text(&image.dockerfile));
        set(opts, keys::IMAGE_TARGET, text(&image.target));
        for (name, value) in &image.build_args {
            // Not through `set`: an empty value is a value here.
            opts.entry(format!("build-arg:{}{name}", keys::IMAGE_BUILD_ARG_PREFIX))
                .or_insert_with(|| value.0.clone());
        }
    }
    Ok(extras)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loaded(text: &str) -> Loaded {
        Recipe::load(text, "model.yaml", &BTreeMap::new())
            .unwrap()
            .unwrap()
    }

    #[test]
    fn a_single_source_recipe_becomes_build_args_and_build_args_win() {
        let l = loaded("name: tiny\nsources:\n  - source: huggingface://o/r\n    revision: v1\n    include: [a, b]\nlayer_packaging: tar\nconfig: {paramSize: 7B}\n");
        let mut opts = BTreeMap::from([("build-arg:name".to_string(), "cli".to_string())]);
        let extras = apply("model.yaml", &l, &mut opts).unwrap();
        assert!(extras.parts.is_empty() && extras.packaging.is_none());
        assert_eq!(opts["target"], "packager/modelpack");
        assert_eq!(opts["build-arg:name"], "cli");
        assert_eq!(opts["build-arg:source"], "huggingface://o/r");
        assert_eq!(opts["build-arg:revision"], "v1");
        assert_eq!(opts["build-arg:include"], "a,b");
        assert_eq!(opts["build-arg:layer_packaging"], "tar");
        assert_eq!(
            opts["build-arg:config_json"],
            r#"{"descriptor":{},"config":{"paramSize":"7B"}}"#
        );
        let r = crate::options::parse(&opts).unwrap();
        assert_eq!(r.name, "cli");
    }

    #[test]
    fn the_image_section_becomes_the_bundle_build_args_which_win() {
        let l = loaded("target: packager/bundle\nsources:\n  - source: .\nimage:\n  dockerfile: app/Dockerfile\n  target: run\n  build_args: {PORT: '80', MODE: prod}\n");
        let mut opts = BTreeMap::from([(
            "build-arg:image-build-arg:MODE".to_string(),
            "dev".to_string(),
        )]);
        apply("model.yaml", &l, &mut opts).unwrap();
        assert_eq!(opts["target"], "packager/bundle");
        let app = crate::options::app_build(&opts).unwrap();
        assert_eq!(app.dockerfile, "app/Dockerfile");
        assert_eq!(app.target.as_deref(), Some("run"));
        assert_eq!(
            app.build_args,
            BTreeMap::from([
                ("MODE".to_string(), "dev".to_string()),
                ("PORT".to_string(), "80".to_string())
            ])
        );
        crate::options::parse(&opts).expect("the prefixed args are not typos");
    }

    #[test]
    fn media_types_becomes_the_build_arg_which_wins() {
        let l = loaded("sources:\n  - source: .\nmedia_types: cnai\n");
        let mut opts = BTreeMap::new();
        apply("model.yaml", &l, &mut opts).unwrap();
        assert_eq!(opts["build-arg:media_types"], "cnai");
        let r = crate::options::parse(&opts).unwrap();
        assert_eq!(r.media_types, modelpack::oci::Spelling::Cnai);
        let mut opts = BTreeMap::from([("build-arg:media_types".to_string(), "cncf".to_string())]);
        apply("model.yaml", &l, &mut opts).unwrap();
        assert_eq!(opts["build-arg:media_types"], "cncf");
    }

    #[test]
    fn several_sources_and_per_kind_packaging_are_extras() {
        let l = loaded("sources:\n  - source: .\n  - source: https://h/x.gguf\n    path: w\nlayer_packaging: {default: tar+gzip, weight: raw}\nannotations: {a.b: c}\n");
        let mut opts = BTreeMap::from([("target".to_string(), "packager/generic".to_string())]);
        let extras = apply("model.yaml", &l, &mut opts).unwrap();
        assert_eq!(extras.parts.len(), 2);
        assert_eq!(opts["target"], "packager/generic", "--target wins");
        assert_eq!(opts["build-arg:layer_packaging"], "tar+gzip");
        assert_eq!(extras.annotations["a.b"], "c");
        assert!(extras.packaging.is_some());
    }
}
