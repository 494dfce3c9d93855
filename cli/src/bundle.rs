//! `bundle --image LAYOUT|REF --model LAYOUT|REF -o LAYOUT`: one OCI image
//! index holding an app image's manifests and a ModelPack manifest
//! (`modelpack::bundle`), written as an OCI layout; and what `push`,
//! `pull`, `validate`, `inspect` and `unpack` need to read bundles.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use modelpack::bundle;
use modelpack::bundle_layout::{self, blobs_of};
use modelpack::layout::{self, Layout, LayoutRef};
use modelpack::oci;
use oci_registry::{Client, Digest, Reference, OCI_INDEX};
use serde_json::{json, Value};

use super::remote::{self, RegistryFlags, Subject};
use super::resolve::{self, is_index};
use super::{human, step, text, unexpected, Command, Failure, Outcome};

/// The name the bundle gets in the output's `index.json` by default.
const DEFAULT_NAME: &str = "bundle";

/// The command.
pub const COMMAND: Command = Command {
    name: "bundle",
    summary: "put an app image and a ModelPack in one OCI image index",
    help: concat!(
        "\
Usage: modelpack-frontend bundle --image LAYOUT[:NAME]|REF --model LAYOUT[:NAME]|REF
                                 -o LAYOUT [--name NAME] [flags]

Writes one OCI image index into the OCI image layout LAYOUT: every manifest
of the app image (each platform of a multi-platform build, and its
attestation manifests, byte for byte as buildx made them) followed by the
ModelPack manifest, listed with platform unknown/unknown
and the annotation io.modelpack-frontend.bundle.role=model. The model
manifest keeps no subject; its referrers (signatures, SBOMs) in the model
layout are copied and listed in LAYOUT's index.json, not in the bundle.
The same inputs give the same index digest. Blobs are hard-linked from the
input layouts when on the same file system, else copied. A model REF is
pulled (verified) into LAYOUT with its referrers (signatures, SBOMs,
provenance), which `push` re-attaches. An image REF is recorded by its
manifests only: its configs and layers stay in its repository, which
LAYOUT's index.json names (annotation
io.modelpack-frontend.bundle.blobs-from); `push` to the same registry
mounts them from there, `push` to another registry fetches them first.
--copy-blobs downloads them into LAYOUT instead. Push the result with
`push LAYOUT REF`.

  --image SRC          the app image: an OCI layout (buildx -o type=oci,tar=false)
                       or a registry reference
  --model SRC          the model: a layout written by pack or the frontend, or
                       a registry reference
  -o, --output LAYOUT  the bundle layout (index.json is rewritten)
  --name NAME          the bundle's name in index.json (default: bundle)
  --copy-blobs         with an image REF: download its configs and layers into
                       LAYOUT (a complete layout for other tools) instead of
                       leaving them in its repository for push to mount
",
        registry_flags_help!(),
        "
Example: modelpack-frontend bundle --image app-oci --model out:tiny -o bundle
"
    ),
    run,
};

fn run(p: &mut lexopt::Parser) -> Outcome {
    let mut flags = RegistryFlags::default();
    let (mut image, mut model, mut out, mut name) = (None, None, None, None);
    let mut copy_blobs = false;
    while let Some(arg) = p.next()? {
        match arg {
            lexopt::Arg::Long("image") => image = Some(text(p, "--image")?),
            lexopt::Arg::Long("model") => model = Some(text(p, "--model")?),
            lexopt::Arg::Short('o') | lexopt::Arg::Long("output") => {
                out = Some(PathBuf::from(text(p, "--output")?))
            }
            lexopt::Arg::Long("name") => name = Some(text(p, "--name")?),
            lexopt::Arg::Long("copy-blobs") => copy_blobs = true,
            lexopt::Arg::Long(l) if RegistryFlags::knows(l) => {
                let l = l.to_string();
                flags.take(&l, p)?;
            }
            other => return Err(unexpected(other)),
        }
    }
    flags.check()?;
    let image = image.ok_or_else(|| Failure::Usage("--image is required".into()))?;
    let model = model.ok_or_else(|| Failure::Usage("--model is required".into()))?;
    let out = out.ok_or_else(|| Failure::Usage("-o LAYOUT is required".into()))?;
    let name = name.unwrap_or_else(|| DEFAULT_NAME.to_string());
    let image = remote::subject(&image)?;
    let model = remote::subject(&model)?;
    std::fs::create_dir_all(out.join("blobs/sha256"))
        .with_context(|| format!("creating {}", out.display()))?;
    let client = match (&image, &model) {
        (Subject::Layout(_), Subject::Layout(_)) => None,
        _ => Some(flags.client(None)?),
    };
    let inputs = Inputs {
        image: &image,
        model: &model,
        copy_blobs,
    };
    let digest = compose(client.as_ref(), &inputs, &out, &name)?;
    println!("{digest}");
    Ok(())
}

