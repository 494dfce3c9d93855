//! The ModelPack core shared by both front doors of `modelpack-frontend`
//! (the BuildKit gateway frontend and the command line): what a file is
//! (`mediatype`), the OCI and ModelPack documents (`oci`, `schema`), the
//! pure plan from files to layout bytes (`plan`, with the files it takes in
//! `plan_file` and what it comes to in `artifact`), the streaming layer
//! writer (`pack`), directory listings (`scan`, `listing`), include/exclude patterns
//! (`patterns`) and the source grammar with the Hub's listing parser
//! (`source`, `huggingface`, `urlsource`), directory sources with `.dockerignore`
//! (`context`), sizes for people (`human`), and OCI layouts on disk: reading and writing (`layout`),
//! checking against the spec (`validate`) and unpacking (`unpack`); and
//! what steps of many files share: compressed step inputs (`compact`,
//! `docs`) and a small thread pool (`workers`).
//! Nothing here knows BuildKit, so the same code gives the same digests
//! whichever door it is called from.

pub mod app_image;
pub mod artifact;
pub mod bundle;
pub mod bundle_layout;
#[cfg(test)]
mod cnai_tests;
pub mod compact;
pub mod config;
pub mod context;
pub mod describe;
pub mod digest;
pub mod dockerignore;
pub mod generic;
#[cfg(test)]
mod golden;
pub mod huggingface;
pub mod human;
pub mod layout;
pub mod layout_docs;
mod layout_error;
pub mod listing;
pub mod mediatype;
pub mod names;
pub mod oci;
pub mod pack;
pub mod packaging;
pub mod patterns;
pub mod pgzip;
pub mod plan;
pub mod plan_file;
pub mod recipe;
pub mod rootfs;
pub mod scan;
pub mod schema;
pub mod setting;
pub mod signed_files;
pub mod source;
#[cfg(test)]
pub(crate) mod testutil;
pub mod time;
pub mod trust;
pub mod unpack;
pub mod urlsource;
pub mod validate;
pub mod workers;

pub use packaging::LayerPackaging;
