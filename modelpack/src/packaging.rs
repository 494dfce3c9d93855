//! How a file becomes a layer.

use crate::mediatype::Kind;

/// How each file is stored as a layer (always one file per layer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerPackaging {
    /// The file's bytes as they are.
    Raw,
    /// A tar holding the file.
    Tar,
    /// A gzip-compressed tar holding the file.
    TarGzip,
    /// A zstd-compressed tar holding the file.
    TarZstd,
}

impl LayerPackaging {
    /// Every format, in the order documented.
    pub const ALL: [LayerPackaging; 4] = [
        LayerPackaging::Raw,
        LayerPackaging::Tar,
        LayerPackaging::TarGzip,
        LayerPackaging::TarZstd,
    ];

    /// The media-type suffix and build-arg value (`raw`, `tar`, …).
    pub fn suffix(self) -> &'static str {
        match self {
            LayerPackaging::Raw => "raw",
            LayerPackaging::Tar => "tar",
            LayerPackaging::TarGzip => "tar+gzip",
            LayerPackaging::TarZstd => "tar+zstd",
        }
    }

    /// The format for a suffix.
    pub fn from_suffix(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.suffix() == s)
    }

    /// Whether the tar is compressed.
    pub fn is_compressed(self) -> bool {
        matches!(self, LayerPackaging::TarGzip | LayerPackaging::TarZstd)
    }

    /// The format a file of `kind` is actually written in when `self` was
    /// asked for: weights stay an uncompressed `tar` unless
    /// `compress_weights` (weights hardly compress, and docker model-runner
    /// and modctl cannot read compressed weight layers); every other kind,
    /// and `raw`/`tar`, as asked.
    pub fn for_kind(self, kind: Kind, compress_weights: bool) -> LayerPackaging {
        if kind == Kind::Weight && self.is_compressed() && !compress_weights {
            LayerPackaging::Tar
        } else {
            self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_weights_in_compressed_formats_fall_back_to_tar() {
        use LayerPackaging::*;
        let kinds = [
            Kind::WeightConfig,
            Kind::Weight,
            Kind::Code,
            Kind::Doc,
            Kind::Dataset,
        ];
        for asked in LayerPackaging::ALL {
            for kind in kinds {
                for compress in [false, true] {
                    let want = if kind == Kind::Weight
                        && !compress
                        && matches!(asked, TarGzip | TarZstd)
                    {
                        Tar
                    } else {
                        asked
                    };
                    assert_eq!(
                        asked.for_kind(kind, compress),
                        want,
                        "{asked:?} {kind:?} compress_weights={compress}"
                    );
                }
            }
        }
        assert_eq!(TarZstd.for_kind(Kind::Weight, false), Tar);
        assert_eq!(TarZstd.for_kind(Kind::Weight, true), TarZstd);
        assert_eq!(TarGzip.for_kind(Kind::Doc, false), TarGzip);
        assert_eq!(Raw.for_kind(Kind::Weight, true), Raw);
    }

    #[test]
    fn suffixes_round_trip() {
        for p in LayerPackaging::ALL {
            assert_eq!(LayerPackaging::from_suffix(p.suffix()), Some(p));
        }
        assert_eq!(LayerPackaging::from_suffix("zip"), None);
    }
}