/// What a bundle is made of: the app image, the model, and whether an
/// image REF's blobs are downloaded.
struct Inputs<'a> {
    image: &'a Subject,
    model: &'a Subject,
    copy_blobs: bool,
}

/// Writes the bundle of the `inputs` into the layout `out` under `name`;
/// returns the bundle index's digest.
fn compose(
    client: Option<&Client>,
    inputs: &Inputs<'_>,
    out: &Path,
    name: &str,
) -> anyhow::Result<String> {
    let (entries, blobs_from) = match inputs.image {
        Subject::Layout(r) => (image_entries(r, out)?, None),
        Subject::Remote(reference) => {
            let client = client.context("no registry client")?;
            let entries = remote_image_entries(client, reference, out, inputs.copy_blobs)?;
            let from = format!("{}/{}", reference.registry(), reference.repository());
            (entries, (!inputs.copy_blobs).then_some(from))
        }
    };
    let (model_layout, model_name) = match inputs.model {
        Subject::Layout(r) => (r.dir.clone(), r.name.clone()),
        Subject::Remote(reference) => {
            let client = client.context("no registry client")?;
            let reference = resolve::resolve_model(client, reference, remote::registry_error)?;
            let tmp = "modelpack-bundle-model";
            let s = client
                .pull_to_layout(&reference, out, Some(tmp))
                .map_err(|e| remote::registry_error(e).context(format!("pull of {reference}")))?;
            pull_referrers(client, &reference, &s.manifest_digest, out)?;
            (out.to_path_buf(), Some(tmp.to_string()))
        }
    };
    let ml = Layout::open(&model_layout)?;
    let part = bundle_layout::model_part(&ml, model_name.as_deref())?;
    for (digest, size) in &part.blobs {
        place(&model_layout, out, digest, *size)?;
    }
    let mut annotations = BTreeMap::new();
    if let Some(from) = &blobs_from {
        annotations.insert(bundle::ANNOTATION_BLOBS_FROM.to_string(), from.clone());
    }
    let digest = bundle_layout::write(out, &entries, &part, name, &annotations)?;
    let loaded = &part.loaded;
    step(&format!(
        "bundled {} image manifest(s) and model {} ({}, {} layers) as {}:{name} ({digest})",
        entries.len(),
        loaded.entry.digest,
        human(loaded.manifest.layers.iter().map(|l| l.size).sum()),
        loaded.manifest.layers.len(),
        out.display()
    ));
    if let Some(from) = &blobs_from {
        step(&format!(
            "the app image's configs and layers stay in {from}: push mounts them from there"
        ));
    }
    Ok(digest)
}

/// Puts blob `digest` of `from`'s layout into `to`'s: nothing when it is
/// there with the right size, else a hard link, else a verified copy.
fn place(from: &Path, to: &Path, digest: &str, size: u64) -> anyhow::Result<()> {
    let src = layout::blob_path_in(from, digest)?;
    let dest = layout::blob_path_in(to, digest)?;
    if std::fs::metadata(&dest).map(|m| m.len()).ok() == Some(size) {
        return Ok(());
    }
    let _ = std::fs::remove_file(&dest);
    if std::fs::hard_link(&src, &dest).is_ok() {
        return Ok(());
    }
    layout::copy_verified(&src, &dest, digest, size)
}

