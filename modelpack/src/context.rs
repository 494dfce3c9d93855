//! A local directory as a source, the pure parts shared by the frontend's
//! build context and the command line's `pack`: the default excludes, the
//! `.dockerignore` grammar and matcher (BuildKit's semantics), and the
//! selection of model files from a listing.

use anyhow::{bail, Result};

use crate::listing::Listing;
use crate::patterns::is_bookkeeping;
use crate::patterns::PatternList;
use crate::plan::{Origin, PlanFile};
use crate::setting::Setting;

/// Never taken from a directory source: version-control and download-cache
/// folders, which are not part of a model.
pub const DEFAULT_EXCLUDES: &[&str] = &[".git", ".cache/huggingface"];

/// The ignore file of a directory source, as BuildKit's Dockerfile
/// frontend honours it.
pub const DOCKERIGNORE: &str = ".dockerignore";

/// Patterns of a `.dockerignore` file, read as BuildKit's `ignorefile`
/// reads them: a UTF-8 byte order mark dropped, lines starting with `#`
/// skipped, each line trimmed, blank ones skipped, the rest (after a `!`)
/// cleaned like Go's `filepath.Clean` without a leading `/`; a lone `!`
/// is dropped.
pub fn parse_dockerignore(text: &str) -> Vec<String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (bang, rest) = match l.strip_prefix('!') {
                Some(rest) => ("!", rest.trim()),
                None => ("", l),
            };
            if rest.is_empty() {
                return bang.to_string();
            }
            let cleaned = crate::dockerignore::go_clean(rest);
            let cleaned = match cleaned.strip_prefix('/') {
                Some(r) if !r.is_empty() => r.to_string(),
                _ => cleaned,
            };
            format!("{bang}{cleaned}")
        })
        .filter(|l| l != "!")
        .collect()
}

/// Exclude patterns with `.dockerignore` semantics, as BuildKit applies
/// them to a local source ([`crate::dockerignore`]): `*` and `?` stay
/// within one path component, `**` spans any number of them, `[...]` and
/// `[^...]` are classes, `\` escapes, a pattern that matches a folder
/// excludes everything in it, `!pattern` re-includes, the last match wins.
#[derive(Debug, Default)]
pub struct Excludes {
    matcher: crate::dockerignore::Matcher,
}

/// What matched a folder, handed to [`Excludes::check`] for its entries.
pub type ParentMatch = crate::dockerignore::MatchInfo;

impl Excludes {
    /// [`DEFAULT_EXCLUDES`] followed by `ignore` (a `.dockerignore`'s
    /// patterns), in the order the frontend hands them to BuildKit; an
    /// error for a pattern BuildKit refuses.
    pub fn for_directory(ignore: &[String]) -> Result<Self> {
        let all: Vec<String> = DEFAULT_EXCLUDES
            .iter()
            .map(|s| s.to_string())
            .chain(ignore.iter().cloned())
            .collect();
        Ok(Excludes {
            matcher: crate::dockerignore::Matcher::new(&all)?,
        })
    }

    /// Whether the relative `path` (a file or folder) is excluded, given
    /// what matched its folder ([`ParentMatch::default`] at the top); also
    /// returns what to hand to its entries.
    pub fn check(&self, path: &str, parent: &ParentMatch) -> Result<(bool, ParentMatch)> {
        self.matcher.matches(path, parent)
    }

    /// Whether the walk enters `dir`, which [`Excludes::check`] excluded:
    /// only when a `!` pattern may re-include something inside it, as
    /// BuildKit decides.
    pub fn enters_excluded(&self, dir: &str) -> bool {
        self.matcher.has_exclusions() && self.matcher.enters_excluded(dir)
    }

    /// Whether the `/`-separated relative `path` is excluded, its folders
    /// checked from the top as the walk does.
    pub fn excludes(&self, path: &str) -> Result<bool> {
        let parts: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
        let mut parent = ParentMatch::default();
        for n in 1..=parts.len() {
            let (hit, info) = self.check(&parts[..n].join("/"), &parent)?;
            if n == parts.len() || (hit && !self.enters_excluded(&parts[..n].join("/"))) {
                return Ok(hit);
            }
            parent = info;
        }
        Ok(false)
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

pub use crate::setting::Door;

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
        let what = door.name(Setting::Patterns);
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
        let text = "\u{feff}# comment\n\n/big.bin\n*.tmp\r\n!keep.tmp\n  spaced/  \n!\n  # not a comment\n! /a/../b\n//c\n/\n";
        assert_eq!(
            parse_dockerignore(text),
            [
                "big.bin",
                "*.tmp",
                "!keep.tmp",
                "spaced",
                "# not a comment",
                "!b",
                "c",
                "/"
            ]
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
        let ex = Excludes::for_directory(&ignore).unwrap();
        let ex = |p: &str| ex.excludes(p).unwrap();
        assert!(ex(".git/config"), "default exclude");
        assert!(ex(".cache/huggingface/x"), "default exclude");
        assert!(!ex("sub/.git-notes"));
        assert!(ex("a.tmp"));
        assert!(!ex("sub/a.tmp"), "* stays in one component");
        assert!(ex("logs/x.txt"), "a folder excludes its files");
        assert!(!ex("logs/keep.txt"), "last match wins");
        assert!(ex("a/b/cache/f"), "** spans folders");
        assert!(!ex("model.safetensors"));
    }

    #[test]
    fn excludes_follow_buildkit_not_fnmatch() {
        // Issue 19: BuildKit keeps a.tmp and ab.tmp, drops x[1].bin.
        let ignore = parse_dockerignore("[^a]*.tmp\nx\\[1\\].bin\n");
        let ex = Excludes::for_directory(&ignore).unwrap();
        let kept: Vec<&str> = ["a.tmp", "ab.tmp", "b.tmp", "c.tmp", "x[1].bin"]
            .into_iter()
            .filter(|p| !ex.excludes(p).unwrap())
            .collect();
        assert_eq!(kept, ["a.tmp", "ab.tmp"]);
        assert!(Excludes::for_directory(&["a[".to_string()]).is_err());
    }
}
