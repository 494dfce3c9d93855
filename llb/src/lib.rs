//! BuildKit wire types and a deterministic LLB builder.
//!
//! [`proto`] holds the generated prost messages for our `.proto` subset (LLB
//! ops, the LLBBridge gateway API, `google.rpc.Status`, fsutil stats) and a
//! tonic client. The builder ([`State`], [`source`], [`FileOp`], [`Exec`])
//! turns a graph of sources, file actions and exec steps into a
//! [`proto::pb::Definition`] whose digests are the sha256 of the exact
//! marshalled bytes. Nothing here knows about models.
#![deny(missing_docs)]

mod exec;
mod file;
mod merge;
pub mod proto;
pub mod source;
mod state;

pub use exec::{Exec, ExecNode, Mount, NetMode};
pub use file::{keep_in_graph, unchanged, CopyOptions, FileOp, KEEP_PLACEHOLDER};
pub use merge::merge;
pub use state::{digest_of, ignore_cache, ignore_cache_except, Imported, State};
