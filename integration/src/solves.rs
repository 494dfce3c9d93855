//! What a build's frontend really sent BuildKit: with the build arg
//! `debug_dump_llb=<tag>` the frontend writes every marshalled
//! `SolveRequest` to its stderr (`frontend/src/llbdump.rs`), which
//! buildkitd passes to the daemon's log ([`Engine::daemon_log`]). This
//! module reads those lines back, for this tag only (other builds, of this
//! or other test runs, share the log), and decodes them.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use llb::proto::gateway::SolveRequest;
use llb::proto::pb;
use prost::Message;

use crate::engine::Engine;

/// What every dump line starts with (`llbdump::PREFIX`).
pub const PREFIX: &str = "modelpack-frontend: llb-dump";

/// A fresh tag for `--build-arg debug_dump_llb=…`.
pub fn unique_tag(prefix: &str) -> String {
    crate::unique_name(prefix)
}

/// One solve request as the frontend marshalled it.
#[derive(Clone, Debug)]
pub struct Solve {
    /// Its number in the build (0, 1, …, in the order they were sent).
    pub seq: u64,
    /// The marshalled `SolveRequest`, byte for byte.
    pub bytes: Vec<u8>,
    /// Its `Definition`, decoded.
    pub definition: pb::Definition,
}

impl Solve {
    /// The decoded ops of the definition (the last one of an LLB
    /// definition is the output marker, an op with no kind).
    pub fn ops(&self) -> Vec<pb::Op> {
        self.definition
            .def
            .iter()
            .map(|b| pb::Op::decode(b.as_slice()).expect("an op of the dumped definition decodes"))
            .collect()
    }

    /// The argv of every exec op.
    pub fn exec_args(&self) -> Vec<Vec<String>> {
        self.ops()
            .into_iter()
            .filter_map(|op| match op.op {
                Some(pb::op::Op::Exec(e)) => e.meta.map(|m| m.args),
                _ => None,
            })
            .collect()
    }
}

/// Every solve of the build tagged `tag` on `engine`, in order. Waits (up
/// to `wait`) for the frontend's `end` line, then checks that every
/// announced solve is there, complete and decodable; panics otherwise.
/// Solves by one of BuildKit's frontends (no definition of ours) are left out.
pub fn solves(engine: Engine, tag: &str, wait: Duration) -> Vec<Solve> {
    let log = engine.daemon_log();
    let start = Instant::now();
    loop {
        let text = std::fs::read(log).unwrap_or_else(|e| panic!("read the daemon log {log}: {e}"));
        let text = String::from_utf8_lossy(&text);
        let lines: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix(PREFIX))
            .filter_map(|l| l.strip_prefix(' '))
            .filter_map(|l| l.strip_prefix(tag))
            .filter_map(|l| l.strip_prefix(' '))
            .collect();
        if let Some(end) = lines.iter().find_map(|l| l.strip_prefix("end ")) {
            let count: u64 = end
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("bad end line for {tag}: {end:?}"));
            return assemble(&lines, count, tag, log);
        }
        assert!(
            start.elapsed() < wait,
            "no `{PREFIX} {tag} end` line in {log} after {wait:?} ({} lines of this tag): was the build run with \
             --build-arg debug_dump_llb={tag}, and does this engine log to {log}?",
            lines.len()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn assemble(lines: &[&str], count: u64, tag: &str, log: &str) -> Vec<Solve> {
    // seq -> (parts, part number -> bytes)
    let mut parts: BTreeMap<u64, (usize, BTreeMap<usize, Vec<u8>>)> = BTreeMap::new();
    for l in lines.iter().filter(|l| !l.starts_with("end ")) {
        let mut words = l.split(' ');
        let (seq, part, hex) = (words.next(), words.next(), words.next().unwrap_or(""));
        let seq: u64 = seq
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad dump line in {log}: {l:?}"));
        let (n, of) = part
            .and_then(|p| p.split_once('/'))
            .unwrap_or_else(|| panic!("bad dump line in {log}: {l:?}"));
        let (n, of): (usize, usize) = (
            n.parse().expect("part number"),
            of.parse().expect("part count"),
        );
        let bytes =
            hex::decode(hex).unwrap_or_else(|e| panic!("bad hex in a dump line of {tag}: {e}"));
        let entry = parts.entry(seq).or_insert((of, BTreeMap::new()));
        assert_eq!(
            entry.0, of,
            "solve {seq} of {tag} announced two part counts"
        );
        assert!(
            entry.1.insert(n, bytes).is_none(),
            "solve {seq} of {tag}: part {n} twice (two builds with one tag?)"
        );
    }
    let seqs: Vec<u64> = parts.keys().copied().collect();
    assert_eq!(
        seqs,
        (0..count).collect::<Vec<_>>(),
        "the frontend announced {count} solves for {tag}; {log} holds {seqs:?}"
    );
    parts
        .into_iter()
        .filter_map(|(seq, (of, chunks))| {
            assert_eq!(
                chunks.keys().copied().collect::<Vec<_>>(),
                (1..=of).collect::<Vec<_>>(),
                "solve {seq} of {tag} is incomplete"
            );
            let bytes: Vec<u8> = chunks.into_values().flatten().collect();
            let request = SolveRequest::decode(bytes.as_slice())
                .unwrap_or_else(|e| panic!("solve {seq} of {tag} is no SolveRequest: {e}"));
            // A solve by one of BuildKit's frontends (packager/bundle's
            // Dockerfile build) sends no definition of ours.
            if request.definition.is_none() && !request.frontend.is_empty() {
                return None;
            }
            let definition = request
                .definition
                .unwrap_or_else(|| panic!("solve {seq} of {tag} has no definition"));
            assert!(
                !definition.def.is_empty(),
                "solve {seq} of {tag} has an empty definition"
            );
            Some(Solve {
                seq,
                bytes,
                definition,
            })
        })
        .collect()
}

/// Panics unless `needle` is absent from every solve (the raw marshalled
/// bytes: strings in protobuf are stored as they are, nested ops included).
/// `what` names the needle in the message, never showing it.
pub fn assert_absent(solves: &[Solve], needle: &str, what: &str) {
    let hits: Vec<u64> = solves
        .iter()
        .filter(|s| contains(&s.bytes, needle.as_bytes()))
        .map(|s| s.seq)
        .collect();
    assert!(
        hits.is_empty(),
        "{what} is in the LLB of solve(s) {hits:?} the frontend sent BuildKit"
    );
}

/// Whether `hay` contains `needle`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}
