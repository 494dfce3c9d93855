//! One file of a model as a plan takes it: its path, size, digest and
//! mode, where its bytes are in the build graph and, once the layer writer
//! has packed it, what the writer produced. Plain data, shared by the plan
//! (`plan`, `generic`), the layer writer (`pack`) and directory sources
//! (`context`).

use serde::{Deserialize, Serialize};

use crate::packaging::LayerPackaging;

/// Where a file's bytes live in the build graph: source state number and a
/// path inside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// Index into the source states handed to the emitter.
    pub source: usize,
    /// Absolute path inside that state.
    pub path: String,
}

/// One file of the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanFile {
    /// Path inside the model (`org.cncf.model.filepath`), `/`-separated.
    pub path: String,
    /// Size of the file in bytes.
    pub size: u64,
    /// `sha256:<hex>` of the layer blob (the file itself for raw layers).
    pub digest: String,
    /// Whether any execute bit is set (mode 0755 rather than 0644).
    pub executable: bool,
    /// Where the layer blob's bytes are.
    pub origin: Origin,
    /// For tar layers: the packed blob's size and the uncompressed tar's
    /// digest. `None` for raw layers (blob = file, diff id = digest).
    pub packed: Option<Packed>,
}

/// A file already written as a tar layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packed {
    /// Blob size in bytes.
    pub blob_size: u64,
    /// `sha256:<hex>` of the uncompressed tar.
    pub diff_id: String,
    /// The tar format it was written in (see [`LayerPackaging::for_kind`]):
    /// the layer's media type says this one.
    pub format: LayerPackaging,
}

impl PlanFile {
    /// Makes this file the tar layer `written` (by the layer writer) in
    /// `format`, whose blob is at `path` of its source.
    pub fn set_packed(
        &mut self,
        written: Written,
        format: LayerPackaging,
        source: usize,
        path: String,
    ) {
        self.origin = Origin { source, path };
        self.digest = written.digest;
        self.packed = Some(Packed {
            blob_size: written.size,
            diff_id: written.diff_id,
            format,
        });
    }

    /// The mode recorded in metadata and tar headers.
    pub fn mode(&self) -> u32 {
        if self.executable {
            0o755
        } else {
            0o644
        }
    }

    /// The layer format: the packed format, or `raw`.
    pub fn format(&self) -> LayerPackaging {
        self.packed
            .as_ref()
            .map_or(LayerPackaging::Raw, |p| p.format)
    }

    /// The layer's diff id.
    pub fn diff_id(&self) -> &str {
        self.packed.as_ref().map_or(&self.digest, |p| &p.diff_id)
    }
}

/// What the layer writer (`pack`) produced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Written {
    /// `sha256:<hex>` of the blob.
    pub digest: String,
    /// Blob size in bytes.
    pub size: u64,
    /// `sha256:<hex>` of the uncompressed tar.
    pub diff_id: String,
}
