//! The model recipe file (`model.yaml`): what to package, written down in
//! the repository instead of in build args. Its life cycle is plain
//! functions: [`Recipe::load`] parses the YAML and substitutes `${arg}`
//! references with build args (strings only, like Dockerfile `ARG`s),
//! checks every value where it is read, and fails with one line naming the
//! file, line and column, the field's path and what is accepted.
//! `spec/model-recipe.schema.json` describes the same file for editors.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use anyhow::{anyhow, bail, Result};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use crate::config;
use crate::mediatype::Kind;
use crate::oci::{ModelDescriptor, ModelProperties, Spelling};
use crate::packaging::LayerPackaging;
use crate::setting::{Door, SourceError};
use crate::source::SourceSpec;

/// The recipe file read when the frontend opt `filename` is not given.
pub const DEFAULT_FILE: &str = "model.yaml";

/// The JSON Schema of the recipe file, compiled in.
pub const SCHEMA: &str = include_str!("../../../spec/model-recipe.schema.json");

/// The targets a recipe's `target:` may name.
pub const TARGETS: &[&str] = &["packager/modelpack", "packager/generic", "packager/bundle"];

/// Kind names accepted as keys of a `layer_packaging` map, with `default`.
pub const KINDS: &[(&str, Kind)] = &[
    ("weight", Kind::Weight),
    ("weight_config", Kind::WeightConfig),
    ("code", Kind::Code),
    ("doc", Kind::Doc),
    ("dataset", Kind::Dataset),
];

/// A parsed recipe, build args substituted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// `packager/modelpack` (default), `packager/generic` or `packager/bundle`.
    #[serde(default, deserialize_with = "target")]
    pub target: Option<String>,
    /// Reference name.
    #[serde(default)]
    pub name: Option<Text>,
    /// What to package, in order.
    #[serde(default)]
    pub sources: Vec<RecipeSource>,
    /// How files become layers, globally or per kind.
    #[serde(default)]
    pub layer_packaging: Option<Packaging>,
    /// Spelling of the model-spec names (`cncf` or `cnai`), as the
    /// `media_types` build arg.
    #[serde(default, deserialize_with = "media_types")]
    pub media_types: Option<Spelling>,
    /// Documents attached to the model (`none`, `sbom`, `provenance`,
    /// `all`), as the `attest` build arg.
    #[serde(default, deserialize_with = "attest")]
    pub attest: Option<crate::trust::Attest>,
    /// Descriptor fields over what the files say (as `config_json`).
    #[serde(default)]
    pub descriptor: Option<DescriptorOverride>,
    /// Config fields over what the files say (as `config_json`).
    #[serde(default)]
    pub config: Option<ConfigOverride>,
    /// Annotations added to the manifest.
    #[serde(default)]
    pub annotations: BTreeMap<String, Text>,
    /// `packager/bundle`: how the app image is built from the context.
    #[serde(default)]
    pub image: Option<ImageSection>,
}

/// `image:` of a recipe: the app image `packager/bundle` builds with
/// BuildKit's Dockerfile frontend (as the build args `dockerfile`,
/// `image_target` and `image-build-arg:NAME`; a build arg wins).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageSection {
    /// The Dockerfile's path in the build context (default `Dockerfile`).
    #[serde(default)]
    pub dockerfile: Option<Text>,
    /// The Dockerfile stage to build (default: the last).
    #[serde(default)]
    pub target: Option<Text>,
    /// Build args of the Dockerfile build.
    #[serde(default)]
    pub build_args: BTreeMap<String, Text>,
}

/// One entry of `sources:`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawSource")]
pub struct RecipeSource {
    /// The `source` string as written (after substitution).
    pub source: String,
    /// The parsed source.
    pub spec: SourceSpec,
    /// Only files matching these.
    pub include: Vec<String>,
    /// Skip files matching these.
    pub exclude: Vec<String>,
    /// Folder in the model the files go to (clean, relative), if any.
    pub path: Option<String>,
    /// `revision` (Hub sources only).
    pub revision: Option<String>,
    /// `checksum` (URL sources only).
    pub checksum: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    source: Text,
    #[serde(default)]
    include: Patterns,
    #[serde(default)]
    exclude: Patterns,
    #[serde(default)]
    path: Option<Text>,
    #[serde(default)]
    revision: Option<Text>,
    #[serde(default)]
    checksum: Option<Text>,
}

