//! An app image's documents from a Dockerfile build's answer: BuildKit's
//! Dockerfile frontend gives a file system and its image config
//! (`containerimage.config`), not layers; once the file system is one layer
//! ([`crate::rootfs`]), this writes the config (with `rootfs.diff_ids` and
//! `history` made to match that layer) and the OCI manifest, and the
//! manifest's entry for an image index. Used by the `bundle-image` step
//! (`packager/bundle`).

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::oci::MEDIA_TYPE_MANIFEST;
use crate::rootfs::TreeLayer;

/// Media type of an OCI image config.
pub const MEDIA_TYPE_IMAGE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Media type of an OCI `tar+gzip` layer.
pub const MEDIA_TYPE_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// `created_by` of the history entry of the one layer.
pub const HISTORY_CREATED_BY: &str =
    "modelpack-frontend packager/bundle: the Dockerfile build's file system as one layer";

/// The documents of a one-layer app image.
#[derive(Clone, Debug)]
pub struct AppImage {
    /// The image config's bytes.
    pub config: Vec<u8>,
    /// The manifest's bytes.
    pub manifest: Vec<u8>,
    /// The manifest's entry for an image index (media type, digest, size,
    /// platform from the config).
    pub entry: Value,
}

/// The documents of the image whose file system is `layer` and whose
/// config is the Dockerfile frontend's `config` (JSON). `created` (and
/// every history time later than it) is `epoch` (`SOURCE_DATE_EPOCH`)
/// when given, else the config's own: never the time of the build.
pub fn documents(config: &[u8], layer: &TreeLayer, epoch: Option<i64>) -> Result<AppImage> {
    let mut c: Value = serde_json::from_slice(config)
        .context("the Dockerfile build's image config is not JSON")?;
    let Some(obj) = c.as_object_mut() else {
        bail!("the Dockerfile build's image config is not a JSON object");
    };
    let created = match epoch {
        Some(e) => Some(crate::time::rfc3339(e)),
        None => obj
            .get("created")
            .and_then(Value::as_str)
            .map(str::to_string),
    };
    let mut history: Vec<Value> = obj
        .get("history")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for h in &mut history {
        let Some(h) = h.as_object_mut() else { continue };
        // Every step's layer is in the one layer now.
        h.insert("empty_layer".into(), Value::Bool(true));
        if let (Some(e), Some(t)) = (&created, h.get("created").and_then(Value::as_str)) {
            if epoch.is_some() && later(t, e) {
                h.insert("created".into(), json!(e));
            }
        }
    }
    let mut last = json!({"created_by": HISTORY_CREATED_BY, "comment": "packager/bundle"});
    if let Some(t) = &created {
        last["created"] = json!(t);
        obj.insert("created".into(), json!(t));
    }
    history.push(last);
    obj.insert("history".into(), Value::Array(history));
    obj.insert(
        "rootfs".into(),
        json!({"type": "layers", "diff_ids": [layer.diff_id]}),
    );
    let platform = {
        let s = |k: &str| obj.get(k).and_then(Value::as_str);
        let mut p = json!({
            "architecture": s("architecture").context("the image config has no architecture")?,
            "os": s("os").context("the image config has no os")?,
        });
        if let Some(v) = s("variant").filter(|v| !v.is_empty()) {
            p["variant"] = json!(v);
        }
        p
    };
    let config = serde_json::to_vec(&c).context("encoding the image config")?;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_MANIFEST,
        "config": {
            "mediaType": MEDIA_TYPE_IMAGE_CONFIG,
            "digest": crate::digest::sha256_of(&config),
            "size": config.len(),
        },
        "layers": [{
            "mediaType": MEDIA_TYPE_LAYER_GZIP,
            "digest": layer.digest,
            "size": layer.size,
        }],
    }))
    .context("encoding the image manifest")?;
    let entry = json!({
        "mediaType": MEDIA_TYPE_MANIFEST,
        "digest": crate::digest::sha256_of(&manifest),
        "size": manifest.len(),
        "platform": platform,
    });
    Ok(AppImage {
        config,
        manifest,
        entry,
    })
}

/// Whether the RFC 3339 time `t` is later than `bound` (both in UTC as
/// BuildKit writes them; compared as text to the second).
fn later(t: &str, bound: &str) -> bool {
    let second = |s: &str| s.get(..19).unwrap_or(s).to_string();
    second(t) > second(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer() -> TreeLayer {
        TreeLayer {
            digest: "sha256:aa".into(),
            size: 10,
            diff_id: "sha256:bb".into(),
        }
    }

    const CONFIG: &str = r#"{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/bin/app"]},
        "rootfs":{"type":"layers","diff_ids":["sha256:old"]},
        "history":[{"created":"2020-01-01T00:00:00Z","created_by":"base"},
                   {"created":"2030-01-01T00:00:00Z","created_by":"COPY app /bin/app"}]}"#;

    #[test]
    fn one_layer_with_matching_history_and_the_epoch_as_created() {
        let a = documents(CONFIG.as_bytes(), &layer(), Some(1_700_000_000)).unwrap();
        let c: Value = serde_json::from_slice(&a.config).unwrap();
        assert_eq!(c["rootfs"]["diff_ids"], json!(["sha256:bb"]));
        assert_eq!(c["created"], "2023-11-14T22:13:20Z");
        let h = c["history"].as_array().unwrap();
        assert_eq!(h.len(), 3);
        assert_eq!(h[0]["created"], "2020-01-01T00:00:00Z", "earlier: kept");
        assert_eq!(h[1]["created"], "2023-11-14T22:13:20Z", "later: clamped");
        assert!(h[..2].iter().all(|e| e["empty_layer"] == true));
        assert_eq!(
            h.iter().filter(|e| e["empty_layer"] != true).count(),
            1,
            "one history entry per layer"
        );
        assert_eq!(c["config"]["Entrypoint"], json!(["/bin/app"]));
        let m: Value = serde_json::from_slice(&a.manifest).unwrap();
        assert_eq!(m["layers"][0]["digest"], "sha256:aa");
        assert_eq!(m["layers"][0]["mediaType"], MEDIA_TYPE_LAYER_GZIP);
        assert_eq!(
            m["config"]["digest"],
            crate::digest::sha256_of(&a.config).as_str()
        );
        assert_eq!(
            a.entry["platform"],
            json!({"architecture": "amd64", "os": "linux"})
        );
        assert_eq!(
            a.entry["digest"],
            crate::digest::sha256_of(&a.manifest).as_str()
        );
        // Deterministic.
        let b = documents(CONFIG.as_bytes(), &layer(), Some(1_700_000_000)).unwrap();
        assert_eq!(a.manifest, b.manifest);
    }

    #[test]
    fn without_an_epoch_the_configs_own_time_stays() {
        let a = documents(CONFIG.as_bytes(), &layer(), None).unwrap();
        let c: Value = serde_json::from_slice(&a.config).unwrap();
        assert!(c.get("created").is_none(), "no time of now");
        assert_eq!(c["history"][1]["created"], "2030-01-01T00:00:00Z");
        assert!(documents(b"[]", &layer(), None).is_err());
        assert!(documents(br#"{"os":"linux"}"#, &layer(), None).is_err());
    }
}
