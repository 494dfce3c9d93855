//! Differential test: `modelpack::patterns::fnmatch` against Python's
//! `fnmatch.fnmatchcase` (the function huggingface_hub filters with) on
//! generated patterns and names. Needs `python3` (integration/test.sh
//! needs it anyway for the fake hub).

use std::io::Write as _;
use std::process::{Command, Stdio};

use modelpack::patterns::fnmatch;

/// xorshift64*: deterministic cases, no randomness crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }

    fn string(&mut self, alphabet: &[&str], max: u64) -> String {
        let len = self.next() % (max + 1);
        (0..len).map(|_| self.pick(alphabet)).collect()
    }
}

/// Pattern pieces: literals, separators, wildcards, classes (also
/// unterminated, negated, ranges, `]` first, `-` at the ends), and a
/// non-ASCII letter.
const PATTERN: &[&str] = &[
    "a", "b", "c", "/", ".", "-", "*", "*", "?", "[", "]", "!", "[ab]", "[!a]", "[a-c]", "[]a]",
    "[!]]", "[-a]", "[a-]", "[c-a]", "[", "é", "\\", "**/",
];
/// Name pieces.
const NAME: &[&str] = &[
    "a", "b", "c", "/", ".", "-", "[", "]", "!", "é", "\\", "x.bin",
];

#[test]
fn fnmatch_agrees_with_python_fnmatchcase() {
    let mut rng = Rng(0x5eed_f00d_1234_5678);
    let mut cases = Vec::new();
    for _ in 0..20_000 {
        cases.push((rng.string(PATTERN, 6), rng.string(NAME, 8)));
    }
    // Names built to match often: the pattern with wildcards filled in.
    for _ in 0..5_000 {
        let p = rng.string(PATTERN, 5);
        let n: String = p
            .replace('*', "ab/")
            .replace('?', "c")
            .replace(['[', ']', '!'], "");
        cases.push((p, n));
    }
    let input = serde_json::to_vec(&cases).unwrap();
    let script = "import fnmatch, json, sys\n\
                  cases = json.load(sys.stdin)\n\
                  json.dump([fnmatch.fnmatchcase(n, p) for p, n in cases], sys.stdout)\n";
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 is needed for this test (apt-get install python3)");
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let python: Vec<bool> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(python.len(), cases.len());
    let differ: Vec<String> = cases
        .iter()
        .zip(&python)
        .filter(|((p, n), py)| fnmatch(p, n) != **py)
        .map(|((p, n), py)| format!("fnmatch({p:?}, {n:?}): python {py}, ours {}", !py))
        .collect();
    assert!(
        differ.is_empty(),
        "{} of {} cases differ, e.g.:\n{}",
        differ.len(),
        cases.len(),
        differ[..differ.len().min(20)].join("\n")
    );
    let matched = python.iter().filter(|m| **m).count();
    assert!(
        matched > 1_000,
        "only {matched} cases match: the generator should produce more positives"
    );
}