/// The app image's index entries from an OCI layout: the manifests of its
/// index (every platform, attestations too), or the one manifest, with its
/// platform read from the config. Its blobs are placed in `out`.
fn image_entries(r: &LayoutRef, out: &Path) -> anyhow::Result<Vec<Value>> {
    let l = Layout::open(&r.dir)?;
    let entry = l.select(r.name.as_deref())?;
    let read = |digest: &str, size: u64| -> anyhow::Result<(Vec<u8>, Value)> {
        let d = oci::Descriptor {
            media_type: String::new(),
            digest: digest.to_string(),
            size,
            artifact_type: None,
            annotations: Default::default(),
        };
        let bytes = l.read_blob(&d)?;
        let doc = serde_json::from_slice(&bytes)
            .with_context(|| format!("{digest} in {} is not JSON", r.dir.display()))?;
        Ok((bytes, doc))
    };
    let mut walk: Vec<(String, u64)> = Vec::new();
    let entries = if is_index(&entry.media_type) {
        let (_, doc) = read(&entry.digest, entry.size)?;
        let entries: Vec<Value> = doc["manifests"]
            .as_array()
            .with_context(|| format!("image index {} lists no manifests", entry.digest))?
            .clone();
        entries
    } else {
        let (_, doc) = read(&entry.digest, entry.size)?;
        let (cd, cs) = blobs_of(&doc)?.remove(0);
        let (_, config) = read(&cd, cs)?;
        let mut platform = json!({
            "architecture": config["architecture"].as_str().unwrap_or("unknown"),
            "os": config["os"].as_str().unwrap_or("unknown"),
        });
        if let Some(v) = config["variant"].as_str() {
            platform["variant"] = json!(v);
        }
        vec![json!({
            "mediaType": if entry.media_type.is_empty() { oci::MEDIA_TYPE_MANIFEST } else { &entry.media_type },
            "digest": entry.digest,
            "size": entry.size,
            "platform": platform,
        })]
    };
    for e in &entries {
        let digest = e["digest"]
            .as_str()
            .context("an index entry has no digest")?;
        let size = e["size"].as_u64().context("an index entry has no size")?;
        walk.push((digest.to_string(), size));
        let (_, doc) = read(digest, size)?;
        if is_index(e["mediaType"].as_str().unwrap_or_default()) {
            bail!(
                "image index {} nests index {digest}; bundle a flat image index",
                entry.digest
            );
        }
        walk.extend(blobs_of(&doc)?);
    }
    for (digest, size) in &walk {
        place(&r.dir, out, digest, *size)?;
    }
    Ok(entries)
}

/// The app image's index entries from a registry: its index's manifests
/// (or the one manifest, platform from its config). Each manifest is
/// written into `out`; its config and layers only with `copy_blobs` (else
/// `push` mounts them from `reference`'s repository).
fn remote_image_entries(
    client: &Client,
    reference: &Reference,
    out: &Path,
    copy_blobs: bool,
) -> anyhow::Result<Vec<Value>> {
    let m = client
        .get_manifest(reference, &[])
        .map_err(remote::registry_error)?;
    // Writes manifest `digest` into `out` (and its blobs with `copy_blobs`).
    let take = |digest: &str, bytes: &[u8]| -> anyhow::Result<Value> {
        layout::write_atomic(&layout::blob_path_in(out, digest)?, bytes)?;
        let doc: Value = serde_json::from_slice(bytes)
            .with_context(|| format!("manifest {digest} of {reference} is not JSON"))?;
        if copy_blobs {
            for (d, size) in blobs_of(&doc)? {
                fetch_blob(client, reference, &d, size, out)?;
            }
        }
        Ok(doc)
    };
    if is_index(&m.media_type) {
        let doc: Value = serde_json::from_slice(&m.bytes).context("the image index")?;
        let entries = doc["manifests"]
            .as_array()
            .with_context(|| format!("{reference} lists no manifests"))?
            .clone();
        for e in &entries {
            let digest = e["digest"]
                .as_str()
                .context("an index entry has no digest")?;
            if is_index(e["mediaType"].as_str().unwrap_or_default()) {
                bail!("image index {reference} nests index {digest}; bundle a flat image index");
            }
            let d = Digest::parse(digest).map_err(|e| anyhow!("{e}"))?;
            let child = client
                .get_manifest(&reference.with_digest(d), &[])
                .map_err(|e| {
                    remote::registry_error(e).context(format!("{digest} of {reference}"))
                })?;
            take(digest, &child.bytes)?;
        }
        Ok(entries)
    } else {
        let doc = take(m.digest.as_str(), &m.bytes)?;
        let (cd, cs) = blobs_of(&doc)?.remove(0);
        let config: Value = serde_json::from_slice(&read_blob(client, reference, &cd, cs)?)
            .with_context(|| format!("config {cd} of {reference} is not JSON"))?;
        let mut platform = json!({
            "architecture": config["architecture"].as_str().unwrap_or("unknown"),
            "os": config["os"].as_str().unwrap_or("unknown"),
        });
        if let Some(v) = config["variant"].as_str() {
            platform["variant"] = json!(v);
        }
        Ok(vec![json!({
            "mediaType": m.media_type,
            "digest": m.digest.to_string(),
            "size": m.bytes.len(),
            "platform": platform,
        })])
    }
}

