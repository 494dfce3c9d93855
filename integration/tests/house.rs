//! One room per job (issue 19): no import cycles between the modules of a
//! workspace crate, and the crates layered as the house plan says (each
//! crate's workspace dependencies, read from its `Cargo.toml`, within what
//! its door may use). No docker needed.
//!
//! For every workspace member, every `.rs` file under its `src/` is read
//! with a light tokenizer (comments, strings and char literals dropped) and
//! the module dependency graph is built from:
//!
//! - `crate::…` paths, in `use` trees (`use crate::{a::{B, c}, d::*}`) and
//!   anywhere else (`crate::a::f()`), `$crate::…` alike;
//! - `super::…` paths, resolved from the module they are written in (an
//!   inline `mod` counts as a level, so `super` in a file's `mod tests` is
//!   the file itself);
//! - `mod x;` declarations, only to know which files are test-only.
//!
//! A file's module path comes from its place under `src/`: `lib.rs` and
//! `main.rs` are the crate root, `src/a.rs` and `src/a/mod.rs` are `a`,
//! `src/a/b.rs` is `a::b`. A path names the longest of its prefixes that is
//! a file's module (`crate::plan::PlanFile` → `plan`).
//!
//! Rules, so that ordinary Rust layout is not reported:
//!
//! 1. An edge from a module to one of its descendants is dropped: a parent
//!    declares its children (`mod x;`), re-exports them (`pub use x::Y`)
//!    and drives them; the children may use the parent's items. An edge to
//!    the crate root is therefore never part of a cycle either.
//! 2. Self-edges are dropped.
//! 3. Edges from test-only code are dropped: `#[cfg(test)]` items and
//!    blocks (`#[cfg(test)] mod tests { use super::*; … }`), and files
//!    whose `mod` declaration is `#[cfg(test)]` (`mod tests;`, `testutil`).
//!    Tests use what they test, and helpers from elsewhere, without making
//!    the modules depend on each other.
//!
//! Both granularities are checked: files (`modelpack/src/plan.rs` against
//! `modelpack/src/generic.rs`, `cli/src/pack/mod.rs` against
//! `cli/src/progress.rs`) and top-level modules (every file under
//! `cli/src/pack/` is `pack`). Each strongly connected component of more than one
//! node (Tarjan) is a cycle; the test fails listing every one, with the
//! line of each reference that closes it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// `::`
    PathSep,
    Punct(char),
}

