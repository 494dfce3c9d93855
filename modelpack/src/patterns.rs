//! Include/exclude filters with Hugging Face semantics: `fnmatch`, where
//! `*` also crosses `/`, and a trailing `/` means the whole folder.

/// Parsed `include` and `exclude` build args.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PatternList {
    /// Keep only paths matching one of these (all paths when empty).
    pub include: Vec<String>,
    /// Drop paths matching any of these.
    pub exclude: Vec<String>,
}

impl PatternList {
    /// Splits each arg on commas and whitespace; `'…'` or `"…"` quote a
    /// pattern (as AIKit writes them: `"'original/*' 'metal/*'"`).
    pub fn parse(include: &str, exclude: &str) -> Self {
        PatternList {
            include: split(include),
            exclude: split(exclude),
        }
    }

    /// Whether a repo- or context-relative path is kept.
    pub fn keeps(&self, path: &str) -> bool {
        let hit = |p: &String| fnmatch(&normalize(p), path);
        (self.include.is_empty() || self.include.iter().any(hit)) && !self.exclude.iter().any(hit)
    }
}

fn normalize(pattern: &str) -> String {
    let p = pattern.replace('\\', "/");
    if p.ends_with('/') {
        format!("{p}*")
    } else {
        p
    }
}

fn split(arg: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    for c in arg.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == ',' || c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            None => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Python `fnmatch.fnmatchcase`: `*` any run (including `/`), `?` one
/// character, `[seq]`/`[!seq]` a class; everything else literal.
pub fn fnmatch(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ni));
                    pi += 1;
                    continue;
                }
                '?' => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                '[' => {
                    if let Some((matched, next)) = class(&p, pi, n[ni]) {
                        if matched {
                            pi = next;
                            ni += 1;
                            continue;
                        }
                    } else if n[ni] == '[' {
                        pi += 1;
                        ni += 1;
                        continue;
                    }
                }
                c if c == n[ni] => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, sn)) => {
                pi = sp + 1;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Matches `c` against the class starting at `p[start] == '['`; returns the
/// result and the index after `]`, or None when the class is unterminated.
fn class(p: &[char], start: usize, c: char) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = i < p.len() && p[i] == '!';
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    while i < p.len() && (first || p[i] != ']') {
        first = false;
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            matched |= p[i] <= c && c <= p[i + 2];
            i += 3;
        } else {
            matched |= p[i] == c;
            i += 1;
        }
    }
    (i < p.len()).then_some((matched != negate, i + 1))
}

/// Repository bookkeeping that is listed like any file but is not part of
/// a model (`.gitattributes`, `.dockerignore`): skipped unless `include`
/// names it exactly.
pub fn is_bookkeeping(path: &str) -> bool {
    matches!(
        path.rsplit('/').next(),
        Some(".gitattributes") | Some(".dockerignore")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_crosses_slashes_like_python_fnmatch() {
        assert!(fnmatch("data/*.json", "data/x/y.json"));
        assert!(fnmatch("*.safetensors", "sub/model.safetensors"));
        assert!(!fnmatch("*.safetensors", "model.safetensors.index.json"));
        assert!(fnmatch(
            "model-0000?-of-00002.*",
            "model-00001-of-00002.gguf"
        ));
        assert!(fnmatch("[!a]*", "b.bin"));
        assert!(!fnmatch("[!a]*", "a.bin"));
        assert!(fnmatch("v[0-9].txt", "v7.txt"));
        assert!(fnmatch("a[b", "a[b"));
        assert!(!fnmatch("README.md", "readme.md"), "case-sensitive");
    }

    #[test]
    fn splitting_accepts_commas_spaces_and_quotes() {
        let p = PatternList::parse("*.json, *.safetensors", "'original/*' \"metal/*\"");
        assert_eq!(p.include, vec!["*.json", "*.safetensors"]);
        assert_eq!(p.exclude, vec!["original/*", "metal/*"]);
        assert_eq!(PatternList::parse(" , ", ""), PatternList::default());
    }

    #[test]
    fn include_then_exclude_and_trailing_slash_is_a_folder() {
        let p = PatternList::parse("*.json original/", "original/big*");
        assert!(p.keeps("config.json"));
        assert!(p.keeps("original/params.bin"));
        assert!(!p.keeps("original/big.pth"));
        assert!(!p.keeps("model.safetensors"));
        assert!(PatternList::default().keeps("anything/at/all"));
    }
}
