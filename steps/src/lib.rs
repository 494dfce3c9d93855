//! Every in-build step of `modelpack-frontend` in one place: the hidden
//! subcommands a build runs by re-executing the binary from the frontend
//! image (`/modelpack-frontend <step> …`, no shell). [`STEPS`] is the one
//! dispatch table: for each step its name, its argv, the files it reads
//! and writes, and the code it runs.
//!
//! Two sides, two crates:
//! - the **runner side** lives here: each step's module parses its argv
//!   and runs it over the library code of `modelpack` (listing, layer
//!   writer, model description, layout documents) and `modelpack-hub`
//!   (downloads); the binary's `main` hands it every first argument that
//!   names a step ([`find`]);
//! - the **emitter side** (the LLB exec op that runs a step, its mounts and
//!   network) lives in the frontend crate (`frontend/src/steps.rs`,
//!   `emit.rs`, `sizes.rs`, `hf_get_many.rs`, `source/hub.rs`), and takes
//!   [`BINARY`], each step's `NAME`, its flags and the names of the files it
//!   writes from here, so the two sides cannot drift.
//!
//! Changing a step's argv or output files changes the build graph, so the
//! frontend's golden digests catch it.

pub mod bundle_image;
pub mod describe;
pub mod hf_get;
pub mod hf_get_many;
pub mod pack_layer;
pub mod pack_many;
pub mod scan;
pub mod sizes;
pub mod write_docs;

/// Path of the binary inside the frontend image: every step runs it.
pub const BINARY: &str = "/modelpack-frontend";

/// One in-build step.
pub struct Step {
    /// The subcommand: the word after [`BINARY`].
    pub name: &'static str,
    /// What follows the name on the command line.
    pub argv: &'static str,
    /// What it reads.
    pub reads: &'static str,
    /// What it writes.
    pub writes: &'static str,
    /// Runs it with the arguments after its name; the process exit code
    /// (0, or a download failure's class from
    /// [`modelpack_hub::download::exit`]). An error exits 1.
    pub run: fn(&[String]) -> anyhow::Result<u8>,
}

/// Every in-build step; none is listed by `--help`.
pub static STEPS: &[&Step] = &[
    &scan::STEP,
    &describe::STEP,
    &sizes::STEP,
    &pack_layer::STEP,
    &pack_many::STEP,
    &hf_get::STEP,
    &hf_get_many::STEP,
    &write_docs::STEP,
    &bundle_image::STEP,
];

/// The step named `word`, if it is one.
pub fn find(word: &str) -> Option<&'static Step> {
    STEPS.iter().copied().find(|s| s.name == word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_dispatches_to_its_runner() {
        let mut names: Vec<&str> = STEPS.iter().map(|s| s.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), STEPS.len(), "a step name twice");
        for step in STEPS {
            let found = find(step.name).expect("listed steps are found");
            assert_eq!(found.name, step.name);
            // Without arguments every runner refuses with its usage: the
            // table reaches the step's own code.
            let err = (found.run)(&[]).expect_err(step.name);
            assert!(
                format!("{err:#}").contains("usage"),
                "{}: {err:#}",
                step.name
            );
            assert!(!step.argv.is_empty() && !step.reads.is_empty() && !step.writes.is_empty());
        }
        assert!(find("pack").is_none() && find("").is_none());
    }
}