impl TryFrom<RawSource> for RecipeSource {
    type Error = String;

    fn try_from(raw: RawSource) -> Result<Self, String> {
        let source = raw.source.0.trim().to_string();
        let revision = raw
            .revision
            .map(|r| r.0.trim().to_string())
            .filter(|r| !r.is_empty());
        let checksum = raw
            .checksum
            .map(|c| c.0.trim().to_string())
            .filter(|c| !c.is_empty());
        let fix = |e: SourceError| e.render(Door::Recipe);
        let mut spec = SourceSpec::parse(&source, revision.as_deref()).map_err(fix)?;
        spec.apply_checksum(checksum.as_deref()).map_err(fix)?;
        let path = match raw.path {
            None => None,
            Some(p) => clean_path(&p.0)?,
        };
        Ok(RecipeSource {
            source,
            spec,
            include: raw.include.0,
            exclude: raw.exclude.0,
            path,
            revision,
            checksum,
        })
    }
}

/// Checks a source's `path`: relative, `/`-separated, no `.`/`..`/empty
/// parts; `.` or empty means the model's root.
pub fn clean_path(p: &str) -> Result<Option<String>, String> {
    let p = p.trim();
    if p.is_empty() || p == "." {
        return Ok(None);
    }
    let trimmed = p.trim_end_matches('/');
    let ok = !p.starts_with('/')
        && !trimmed.is_empty()
        && trimmed
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
        && !p
            .chars()
            .any(|c| c.is_control() || c == '\\' || c == '*' || c == '?');
    if !ok {
        return Err(format!(
            "path {p:?} is not a clean relative folder; e.g. tokenizer or weights/fp16"
        ));
    }
    Ok(Some(trimmed.to_string()))
}

/// `layer_packaging`: one format, or a format per kind of file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Packaging {
    /// The format of kinds not named (`default:` or the single value).
    pub default: Option<LayerPackaging>,
    /// Formats per kind; a compressed format given here applies to that
    /// kind as written, weights included.
    pub by_kind: BTreeMap<Kind, LayerPackaging>,
}

impl Packaging {
    /// The format a file of `kind` is written in; `fallback` when neither
    /// the kind nor `default` is given.
    pub fn for_kind(
        &self,
        kind: Kind,
        fallback: LayerPackaging,
        compress_weights: bool,
    ) -> LayerPackaging {
        match self.by_kind.get(&kind) {
            Some(p) => *p,
            None => self
                .default
                .unwrap_or(fallback)
                .for_kind(kind, compress_weights),
        }
    }
}

fn packaging_value(s: &str) -> Result<LayerPackaging, String> {
    LayerPackaging::from_suffix(s.trim()).ok_or_else(|| {
        let all: Vec<&str> = LayerPackaging::ALL.iter().map(|p| p.suffix()).collect();
        format!(
            "unknown layer packaging {s:?}; accepted: {}",
            all.join(", ")
        )
    })
}

