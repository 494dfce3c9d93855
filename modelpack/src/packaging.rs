//! How a file becomes a layer.

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
    pub const ALL: [LayerPackaging; 4] =
        [LayerPackaging::Raw, LayerPackaging::Tar, LayerPackaging::TarGzip, LayerPackaging::TarZstd];

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
}
