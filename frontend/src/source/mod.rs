//! The kinds of source as BuildKit graphs: the build context and the
//! Hugging Face Hub. The source grammar itself lives in `modelpack::source`.

pub mod context;
pub mod hub;


pub use modelpack::source::SourceSpec;
