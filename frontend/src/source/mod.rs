//! The kinds of source as BuildKit graphs: the build context, the Hugging
//! Face Hub and http(s) URLs, sharing one packaging tail (`package`). The source grammar itself lives
//! in `modelpack::source`.

pub mod compose;
pub mod context;
pub mod hub;
pub mod package;
pub mod url;

pub use modelpack::source::SourceSpec;
