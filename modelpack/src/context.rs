//! A local directory as a source, the pure parts shared by the frontend's
//! build context and the command line's `pack`: the default excludes, the
//! `.dockerignore` grammar and matcher (BuildKit's semantics), and the
//! selection of model files from a listing.

use anyhow::{bail, Result};

use crate::listing::Listing;
use crate::patterns::is_bookkeeping;
use crate::patterns::PatternList;
use crate::plan::{Origin, PlanFile};

/// Never taken from a directory source: version-control and download-cache
/// folders, which are not part of a model.
pub const DEFAULT_EXCLUDES: &[&str] = &[".git", ".cache/huggingface"];

/// The ignore file of a directory source, as BuildKit's Dockerfile
/// frontend honours it.
pub const DOCKERIGNORE: &str = ".dockerignore";

/// Patterns of a `.dockerignore` file: one per line, `#` comments and blank
/// lines skipped, a leading `/` dropped.
pub fn parse_dockerignore(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.strip_prefix('!') {
            Some(rest) => format!("!{}", rest.trim_start_matches('/')),
            None => l.trim_start_matches('/').to_string(),
        })
        .filter(|l| !l.is_empty() && l != "!")
        .collect()
}

/// Exclude patterns with `.dockerignore` semantics, as BuildKit applies
/// them to a local source: `*` and `?` stay within one path component,
/// `**` spans any number of them, a pattern that matches a folder excludes
/// everything in it, `!pattern` re-includes, and the last match wins.
#[derive(Clone, Debug, Default)]
pub struct Excludes {
    patterns: Vec<(bool, Vec<String>)>,
}

impl Excludes {
    /// [`DEFAULT_EXCLUDES`] followed by `ignore` (a `.dockerignore`'s
    /// patterns), in the order the frontend hands them to BuildKit.
    pub fn for_directory(ignore: &[String]) -> Self {
        let all = DEFAULT_EXCLUDES
            .iter()
            .map(|s| s.to_string())
            .chain(ignore.iter().cloned());
        Excludes {
            patterns: all
                .map(|p| {
                    let (negated, p) = match p.strip_prefix('!') {
                        Some(rest) => (true, rest.to_string()),
                        None => (false, p),
                    };
                    (negated, clean(&p))
                })
                .filter(|(_, parts)| !parts.is_empty())
                .collect(),
        }
    }

    /// Whether some pattern re-includes (then no folder may be pruned).
    pub fn has_negations(&self) -> bool {
        self.patterns.iter().any(|(neg, _)| *neg)
    }

    /// Whether the `/`-separated relative `path` is excluded.
    pub fn excludes(&self, path: &str) -> bool {
        let parts: Vec<&str> = path
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .collect();
        let mut excluded = false;
        for (negated, pattern) in &self.patterns {
            // The path itself or any of its parent folders.
            let hit = (1..=parts.len()).any(|n| glob_parts(pattern, &parts[..n]));
            if hit {
                excluded = !negated;
            }
        }
        excluded
    }
}

/// A pattern cleaned like Go's `filepath.Clean`, split into components.
fn clean(pattern: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in pattern.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c.to_string()),
        }
    }
    out
}

/// Matches pattern components against path components; `**` spans any
/// number of components (including none).
fn glob_parts(pattern: &[String], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((first, rest)) if first == "**" => {
            (0..=path.len()).any(|skip| glob_parts(rest, &path[skip..]))
        }
        Some((first, rest)) => match path.split_first() {
            Some((p, path_rest)) => {
                crate::patterns::fnmatch(first, p) && glob_parts(rest, path_rest)
            }
            None => false,
        },
    }
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// The directory that model paths are relative to: the named directory,
/// the parent of a named file, or the part of a glob before any wildcard.
fn base_dir(path: Option<&str>, listing: &Listing) -> String {
    let Some(p) = path else { return String::new() };
    if has_glob(p) {
        let fixed: Vec<&str> = p.split('/').take_while(|c| !has_glob(c)).collect();
        return fixed.join("/");
    }
    if listing.files.iter().any(|f| f.path == p) {
        return p
            .rsplit_once('/')
            .map(|(d, _)| d.to_string())
            .unwrap_or_default();
    }
    p.to_string()
}

/// Which front door asks, so errors name what the person typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Door {
    /// The BuildKit frontend: build args and the build context.
    Frontend,
    /// The command line: `pack SOURCE --include … --exclude …`.
    Cli,
}