/// Blob `digest` (`size` bytes, at most a manifest's size) of `reference`'s
/// repository, in memory, verified.
fn read_blob(
    client: &Client,
    reference: &Reference,
    digest: &str,
    size: u64,
) -> anyhow::Result<Vec<u8>> {
    if size > oci_registry::MAX_MANIFEST {
        bail!("config {digest} of {reference} is {size} bytes, too big for a config");
    }
    let d = Digest::parse(digest).map_err(|e| anyhow!("{e}"))?;
    let mut bytes = Vec::new();
    client
        .pull_blob(reference, &d, &mut bytes)
        .map_err(|e| remote::registry_error(e).context(format!("{digest} of {reference}")))?;
    Ok(bytes)
}

/// Puts blob `digest` of `reference`'s repository into the layout `out`
/// (verified while it streams) unless it is there with the right size.
fn fetch_blob(
    client: &Client,
    reference: &Reference,
    digest: &str,
    size: u64,
    out: &Path,
) -> anyhow::Result<()> {
    let dest = layout::blob_path_in(out, digest)?;
    if std::fs::metadata(&dest).map(|m| m.len()).ok() == Some(size) {
        return Ok(());
    }
    let d = Digest::parse(digest).map_err(|e| anyhow!("{e}"))?;
    let partial = dest.with_extension("partial");
    let mut file = std::fs::File::create(&partial)
        .with_context(|| format!("creating {}", partial.display()))?;
    client
        .pull_blob(reference, &d, &mut file)
        .map_err(|e| remote::registry_error(e).context(format!("{digest} of {reference}")))?;
    std::fs::rename(&partial, &dest).with_context(|| format!("renaming {}", partial.display()))
}

/// Pulls the referrers of the model manifest `digest` (signatures, SBOMs,
/// provenance) from `reference`'s repository into the layout `out`, each
/// listed in its `index.json`, where [`compose`] finds them as the model's
/// and `push` re-attaches them. Returns how many.
fn pull_referrers(
    client: &Client,
    reference: &Reference,
    digest: &str,
    out: &Path,
) -> anyhow::Result<usize> {
    let d = Digest::parse(digest).map_err(|e| anyhow!("{e}"))?;
    let at = reference.with_digest(d);
    let found = client
        .referrers(&at)
        .map_err(|e| remote::registry_error(e).context(format!("referrers of {at}")))?;
    for (i, e) in found.iter().enumerate() {
        let d = Digest::parse(&e.digest).map_err(|e| anyhow!("{e}"))?;
        let name = format!("modelpack-bundle-referrer-{i}");
        client
            .pull_to_layout(&reference.with_digest(d), out, Some(&name))
            .map_err(|err| {
                remote::registry_error(err)
                    .context(format!("pull of referrer {} of {at}", e.digest))
            })?;
    }
    if !found.is_empty() {
        step(&format!(
            "fetched {} referrer(s) of model {digest} from {}/{}",
            found.len(),
            reference.registry(),
            reference.repository()
        ));
    }
    Ok(found.len())
}

/// The `index.json` entry of `r` that is a bundle (an image index): the
/// one `r`'s name picks, or without a name the only image index listed.
fn bundle_entry(r: &LayoutRef) -> anyhow::Result<Option<oci::Descriptor>> {
    let l = Layout::open(&r.dir)?;
    let entries = l.index()?.manifests;
    let picked: Vec<_> = entries
        .iter()
        .filter(|d| match &r.name {
            Some(n) => d.annotations.get(oci::ANNOTATION_REF_NAME) == Some(n),
            None => true,
        })
        .collect();
    let indexes = || entries.iter().filter(|d| d.media_type == OCI_INDEX);
    Ok(match picked.as_slice() {
        [one] => (one.media_type == OCI_INDEX).then(|| (*one).clone()),
        _ if r.name.is_none() && indexes().count() == 1 => indexes().next().cloned(),
        _ => None,
    })
}