/// Tokens with their line numbers: identifiers, `::` and single
/// punctuation; comments, string, byte-string, raw-string and char
/// literals, numbers and lifetimes are dropped.
fn tokenize(src: &str) -> Vec<(Tok, usize)> {
    let b: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1;
    let at = |i: usize| b.get(i).copied().unwrap_or('\0');
    while i < b.len() {
        let c = b[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && at(i + 1) == '/' {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if b[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if b[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
        } else if (c == 'r' || (c == 'b' && at(i + 1) == 'r'))
            && matches!(at(i + usize::from(c == 'b') + 1), '"' | '#')
            && {
                // A raw string: r"…", r#"…"#, br"…".
                let mut j = i + usize::from(c == 'b') + 1;
                while at(j) == '#' {
                    j += 1;
                }
                at(j) == '"'
            }
        {
            let mut j = i + usize::from(c == 'b') + 1;
            let mut hashes = 0;
            while at(j) == '#' {
                hashes += 1;
                j += 1;
            }
            j += 1; // the opening quote
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == '\n' {
                    line += 1;
                }
                if b[j] == '"' && (1..=hashes).all(|k| at(j + k) == '#') {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            i = j;
        } else if c == '"' || (c == 'b' && at(i + 1) == '"') {
            let mut j = i + if c == 'b' { 2 } else { 1 };
            while j < b.len() && b[j] != '"' {
                if b[j] == '\\' {
                    j += 1;
                }
                if at(j) == '\n' {
                    line += 1;
                }
                j += 1;
            }
            i = j + 1;
        } else if c == '\'' || (c == 'b' && at(i + 1) == '\'') {
            // A char literal ('x', '\n', '\u{1F600}', b'x') or a lifetime.
            let j = i + if c == 'b' { 2 } else { 1 };
            if at(j) == '\\' {
                let mut k = j + 2;
                while k < b.len() && b[k] != '\'' {
                    k += 1;
                }
                i = k + 1;
            } else if at(j + 1) == '\'' {
                i = j + 2;
            } else {
                i = j; // a lifetime: its name is read as an identifier
            }
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_') {
                i += 1;
            }
            out.push((Tok::Ident(b[start..i].iter().collect()), line));
        } else if c.is_ascii_digit() {
            while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_') {
                i += 1;
            }
        } else if c == ':' && at(i + 1) == ':' {
            out.push((Tok::PathSep, line));
            i += 2;
        } else {
            out.push((Tok::Punct(c), line));
            i += 1;
        }
    }
    out
}

fn ident(t: Option<&(Tok, usize)>) -> Option<&str> {
    match t {
        Some((Tok::Ident(s), _)) => Some(s),
        _ => None,
    }
}

fn is(t: Option<&(Tok, usize)>, want: &Tok) -> bool {
    t.is_some_and(|(t, _)| t == want)
}

/// Reads a use tree (or an expression path) at `toks[*i]`, below `prefix`,
/// and returns every full path it names.
fn use_tree(toks: &[(Tok, usize)], i: &mut usize, prefix: Vec<String>) -> Vec<Vec<String>> {
    let mut segs = prefix;
    loop {
        if is(toks.get(*i), &Tok::Punct('{')) {
            *i += 1;
            let mut paths = Vec::new();
            while *i < toks.len() && !is(toks.get(*i), &Tok::Punct('}')) {
                let before = *i;
                paths.extend(use_tree(toks, i, segs.clone()));
                if is(toks.get(*i), &Tok::Punct(',')) {
                    *i += 1;
                }
                if *i == before {
                    *i += 1; // something unexpected: never loop forever
                }
            }
            *i += 1;
            return paths;
        }
        match ident(toks.get(*i)) {
            Some(name) if name != "self" => {
                segs.push(name.to_string());
                *i += 1;
                if is(toks.get(*i), &Tok::PathSep) {
                    *i += 1;
                    continue;
                }
            }
            Some(_) => *i += 1, // `self` in a group: the path so far
            None => {
                if is(toks.get(*i), &Tok::Punct('*')) {
                    *i += 1;
                }
            }
        }
        if ident(toks.get(*i)) == Some("as") {
            *i += 2;
        }
        return vec![segs];
    }
}

/// A reference from one place in a file to a module path.
#[derive(Debug)]
struct Ref {
    target: Vec<String>,
    line: usize,
    test: bool,
}

/// What one file says: its references and its `mod x;` declarations
/// (name, whether `#[cfg(test)]`).
#[derive(Debug, Default)]
struct FileFacts {
    refs: Vec<Ref>,
    child_files: Vec<(String, bool)>,
    test_only: bool,
}

/// Whether the attribute tokens `toks[start..end]` (inside `#[…]`) are a
/// `cfg` that holds only under test.
fn is_cfg_test(toks: &[(Tok, usize)]) -> bool {
    ident(toks.first()) == Some("cfg")
        && toks.iter().any(|t| ident(Some(t)) == Some("test"))
        && !toks.iter().any(|t| ident(Some(t)) == Some("not"))
}

fn parse_file(src: &str, module: &[String]) -> FileFacts {
    let toks = tokenize(src);
    let mut facts = FileFacts::default();
    // One entry per open brace: the inline module it opens, if any, and
    // whether its contents are test-only.
    let mut scopes: Vec<(Option<String>, bool)> = Vec::new();
    let mut pending_test = false;
    let mut pending_mod: Option<String> = None;
    let mut i = 0;
    while i < toks.len() {
        let in_test = facts.test_only || pending_test || scopes.iter().any(|s| s.1);
        let here: Vec<String> = module
            .iter()
            .cloned()
            .chain(scopes.iter().filter_map(|s| s.0.clone()))
            .collect();
        let (tok, line) = &toks[i];
        match tok {
            Tok::Punct('#') => {
                let inner = is(toks.get(i + 1), &Tok::Punct('!'));
                let open = i + 1 + usize::from(inner);
                if is(toks.get(open), &Tok::Punct('[')) {
                    let mut depth = 0;
                    let mut j = open;
                    while j < toks.len() {
                        match toks[j].0 {
                            Tok::Punct('[') => depth += 1,
                            Tok::Punct(']') => {
                                depth -= 1;
                                if depth == 0 {
                                    break;
                                }
                            }
                            _ => {}
                        }
                        j += 1;
                    }
                    if is_cfg_test(&toks[open + 1..j]) {
                        if inner && scopes.is_empty() {
                            facts.test_only = true;
                        } else if inner {
                            if let Some(s) = scopes.last_mut() {
                                s.1 = true;
                            }
                        } else {
                            pending_test = true;
                        }
                    }
                    i = j + 1;
                    continue;
                }
            }
            Tok::Punct('{') => {
                scopes.push((pending_mod.take(), pending_test));
                pending_test = false;
            }
            Tok::Punct('}') => {
                scopes.pop();
                pending_test = false;
                pending_mod = None;
            }
            Tok::Punct(';') => {
                if let Some(name) = pending_mod.take() {
                    if scopes.is_empty() {
                        facts.child_files.push((name, in_test));
                    }
                }
                pending_test = false;
            }
            Tok::Ident(kw) if kw == "mod" => {
                if let Some(name) = ident(toks.get(i + 1)) {
                    pending_mod = Some(name.to_string());
                    i += 2;
                    continue;
                }
            }
            Tok::Ident(kw)
                if (kw == "crate" || kw == "super")
                    && is(toks.get(i + 1), &Tok::PathSep)
                    && !(i > 0 && is(toks.get(i - 1), &Tok::PathSep)) =>
            {
                let mut base: Vec<String> = if kw == "crate" {
                    i += 2;
                    Vec::new()
                } else {
                    let mut base = here.clone();
                    while ident(toks.get(i)) == Some("super") && is(toks.get(i + 1), &Tok::PathSep)
                    {
                        base.pop();
                        i += 2;
                    }
                    base
                };
                for target in use_tree(&toks, &mut i, std::mem::take(&mut base)) {
                    facts.refs.push(Ref {
                        target,
                        line: *line,
                        test: in_test,
                    });
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    facts
}

/// The module path of a file under `src/`.
fn module_of(rel: &Path) -> Vec<String> {
    let mut segs: Vec<String> = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if segs.len() == 1 && (segs[0] == "lib" || segs[0] == "main") {
        return Vec::new();
    }
    if segs.last().is_some_and(|s| s == "mod") {
        segs.pop();
    }
    segs
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// One edge of the graph, with the first reference that makes it.
type Edges = BTreeMap<(String, String), (String, usize)>;

fn name(module: &[String]) -> String {
    if module.is_empty() {
        "crate".to_string()
    } else {
        module.join("::")
    }
}

/// The file-level and top-level edges of the crate at `root`, and the file
/// of each module (for the messages).
fn crate_graph(root: &Path) -> (Edges, Edges, BTreeMap<String, String>) {
    let src = root.join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut facts: BTreeMap<Vec<String>, (String, FileFacts)> = BTreeMap::new();
    for path in &files {
        let module = module_of(path.strip_prefix(&src).unwrap());
        let text = fs::read_to_string(path).unwrap();
        let shown = path
            .strip_prefix(root.parent().unwrap())
            .unwrap()
            .display()
            .to_string();
        facts.insert(module.clone(), (shown, parse_file(&text, &module)));
    }
    // Test-only files: declared `#[cfg(test)] mod x;`, or inside one.
    let mut test_only: BTreeSet<Vec<String>> = facts
        .iter()
        .filter(|(_, (_, f))| f.test_only)
        .map(|(m, _)| m.clone())
        .collect();
    loop {
        let before = test_only.len();
        for (module, (_, f)) in &facts {
            for (child, test) in &f.child_files {
                if *test || test_only.contains(module) {
                    let mut c = module.clone();
                    c.push(child.clone());
                    test_only.insert(c);
                }
            }
        }
        if test_only.len() == before {
            break;
        }
    }
    let mut file_edges = Edges::new();
    let mut top_edges = Edges::new();
    for (module, (shown, f)) in &facts {
        if test_only.contains(module) {
            continue;
        }
        for r in f.refs.iter().filter(|r| !r.test) {
            let target = (0..=r.target.len())
                .rev()
                .map(|n| &r.target[..n])
                .find(|p| facts.contains_key(*p))
                .unwrap_or(&[]);
            if target.starts_with(module) {
                continue; // itself or a descendant
            }
            let at = (shown.clone(), r.line);
            file_edges
                .entry((name(module), name(target)))
                .or_insert_with(|| at.clone());
            if let (Some(from), Some(to)) = (module.first(), target.first()) {
                if from != to {
                    top_edges.entry((from.clone(), to.clone())).or_insert(at);
                }
            }
        }
    }
    let shown = facts
        .iter()
        .map(|(m, (s, _))| (name(m), s.clone()))
        .collect();
    (file_edges, top_edges, shown)
}

/// The strongly connected components of more than one node (Tarjan).
fn cycles(edges: &Edges) -> Vec<Vec<String>> {
    struct Tarjan<'a> {
        adj: BTreeMap<&'a str, Vec<&'a str>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    impl<'a> Tarjan<'a> {
        fn visit(&mut self, v: &'a str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.adj.get(v).cloned().unwrap_or_default() {
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let l = self.low[v].min(self.low[w]);
                    self.low.insert(v, l);
                } else if self.on_stack.contains(w) {
                    let l = self.low[v].min(self.index[w]);
                    self.low.insert(v, l);
                }
            }
            if self.low[v] == self.index[v] {
                let mut scc = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    scc.push(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if scc.len() > 1 {
                    scc.sort();
                    self.found.push(scc);
                }
            }
        }
    }
    let mut t = Tarjan {
        adj: BTreeMap::new(),
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for (from, to) in edges.keys() {
        t.adj.entry(from.as_str()).or_default().push(to.as_str());
        t.adj.entry(to.as_str()).or_default();
    }
    let nodes: Vec<&str> = t.adj.keys().copied().collect();
    for v in nodes {
        if !t.index.contains_key(v) {
            t.visit(v);
        }
    }
    t.found.sort();
    t.found
}

/// A readable account of each cycle: its members and the references
/// between them.
fn describe(
    krate: &str,
    level: &str,
    edges: &Edges,
    shown: &BTreeMap<String, String>,
) -> Vec<String> {
    cycles(edges)
        .into_iter()
        .map(|scc| {
            let members: Vec<String> = scc
                .iter()
                .map(|m| match (level, shown.get(m)) {
                    ("file", Some(file)) => format!("{m} ({file})"),
                    _ => m.clone(),
                })
                .collect();
            let mut text = format!("{krate}: a cycle between {level}s {}:", members.join(", "));
            for ((from, to), (file, line)) in edges {
                if scc.contains(from) && scc.contains(to) {
                    text.push_str(&format!("\n    {from} -> {to}   ({file}:{line})"));
                }
            }
            text
        })
        .collect()
}

fn workspace_members(root: &Path) -> Vec<String> {
    let manifest = fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let list = manifest
        .split("members")
        .nth(1)
        .and_then(|s| s.split('[').nth(1))
        .and_then(|s| s.split(']').next())
        .expect("workspace members in Cargo.toml");
    list.split(',')
        .map(|m| m.trim().trim_matches('"').to_string())
        .filter(|m| !m.is_empty())
        .collect()
}

fn all_cycles(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for member in workspace_members(root) {
        let (files, tops, shown) = crate_graph(&root.join(&member));
        found.extend(describe(&member, "file", &files, &shown));
        found.extend(describe(&member, "top-level module", &tops, &shown));
    }
    found
}

#[test]
fn no_import_cycles_between_modules() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let found = all_cycles(root);
    assert!(
        found.is_empty(),
        "import cycles between modules (issue 19: move what both sides need into \
         a leaf module or to the side that owns it):\n\n{}\n",
        found.join("\n\n")
    );
}

#[test]
fn the_parser_sees_use_trees_super_and_test_code() {
    let src = r#"
        //! crate::not_a_path in a comment
        use crate::{a::{B, c::D}, e::*, f as g};
        use std::fmt;
        pub(super) fn x() -> &'static str { let _ = 'c'; "crate::nope::X" }
        fn y() { crate::h::run(); super::sibling::go(); }
        #[cfg(test)]
        mod tests {
            use super::*;
            use crate::t::Helper;
        }
        #[cfg(test)]
        mod fixtures;
        mod child;
    "#;
    let module = vec!["m".to_string(), "n".to_string()];
    let facts = parse_file(src, &module);
    let refs: Vec<(String, bool)> = facts
        .refs
        .iter()
        .map(|r| (r.target.join("::"), r.test))
        .collect();
    let expect = [
        ("a::B", false),
        ("a::c::D", false),
        ("e", false),
        ("f", false),
        ("h::run", false),
        ("m::sibling::go", false),
        ("m::n", true),
        ("t::Helper", true),
    ];
    let expect: Vec<(String, bool)> = expect.iter().map(|(p, t)| (p.to_string(), *t)).collect();
    assert_eq!(refs, expect);
    assert_eq!(
        facts.child_files,
        vec![("fixtures".to_string(), true), ("child".to_string(), false)]
    );
}

#[test]
fn a_cycle_is_found_and_named() {
    let edge = |a: &str, b: &str| ((a.to_string(), b.to_string()), ("f.rs".to_string(), 1));
    let edges: Edges = [
        edge("a", "b"),
        edge("b", "c"),
        edge("c", "a"),
        edge("c", "d"),
    ]
    .into_iter()
    .collect();
    assert_eq!(cycles(&edges), vec![vec!["a", "b", "c"]]);
    let text = describe("k", "file", &edges, &BTreeMap::new());
    assert_eq!(text.len(), 1);
    assert!(text[0].contains("a -> b   (f.rs:1)"), "{}", text[0]);
    assert!(!text[0].contains("c -> d"), "{}", text[0]);
}

/// The workspace crates each crate may depend on (normal, dev and build
/// dependencies alike), by package name: the core and the clients at the
/// bottom (the OCI names under both the core and the registry client),
/// the steps and the CLI over them, the frontend (the one binary) on top.
/// The CLI never reaches into the frontend or BuildKit's `llb`; the
/// registry client never learns about models.
const LAYERS: &[(&str, &[&str])] = &[
    ("llb", &[]),
    ("oci-types", &[]),
    ("modelpack", &["oci-types"]),
    ("oci-registry", &["oci-registry", "oci-types"]),
    ("modelpack-hub", &["modelpack"]),
    ("modelpack-steps", &["modelpack", "modelpack-hub"]),
    (
        "modelpack-cli",
        &["modelpack", "modelpack-hub", "oci-registry"],
    ),
    (
        "modelpack-frontend",
        &[
            "llb",
            "oci-types",
            "modelpack",
            "modelpack-hub",
            "modelpack-steps",
            "modelpack-cli",
        ],
    ),
    ("integration", &["llb", "oci-registry"]),
];

/// A manifest's package name and the names of every dependency it lists
/// (`[dependencies]`, `[dev-dependencies]`, `[build-dependencies]`, with or
/// without a target, in table or dotted form).
fn manifest_deps(manifest: &str) -> (String, BTreeSet<String>) {
    let mut package = String::new();
    let mut deps = BTreeSet::new();
    let mut section = String::new();
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if line.starts_with('[') {
            section = line.trim_matches(|c| c == '[' || c == ']').to_string();
            let dotted = ["dependencies.", "dev-dependencies.", "build-dependencies."];
            for d in dotted {
                if let Some(at) = section.find(d) {
                    deps.insert(section[at + d.len()..].trim_matches('"').to_string());
                }
            }
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim().trim_matches('"');
        if section == "package" && key == "name" {
            package = value.trim().trim_matches('"').to_string();
        }
        if section.ends_with("dependencies") {
            deps.insert(key.to_string());
        }
    }
    (package, deps)
}

#[test]
fn crates_depend_only_on_the_layers_below_them() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let members: BTreeMap<String, BTreeSet<String>> = workspace_members(root)
        .iter()
        .map(|m| manifest_deps(&fs::read_to_string(root.join(m).join("Cargo.toml")).unwrap()))
        .collect();
    let layered: BTreeSet<&str> = LAYERS.iter().map(|(p, _)| *p).collect();
    let names: BTreeSet<&str> = members.keys().map(String::as_str).collect();
    assert_eq!(
        names, layered,
        "every workspace crate has its line in LAYERS, and only those"
    );
    let mut wrong = Vec::new();
    for (package, allowed) in LAYERS {
        for dep in &members[*package] {
            if names.contains(dep.as_str()) && !allowed.contains(&dep.as_str()) {
                wrong.push(format!("{package} depends on {dep}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "crates out of their layer (issue 19):\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_cli_the_steps_and_the_hub_client_stay_out_of_the_frontend() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let deps =
        |dir: &str| manifest_deps(&fs::read_to_string(root.join(dir).join("Cargo.toml")).unwrap());
    let (cli, cli_deps) = deps("cli");
    assert_eq!(cli, "modelpack-cli");
    for no in ["modelpack-frontend", "llb"] {
        assert!(!cli_deps.contains(no), "the CLI depends on {no}");
    }
    let (hub, hub_deps) = deps("hub");
    assert_eq!(hub, "modelpack-hub");
    assert!(
        !hub_deps.contains("modelpack-frontend"),
        "the Hub client depends on the frontend"
    );
}

#[test]
fn manifests_are_read_in_every_form() {
    let (name, deps) = manifest_deps(
        r#"
        [package]
        name = "x"
        [dependencies]
        a = { path = "../a" }
        "b" = "1"
        [target.'cfg(unix)'.dependencies]
        c = "1"
        [dev-dependencies.d]
        path = "../d"
        [features]
        e = []
        "#,
    );
    assert_eq!(name, "x");
    assert_eq!(
        deps,
        ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect()
    );
}