impl<'de> Deserialize<'de> for Packaging {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Packaging;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a format (raw, tar, tar+gzip, tar+zstd) or a map of kind (default, weight, weight_config, code, doc, dataset) to format")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Packaging, E> {
                let s = substitute(s).map_err(E::custom)?;
                Ok(Packaging {
                    default: Some(packaging_value(&s).map_err(E::custom)?),
                    by_kind: BTreeMap::new(),
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Packaging, A::Error> {
                let mut out = Packaging::default();
                while let Some(key) = map.next_key::<String>()? {
                    let value: Text = map.next_value()?;
                    let format = packaging_value(&value.0).map_err(de::Error::custom)?;
                    if key == "default" {
                        out.default = Some(format);
                    } else if let Some((_, kind)) = KINDS.iter().find(|(k, _)| *k == key) {
                        out.by_kind.insert(*kind, format);
                    } else {
                        let names: Vec<&str> = KINDS.iter().map(|(k, _)| *k).collect();
                        return Err(de::Error::custom(format!(
                            "unknown kind {key:?}; accepted: default, {}",
                            names.join(", ")
                        )));
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_any(V)
    }
}

/// `descriptor:` fields, strings substituted and checked like `config_json`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "ModelDescriptor")]
pub struct DescriptorOverride(pub ModelDescriptor);

impl TryFrom<ModelDescriptor> for DescriptorOverride {
    type Error = String;
    fn try_from(d: ModelDescriptor) -> Result<Self, String> {
        let d: ModelDescriptor = substitute_all(&d)?;
        config::check(&d, &ModelProperties::default()).map_err(|e| e.to_string())?;
        Ok(DescriptorOverride(d))
    }
}

/// `config:` fields, strings substituted and checked like `config_json`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "ModelProperties")]
pub struct ConfigOverride(pub ModelProperties);

impl TryFrom<ModelProperties> for ConfigOverride {
    type Error = String;
    fn try_from(c: ModelProperties) -> Result<Self, String> {
        let c: ModelProperties = substitute_all(&c)?;
        config::check(&ModelDescriptor::default(), &c).map_err(|e| e.to_string())?;
        Ok(ConfigOverride(c))
    }
}

/// Every string inside `value` substituted.
fn substitute_all<T: serde::Serialize + serde::de::DeserializeOwned>(
    value: &T,
) -> Result<T, String> {
    fn walk(v: &mut Value) -> Result<(), String> {
        match v {
            Value::String(s) => *s = substitute(s)?,
            Value::Array(items) => items.iter_mut().try_for_each(walk)?,
            Value::Object(map) => map.values_mut().try_for_each(walk)?,
            _ => {}
        }
        Ok(())
    }
    let mut json = serde_json::to_value(value).map_err(|e| e.to_string())?;
    walk(&mut json)?;
    serde_json::from_value(json).map_err(|e| e.to_string())
}

/// A string value with `${arg}` references substituted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        substitute(&raw).map(Text).map_err(de::Error::custom)
    }
}

/// `include`/`exclude`: a list, or one string of comma/space separated
/// patterns (as the build args).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Patterns(Vec<String>);

impl<'de> Deserialize<'de> for Patterns {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Patterns;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of patterns or one string of comma/space separated patterns")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Patterns, E> {
                let s = substitute(s).map_err(E::custom)?;
                Ok(Patterns(split_patterns(&s)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Patterns, A::Error> {
                let mut out = Vec::new();
                while let Some(t) = seq.next_element::<Text>()? {
                    let t = t.0.trim().to_string();
                    if !t.is_empty() {
                        out.push(t);
                    }
                }
                Ok(Patterns(out))
            }
        }
        d.deserialize_any(V)
    }
}

fn split_patterns(s: &str) -> Vec<String> {
    s.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

fn target<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let t = Text::deserialize(d)?.0;
    let t = t.trim();
    if TARGETS.contains(&t) {
        Ok(Some(t.to_string()))
    } else {
        Err(de::Error::custom(format!(
            "unknown target {t:?}; accepted: {}",
            TARGETS.join(", ")
        )))
    }
}

fn media_types<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Spelling>, D::Error> {
    let t = Text::deserialize(d)?.0;
    let t = t.trim();
    Spelling::parse(t).map(Some).ok_or_else(|| {
        let accepted: Vec<&str> = Spelling::ALL.iter().map(|s| s.word()).collect();
        de::Error::custom(format!(
            "unknown media_types {t:?}; accepted: {}",
            accepted.join(", ")
        ))
    })
}

fn attest<'de, D: Deserializer<'de>>(d: D) -> Result<Option<crate::trust::Attest>, D::Error> {
    let t = Text::deserialize(d)?.0;
    crate::trust::Attest::parse(t.trim())
        .map(Some)
        .map_err(|e| de::Error::custom(format!("attest {e}")))
}

/// Build args visible to `${…}` while a recipe is parsed, and the names read.
#[derive(Default)]
struct Scope {
    args: BTreeMap<String, String>,
    used: BTreeSet<String>,
}

thread_local! {
    static SCOPE: RefCell<Option<Scope>> = const { RefCell::new(None) };
}

/// `text` with `${NAME}` and `${NAME:-default}` replaced by the build arg
/// NAME (the default when it is not given or empty); `$${` is a literal `${`.
fn substitute(text: &str) -> Result<String, String> {
    SCOPE.with(|s| {
        let mut guard = s.borrow_mut();
        let mut empty = Scope::default();
        let scope = guard.as_mut().unwrap_or(&mut empty);
        interpolate(text, &scope.args, &mut scope.used)
    })
}

/// Substitutes `${…}` references in `text` from `args`, recording the names
/// read in `used`.
pub fn interpolate(
    text: &str,
    args: &BTreeMap<String, String>,
    used: &mut BTreeSet<String>,
) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(lit) = after.strip_prefix("${") {
            out.push_str("${");
            rest = lit;
            continue;
        }
        let Some(body) = after.strip_prefix('{') else {
            out.push('$');
            rest = after;
            continue;
        };
        let Some(end) = body.find('}') else {
            return Err(format!("unclosed ${{ in {text:?}; write ${{name}} or ${{name:-default}} ($${{ for a literal ${{)"));
        };
        let expr = &body[..end];
        let (name, default) = match expr.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (expr, None),
        };
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(format!(
                "${{{expr}}} is not a build-arg reference; write ${{name}} or ${{name:-default}}"
            ));
        }
        used.insert(name.to_string());
        match (args.get(name).filter(|v| !v.is_empty()), default) {
            (Some(v), _) => out.push_str(v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => {
                return Err(format!(
                    "build arg {name:?} is not set; pass --build-arg {name}=… or give a default: ${{{name}:-value}}"
                ))
            }
        }
        rest = &body[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A loaded recipe and the build args its `${…}` references read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Loaded {
    /// The recipe.
    pub recipe: Recipe,
    /// Names of the build args referenced (given or not).
    pub args_read: BTreeSet<String>,
}

/// `s` on one line: control characters (a key may hold a line break or a
/// carriage return) written as escapes, as the error lines promise.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

impl Recipe {
    /// Parses recipe `text` read from `file`, substituting `${…}` from
    /// `args` (build args without the `build-arg:` prefix). `None` when the
    /// file holds no document (empty or only comments, e.g. `# syntax=`).
    pub fn load(text: &str, file: &str, args: &BTreeMap<String, String>) -> Result<Option<Loaded>> {
        if is_blank(text) {
            return Ok(None);
        }
        SCOPE.with(|s| {
            *s.borrow_mut() = Some(Scope {
                args: args.clone(),
                used: BTreeSet::new(),
            })
        });
        let parsed: Result<Recipe, _> =
            serde_path_to_error::deserialize(serde_yaml_ng::Deserializer::from_str(text));
        let scope = SCOPE.with(|s| s.borrow_mut().take()).unwrap_or_default();
        let recipe = parsed.map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let serde_at = inner.location().map(|l| (l.line(), l.column()));
            let mut msg = inner.to_string().replace('\n', " ");
            // serde_yaml_ng puts its own (coarser) path in front and the
            // location at the end; ours replace both.
            if let Some(i) = msg.rfind(" at line ") {
                msg.truncate(i);
            }
            if let Some((head, rest)) = msg.split_once(": ") {
                if !head.is_empty()
                    && head
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_.[]".contains(c))
                {
                    msg = rest.to_string();
                }
            }
            let path = if path == "." || path.is_empty() {
                String::new()
            } else {
                path
            };
            let at = match (locate(text, &path), serde_at) {
                (Some(ours), Some(theirs)) if theirs >= ours => Some(theirs),
                (Some(ours), _) => Some(ours),
                (None, theirs) => theirs,
            };
            let at = at.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default();
            let path = if path.is_empty() {
                path
            } else {
                format!("{path}: ")
            };
            anyhow!("{}", one_line(&format!("{file}{at}: {path}{msg}")))
        })?;
        if recipe.sources.is_empty() && recipe == Recipe::default() {
            return Ok(None);
        }
        Ok(Some(Loaded {
            recipe,
            args_read: scope.used,
        }))
    }

    /// The config overrides (`descriptor:`/`config:`), if any.
    pub fn overrides(&self) -> Option<crate::config::PartialConfig> {
        if self.descriptor.is_none() && self.config.is_none() {
            return None;
        }
        Some(crate::config::PartialConfig {
            descriptor: self.descriptor.clone().map(|d| d.0).unwrap_or_default(),
            config: self.config.clone().map(|c| c.0).unwrap_or_default(),
        })
    }

    /// The annotations, checked: keys non-empty without whitespace.
    pub fn annotations(&self, file: &str) -> Result<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        for (k, v) in &self.annotations {
            if k.is_empty() || k.chars().any(|c| c.is_whitespace() || c.is_control()) {
                bail!("{file}: annotations: key {k:?} is not an annotation key; e.g. org.example.team");
            }
            out.insert(k.clone(), v.0.clone());
        }
        Ok(out)
    }
}