/// True when the `index.json` entry `r` picks is an image index (a bundle
/// to push whole).
pub fn is_bundle_layout(r: &LayoutRef) -> anyhow::Result<bool> {
    Ok(bundle_entry(r)?.is_some())
}

/// The repository that holds the app blobs the bundle layout `r` lacks
/// (its [`bundle::ANNOTATION_BLOBS_FROM`]), if it lacks any.
fn blobs_from(r: &LayoutRef) -> anyhow::Result<Option<Reference>> {
    let Some(entry) = bundle_entry(r)? else {
        return Ok(None);
    };
    let Some(from) = entry.annotations.get(bundle::ANNOTATION_BLOBS_FROM) else {
        return Ok(None);
    };
    let reference = Reference::parse(from).map_err(|e| {
        anyhow!(
            "{r}: annotation {}={from} is not a repository: {e}",
            bundle::ANNOTATION_BLOBS_FROM
        )
    })?;
    Ok(Some(reference))
}

/// Downloads into the bundle layout `r` the configs and layers its
/// manifests name and it does not hold, from `source`; returns how many.
fn fill_missing(client: &Client, r: &LayoutRef, source: &Reference) -> anyhow::Result<usize> {
    let entry = bundle_entry(r)?.context("not a bundle layout")?;
    let l = Layout::open(&r.dir)?;
    let index: Value = serde_json::from_slice(&l.read_blob(&entry)?).context("the bundle index")?;
    let mut fetched = 0;
    for e in index["manifests"].as_array().into_iter().flatten() {
        let d: oci::Descriptor = serde_json::from_value(e.clone()).context("an index entry")?;
        let doc: Value = serde_json::from_slice(&l.read_blob(&d)?)
            .with_context(|| format!("manifest {} is not JSON", d.digest))?;
        for (digest, size) in blobs_of(&doc)? {
            let path = layout::blob_path_in(&r.dir, &digest)?;
            if std::fs::metadata(&path).map(|m| m.len()).ok() != Some(size) {
                fetch_blob(client, source, &digest, size, &r.dir)?;
                fetched += 1;
            }
        }
    }
    Ok(fetched)
}