/// Turns the listing of a directory source (or of `path` inside it) into
/// model files (origin source 0), filtered by `patterns`; bookkeeping
/// files (`.gitattributes`, `.dockerignore`) only when included by name.
pub fn files(
    path: Option<&str>,
    listing: Listing,
    patterns: &PatternList,
    door: Door,
) -> Result<Vec<PlanFile>> {
    let base = base_dir(path, &listing);
    let prefix = if base.is_empty() {
        String::new()
    } else {
        format!("{base}/")
    };
    let mut out = Vec::new();
    let mut matched = 0usize;
    for f in listing.files {
        let Some(rel) = f.path.strip_prefix(&prefix) else {
            continue;
        };
        matched += 1;
        if !patterns.keeps(rel)
            || (is_bookkeeping(rel) && !patterns.include.iter().any(|p| p == rel))
        {
            continue;
        }
        out.push(PlanFile {
            path: rel.to_string(),
            size: f.size,
            digest: f.digest,
            executable: f.executable,
            origin: Origin {
                source: 0,
                path: format!("/{}", f.path),
            },
            packed: None,
        });
    }
    if matched == 0 {
        match path {
            Some(p) => bail!(
                "build-arg source: nothing in the build context matches {p:?}; paths are relative to the build context (the directory passed to docker buildx build)"
            ),
            None if door == Door::Frontend => {
                bail!("build-arg source: the build context is empty; pass the model directory as the build context")
            }
            None => bail!("SOURCE: the directory has no file to package (after .dockerignore); pass the model directory"),
        }
    }
    if out.is_empty() {
        let what = if door == Door::Frontend {
            "build-args include/exclude"
        } else {
            "--include/--exclude"
        };
        bail!("{what} left no file to package out of {matched}; check the patterns");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::ScannedFile;

    fn listing(paths: &[&str]) -> Listing {
        Listing {
            files: paths
                .iter()
                .map(|p| ScannedFile {
                    path: p.to_string(),
                    size: 1,
                    digest: "sha256:00".into(),
                    executable: false,
                    git_sha1: None,
                })
                .collect(),
        }
    }

    fn model_paths(path: Option<&str>, paths: &[&str]) -> Vec<String> {
        files(
            path,
            listing(paths),
            &PatternList::default(),
            Door::Frontend,
        )
        .unwrap()
        .into_iter()
        .map(|f| f.path)
        .collect()
    }

    #[test]
    fn paths_are_relative_to_the_named_directory_or_file() {
        assert_eq!(
            model_paths(None, &["a.json", "d/b.bin"]),
            ["a.json", "d/b.bin"]
        );
        assert_eq!(
            model_paths(
                Some("models/tiny"),
                &["models/tiny/a.json", "models/tiny/x/b.bin"]
            ),
            ["a.json", "x/b.bin"]
        );
        assert_eq!(
            model_paths(Some("models/m.gguf"), &["models/m.gguf"]),
            ["m.gguf"]
        );
        assert_eq!(
            model_paths(Some("models/*.gguf"), &["models/a.gguf", "models/b.gguf"]),
            ["a.gguf", "b.gguf"]
        );
    }

    #[test]
    fn origins_keep_the_context_path() {
        let f = files(
            Some("m"),
            listing(&["m/a.json"]),
            &PatternList::default(),
            Door::Frontend,
        )
        .unwrap();
        assert_eq!(
            f[0].origin,
            Origin {
                source: 0,
                path: "/m/a.json".into()
            }
        );
    }

    #[test]
    fn a_path_that_matches_nothing_names_the_arg() {
        let err = files(
            Some("nope"),
            listing(&[]),
            &PatternList::default(),
            Door::Frontend,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("build-arg source: nothing in the build context matches \"nope\""),
            "{err}"
        );
    }

    #[test]
    fn dockerignore_lines() {
        let text = "# comment\n\n/big.bin\n*.tmp\n!keep.tmp\n  spaced/  \n!\n";
        assert_eq!(
            parse_dockerignore(text),
            ["big.bin", "*.tmp", "!keep.tmp", "spaced/"]
        );
    }

    #[test]
    fn gitattributes_is_skipped_unless_included_by_name() {
        let none = PatternList::default();
        let f = files(
            None,
            listing(&[".gitattributes", "a.json"]),
            &none,
            Door::Frontend,
        )
        .unwrap();
        assert_eq!(f.len(), 1);
        let p = PatternList::parse(".gitattributes a.json", "");
        assert_eq!(
            files(
                None,
                listing(&[".gitattributes", "a.json"]),
                &p,
                Door::Frontend
            )
            .unwrap()
            .len(),
            2
        );
    }

    #[test]
    fn patterns_filter_model_paths() {
        let p = PatternList::parse("*.json", "");
        let f = files(None, listing(&["a.json", "b.bin"]), &p, Door::Frontend).unwrap();
        assert_eq!(f.len(), 1);
        assert!(files(None, listing(&["b.bin"]), &p, Door::Frontend).is_err());
    }

    #[test]
    fn excludes_follow_dockerignore_semantics() {
        let ignore = parse_dockerignore("*.tmp\nlogs/\n**/cache\n!logs/keep.txt\n");
        let ex = Excludes::for_directory(&ignore);
        assert!(ex.excludes(".git/config"), "default exclude");
        assert!(ex.excludes(".cache/huggingface/x"), "default exclude");
        assert!(!ex.excludes("sub/.git-notes"));
        assert!(ex.excludes("a.tmp"));
        assert!(!ex.excludes("sub/a.tmp"), "* stays in one component");
        assert!(ex.excludes("logs/x.txt"), "a folder excludes its files");
        assert!(!ex.excludes("logs/keep.txt"), "last match wins");
        assert!(ex.excludes("a/b/cache/f"), "** spans folders");
        assert!(!ex.excludes("model.safetensors"));
        assert!(ex.has_negations());
    }
}
