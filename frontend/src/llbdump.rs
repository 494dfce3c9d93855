//! Opt-in record of every `Solve` the frontend sends (build arg
//! `debug_dump_llb=<tag>`), for tests that must see what BuildKit really
//! receives, e.g. that a secret never enters the build graph.
//!
//! Each marshalled `SolveRequest` (its `Definition` included, exactly the
//! bytes handed to gRPC) is written to the frontend's stderr, which
//! buildkitd passes to its own (dockerd's log for Docker's BuildKit), as
//! hex in lines of at most [`MAX_LINE`] bytes:
//!
//! ```text
//! modelpack-frontend: llb-dump <tag> <seq> <part>/<parts> <hex>
//! modelpack-frontend: llb-dump <tag> end <count>
//! ```
//!
//! Each line is one `write` of less than `PIPE_BUF`, so lines of
//! concurrent builds sharing that log never interleave. The `end` line is
//! written once the build has its result, just before it is returned.

use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{bail, Result};

/// Longest line written (below Linux's `PIPE_BUF` of 4096 bytes, so each
/// line is written atomically even through a pipe).
pub const MAX_LINE: usize = 4000;

/// What every dump line starts with.
pub const PREFIX: &str = "modelpack-frontend: llb-dump";

/// Longest accepted tag.
pub const MAX_TAG: usize = 64;

/// The recorder of one build: its tag and how many solves it wrote.
#[derive(Debug)]
pub struct Dump {
    tag: String,
    count: AtomicU64,
}

impl Dump {
    /// A recorder for `tag` (1–64 of `A-Za-z0-9._-`), or an error naming
    /// the build arg.
    pub fn new(tag: &str) -> Result<Dump> {
        let ok = !tag.is_empty()
            && tag.len() <= MAX_TAG
            && tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if !ok {
            bail!(
                "build-arg debug_dump_llb: {tag:?} is not a tag; use 1-{MAX_TAG} of A-Za-z0-9._-"
            );
        }
        Ok(Dump {
            tag: tag.to_string(),
            count: AtomicU64::new(0),
        })
    }

    /// Writes one marshalled solve request to stderr.
    pub fn record(&self, request: &[u8]) {
        let seq = self.count.fetch_add(1, Ordering::SeqCst);
        for line in self.lines(seq, request) {
            write_line(&line);
        }
    }

    /// Writes the `end` line with the number of solves recorded.
    pub fn finish(&self) {
        write_line(&format!(
            "{PREFIX} {} end {}\n",
            self.tag,
            self.count.load(Ordering::SeqCst)
        ));
    }

    /// The lines for solve number `seq`, each ending in a newline.
    fn lines(&self, seq: u64, request: &[u8]) -> Vec<String> {
        let head_room = PREFIX.len() + self.tag.len() + 64;
        let per_line = (MAX_LINE - head_room) / 2;
        let chunks: Vec<&[u8]> = if request.is_empty() {
            vec![&[][..]]
        } else {
            request.chunks(per_line).collect()
        };
        let parts = chunks.len();
        chunks
            .iter()
            .enumerate()
            .map(|(i, c)| {
                format!(
                    "{PREFIX} {} {seq} {}/{parts} {}\n",
                    self.tag,
                    i + 1,
                    hex::encode(c)
                )
            })
            .collect()
    }
}

/// One `write` of the whole line (stderr is unbuffered).
fn write_line(line: &str) {
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reassembles solve `seq` from lines as a reader of the log would.
    fn reassemble(lines: &[String], tag: &str, seq: u64) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            let rest = l
                .strip_prefix(&format!("{PREFIX} {tag} {seq} "))
                .expect("prefix");
            let (part, hex) = rest.trim_end().split_once(' ').expect("part and hex");
            assert_eq!(part, format!("{}/{}", i + 1, lines.len()));
            out.extend(hex::decode(hex).expect("hex"));
        }
        out
    }

    #[test]
    fn a_large_request_is_split_into_short_lines_that_reassemble() {
        let dump = Dump::new("t-1.x").unwrap();
        let request: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let lines = dump.lines(3, &request);
        assert!(lines.len() > 5, "{} lines", lines.len());
        assert!(lines
            .iter()
            .all(|l| l.len() <= MAX_LINE && l.ends_with('\n') && l.matches('\n').count() == 1));
        assert_eq!(reassemble(&lines, "t-1.x", 3), request);
    }

    #[test]
    fn an_empty_request_is_one_line() {
        let dump = Dump::new("a").unwrap();
        let lines = dump.lines(0, &[]);
        assert_eq!(lines, vec![format!("{PREFIX} a 0 1/1 \n")]);
    }

    #[test]
    fn tags_are_checked() {
        for bad in ["", "a b", "a/b", "x\n", &"a".repeat(MAX_TAG + 1)] {
            let e = Dump::new(bad).unwrap_err().to_string();
            assert!(e.starts_with("build-arg debug_dump_llb: "), "{e}");
        }
        assert!(Dump::new(&"a".repeat(MAX_TAG)).is_ok());
    }
}