/// `push` of a bundle layout: the whole index (images, model, the model's
/// referrers) to each target. App blobs the layout only names (`bundle
/// --image REF`) are mounted from their repository on the same registry,
/// or fetched from it first for another registry.
pub fn push(
    r: &LayoutRef,
    targets: &[Reference],
    from: Option<&str>,
    flags: &RegistryFlags,
) -> Outcome {
    let client = flags.client(None)?;
    let source = blobs_from(r)?;
    let mut digest = String::new();
    let mut first: BTreeMap<String, String> = BTreeMap::new();
    for t in targets {
        step(&format!("pushing bundle {r} to {t}"));
        let same_registry = source
            .as_ref()
            .filter(|s| s.registry() == t.registry())
            .map(|s| s.repository());
        let mount = first
            .get(t.registry())
            .map(String::as_str)
            .or(from)
            .or(same_registry);
        if let (Some(s), None) = (&source, mount) {
            let n = fill_missing(&client, r, s)?;
            if n > 0 {
                step(&format!(
                    "fetched {n} app blob(s) from {}/{} for a push to another registry",
                    s.registry(),
                    s.repository()
                ));
            }
        }
        let s = client
            .push_index(&r.dir, r.name.as_deref(), t, mount)
            .map_err(remote::registry_error)?;
        step(&format!(
            "pushed bundle {} to {t}: {} manifests, {} referrers; {} blobs uploaded, {} skipped, {} mounted, {} sent",
            s.index_digest,
            s.manifests,
            s.referrers,
            s.blobs_uploaded,
            s.blobs_skipped,
            s.blobs_mounted,
            human(s.bytes_sent)
        ));
        first
            .entry(t.registry().to_string())
            .or_insert_with(|| t.repository().to_string());
        digest = s.index_digest;
    }
    println!("{digest}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{dispatch, EXIT_OK};

    fn put(layout: &Path, bytes: &[u8]) -> String {
        let d = modelpack::digest::sha256_of(bytes);
        std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
        std::fs::write(layout::blob_path_in(layout, &d).unwrap(), bytes).unwrap();
        d
    }

    /// A one-platform app image layout as buildx writes it: index.json →
    /// image index → manifest → config and a layer.
    fn app_layout(dir: &Path) -> Value {
        let layer = put(dir, b"not really a tar");
        let config =
            br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
        let cd = put(dir, config);
        let m = serde_json::to_vec(&json!({"schemaVersion":2,"mediaType":oci::MEDIA_TYPE_MANIFEST,
            "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":cd,"size":config.len()},
            "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":layer,"size":16}]}))
        .unwrap();
        let md = put(dir, &m);
        let entry = json!({"mediaType":oci::MEDIA_TYPE_MANIFEST,"digest":md,"size":m.len(),
            "platform":{"architecture":"amd64","os":"linux"}});
        let idx = serde_json::to_vec(
            &json!({"schemaVersion":2,"mediaType":OCI_INDEX,"manifests":[entry]}),
        )
        .unwrap();
        let id = put(dir, &idx);
        std::fs::write(dir.join("oci-layout"), oci::OCI_LAYOUT).unwrap();
        std::fs::write(
            dir.join("index.json"),
            serde_json::to_vec(&json!({"schemaVersion":2,"mediaType":OCI_INDEX,"manifests":[{"mediaType":OCI_INDEX,"digest":id,"size":idx.len()}]})).unwrap(),
        )
        .unwrap();
        entry
    }

    fn run(a: &[&str]) -> i32 {
        dispatch(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn bundles_are_deterministic_and_read_as_their_model() {
        let tmp = tempfile::tempdir().unwrap();
        let t = |p: &str| tmp.path().join(p).to_str().unwrap().to_string();
        let app = tmp.path().join("app");
        let entry = app_layout(&app);
        std::fs::create_dir_all(t("model")).unwrap();
        std::fs::write(tmp.path().join("model/config.json"), b"{}").unwrap();
        std::fs::write(tmp.path().join("model/weights.bin"), vec![7u8; 4096]).unwrap();
        assert_eq!(
            run(&["pack", &t("model"), "-o", &t("m"), "--name", "tiny"]),
            EXIT_OK
        );
        let model = Layout::open(&tmp.path().join("m"))
            .unwrap()
            .load(None)
            .unwrap();
        for out in ["b1", "b2"] {
            assert_eq!(
                run(&[
                    "bundle",
                    "--image",
                    &t("app"),
                    "--model",
                    &t("m"),
                    "-o",
                    &t(out)
                ]),
                EXIT_OK
            );
        }
        let top = |out: &str| {
            Layout::open(&tmp.path().join(out))
                .unwrap()
                .index()
                .unwrap()
                .manifests
        };
        assert_eq!(top("b1"), top("b2"), "same inputs, same index digest");
        let b = top("b1")[0].clone();
        assert_eq!(b.annotations[oci::ANNOTATION_REF_NAME], "bundle");
        let l = Layout::open(&tmp.path().join("b1")).unwrap();
        let index: Value = serde_json::from_slice(&l.read_blob(&b).unwrap()).unwrap();
        assert_eq!(index["manifests"][0], entry, "the app's entry unchanged");
        assert_eq!(index["manifests"][1]["digest"], model.entry.digest.as_str());
        assert_eq!(index["manifests"][1]["platform"]["os"], "unknown");
        // The layout commands read the bundle as its model.
        let loaded = l.load(None).unwrap();
        assert_eq!(loaded.entry.digest, model.entry.digest);
        assert_eq!(run(&["validate", &t("b1")]), EXIT_OK);
        assert_eq!(run(&["unpack", &t("b1"), "-o", &t("files")]), EXIT_OK);
        assert_eq!(
            std::fs::read(tmp.path().join("files/weights.bin")).unwrap(),
            vec![7u8; 4096]
        );
        assert!(is_bundle_layout(&LayoutRef::parse(&t("b1"))).unwrap());
        assert!(!is_bundle_layout(&LayoutRef::parse(&t("m"))).unwrap());
        // Blobs are linked, not copied, on one file system.
        use std::os::unix::fs::MetadataExt;
        let weights = model
            .manifest
            .layers
            .iter()
            .find(|d| d.size == 4096)
            .unwrap();
        let nlink = std::fs::metadata(l.blob_path(&weights.digest).unwrap())
            .unwrap()
            .nlink();
        assert!(nlink >= 2, "hard-linked, {nlink} link(s)");
        // A model image index is not an app image.
        assert_ne!(
            run(&[
                "bundle",
                "--image",
                &t("b1"),
                "--model",
                &t("m"),
                "-o",
                &t("b3")
            ]),
            EXIT_OK
        );
    }
}
