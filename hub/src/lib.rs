//! The Hugging Face Hub client both doors of `modelpack-frontend` use (the
//! in-build download steps of `modelpack-steps` and the CLI's `pack`):
//! the downloader ([`download`]: retries, stall bound, content checks, the
//! token as a plain argument), the streaming readers of the CLI's streamed
//! publish ([`stream`], stall-bounded by [`stall`]) and the Hub facts both doors agree on. The
//! Hub's references and its listing's parser are `modelpack::huggingface`.
//! Nothing here knows BuildKit.

pub mod download;
pub mod stall;
pub mod stream;

/// The Hugging Face endpoint used when none is given (`hf_endpoint`,
/// `--hf-endpoint`, `HF_ENDPOINT`).
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// The largest revision answer (the repo's listing) either door reads:
/// 64 MiB, about 300,000 files. The frontend reads it back from a build
/// result through the gateway, the CLI from its download.
pub const MAX_INFO_BYTES: usize = 64 << 20;