/// The line and column (1-based) of the key or list item at `path`
/// (`sources[1].include`) in block-style YAML `text`; `None` where the
/// file uses flow style or the path is not found.
pub fn locate(text: &str, path: &str) -> Option<(usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut segments = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, rest) = part.split_once('[').map_or((part, ""), |(k, r)| (k, r));
        if !key.is_empty() {
            segments.push(Err(key.to_string()));
        }
        for idx in rest.split('[').filter(|s| !s.is_empty()) {
            segments.push(Ok(idx.trim_end_matches(']').parse::<usize>().ok()?));
        }
    }
    // (first line, last line exclusive, minimum indent) of the current
    // node; `item` is a list item's line, whose keys start after "- ".
    let (mut from, mut to, mut min_indent) = (0usize, lines.len(), 0usize);
    let mut item: Option<usize> = None;
    let mut found = None;
    for seg in segments {
        // Column (0-based, in characters) and text of line `i`; after the
        // dash on the current list item's line.
        let at = |i: usize| -> (usize, &str) {
            let (indent, text) = split_indent(lines[i]);
            match after_dash(text) {
                Some((width, rest)) if item == Some(i) => (indent + width, rest),
                _ => (indent, text),
            }
        };
        let body: Vec<(usize, usize)> = (from..to)
            .map(|i| (i, at(i)))
            .filter(|(_, (indent, text))| is_content(text) && *indent >= min_indent)
            .map(|(i, (indent, _))| (i, indent))
            .collect();
        let Some(level) = body.iter().map(|&(_, indent)| indent).min() else {
            break;
        };
        let at_level: Vec<usize> = body
            .iter()
            .filter(|&&(_, indent)| indent == level)
            .map(|&(i, _)| i)
            .collect();
        let hit = match &seg {
            Err(key) => at_level.iter().copied().find(|&i| {
                at(i)
                    .1
                    .strip_prefix(key.as_str())
                    .is_some_and(|r| r.trim_start().starts_with(':'))
            }),
            Ok(n) => at_level
                .iter()
                .copied()
                .filter(|&i| after_dash(at(i).1).is_some())
                .nth(*n),
        };
        let Some(hit) = hit else { break };
        let end = at_level.iter().copied().find(|&i| i > hit).unwrap_or(to);
        found = Some((hit + 1, level + 1));
        from = hit;
        to = end;
        if seg.is_ok() {
            item = Some(hit);
        } else {
            item = None;
            from = hit + 1;
        }
        min_indent = level + 1;
    }
    found
}

/// A line's indentation in characters (columns) and the text after it.
fn split_indent(line: &str) -> (usize, &str) {
    let text = line.trim_start();
    (line[..line.len() - text.len()].chars().count(), text)
}

/// For a list item's text (`- x`, `-\tx` or a bare `-`): the columns the
/// dash and the blanks after it take, and the rest; `None` otherwise.
fn after_dash(text: &str) -> Option<(usize, &str)> {
    let rest = text.strip_prefix('-')?;
    let body = rest.trim_start_matches([' ', '\t']);
    if !rest.is_empty() && body.len() == rest.len() {
        return None;
    }
    Some((1 + rest[..rest.len() - body.len()].chars().count(), body))
}

/// Whether a line's text is YAML content (not blank, a comment or `---`).
fn is_content(text: &str) -> bool {
    !(text.is_empty() || text.starts_with('#') || text.starts_with("---"))
}

/// Whether `text` holds no YAML document: only blank lines and comments.
pub fn is_blank(text: &str) -> bool {
    text.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#') || t == "---" || t == "..."
    })
}

#[cfg(test)]
mod tests;
