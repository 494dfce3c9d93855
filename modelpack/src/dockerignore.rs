//! `.dockerignore` patterns matched as BuildKit matches them: a
//! reimplementation of moby/patternmatcher (the matcher) as
//! tonistiigi/fsutil's filtered walk drives it (parent results, pruning).
//!
//! A pattern is trimmed and cleaned like Go's `filepath.Clean`; a leading
//! `!` re-includes. It is checked with the syntax of Go's `filepath.Match`
//! and then turned into a Go regular expression, anchored at both ends:
//! `*` is `[^/]*`, `?` is `[^/]`, `**` spans any number of folders, `\`
//! makes the next character a regexp escape (`\[` a bracket, but `\d` a
//! digit), `[` and `]` pass through (so `[^a]` negates), `.+()|{}$` are
//! literal and everything else passes through as is. Patterns without
//! wildcards compare whole paths; `x/**` and `**/x` compare prefixes and
//! suffixes. The Go regexp is translated to the `regex` crate's syntax with
//! Go's meaning (ASCII `\d`, `\s`, `\w`, `\b`; `[` literal inside a class).
//!
//! These are not the `include`/`exclude` build args' patterns
//! ([`crate::patterns`], Python `fnmatch`).

use anyhow::{bail, Result};

/// Go's `filepath.Clean` on a `/`-separated path: `.` and empty components
/// dropped, `..` resolved lexically (kept at the start of a relative path,
/// dropped at the root), `.` for an empty result.
pub fn go_clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => match out.last() {
                Some(&last) if last != ".." => {
                    out.pop();
                }
                _ if rooted => {}
                _ => out.push(".."),
            },
            c => out.push(c),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// How one pattern compares paths (patternmatcher's match types).
#[derive(Debug)]
enum Kind {
    /// The whole path equals the pattern.
    Exact,
    /// `prefix**`: the path starts with the prefix.
    Prefix(String),
    /// `**suffix`: the path ends with the suffix (`**/x` also matches `x`).
    Suffix(String),
    /// Anything else: the translated regexp.
    Regex(regex::Regex),
}

/// One cleaned pattern.
#[derive(Debug)]
struct Pattern {
    cleaned: String,
    exclusion: bool,
    /// The compiled form, or why the Go regexp would not compile (an error
    /// only when the pattern is evaluated, as in BuildKit).
    kind: Result<Kind, String>,
}

impl Pattern {
    fn matches(&self, path: &str) -> Result<bool> {
        match &self.kind {
            Ok(Kind::Exact) => Ok(path == self.cleaned),
            Ok(Kind::Prefix(p)) => Ok(path.starts_with(p.as_str())),
            Ok(Kind::Suffix(s)) => {
                Ok(path.ends_with(s.as_str())
                    || s.strip_prefix('/').is_some_and(|rest| path == rest))
            }
            Ok(Kind::Regex(re)) => Ok(re.is_match(path)),
            Err(e) => bail!(".dockerignore pattern {:?}: {e}", self.cleaned),
        }
    }

    /// The pattern without a trailing `/**` or `/*` (fsutil's
    /// `patternWithoutTrailingGlob`).
    fn without_trailing_glob(&self) -> &str {
        let p = self.cleaned.as_str();
        let p = p.strip_suffix("/**").unwrap_or(p);
        p.strip_suffix("/*").unwrap_or(p)
    }
}

/// Which patterns matched a folder, handed to the paths inside it
/// (patternmatcher's `MatchInfo`); the default means "nothing known".
#[derive(Clone, Debug, Default)]
pub struct MatchInfo(Vec<bool>);

/// A list of `.dockerignore` patterns (exclusions with `!`), in order.
#[derive(Debug, Default)]
pub struct Matcher {
    patterns: Vec<Pattern>,
    exclusions: bool,
    /// fsutil's `onlyPrefixExcludeExceptions`: no `!` pattern holds a
    /// wildcard (before a trailing `/*` or `/**`), so an excluded folder is
    /// entered only when a `!` pattern names something inside it.
    only_prefix_exceptions: bool,
}

impl Matcher {
    /// Compiles `patterns` as patternmatcher's `New` does: trimmed, cleaned,
    /// empty ones skipped; a lone `!` or a pattern that Go's
    /// `filepath.Match` refuses (an unclosed `[`, a trailing `\`) is an error.
    pub fn new(patterns: &[String]) -> Result<Self> {
        let mut out = Vec::new();
        for raw in patterns {
            let p = raw.trim();
            if p.is_empty() {
                continue;
            }
            let p = go_clean(p);
            let (exclusion, p) = match p.strip_prefix('!') {
                Some("") => bail!(".dockerignore: illegal exclusion pattern \"!\""),
                Some(rest) => (true, rest.to_string()),
                None => (false, p),
            };
            if let Err(e) = check_go_glob(&p) {
                bail!(".dockerignore pattern {raw:?}: {e} (syntax error in pattern)");
            }
            let kind = compile(&p);
            out.push(Pattern {
                cleaned: p,
                exclusion,
                kind,
            });
        }
        let only_prefix_exceptions = !out.iter().any(|p| {
            p.exclusion
                && p.without_trailing_glob()
                    .contains(['*', '[', ']', '?', '^', '\\'])
        });
        Ok(Matcher {
            exclusions: out.iter().any(|p| p.exclusion),
            patterns: out,
            only_prefix_exceptions,
        })
    }

    /// Whether some pattern starts with `!`.
    pub fn has_exclusions(&self) -> bool {
        self.exclusions
    }

    /// Whether the `/`-separated relative `path` is excluded, given what
    /// matched its folder (patternmatcher's `MatchesUsingParentResults`):
    /// patterns apply in order, the last one that matches wins, a pattern
    /// that matched the folder matches everything in it, and a pattern that
    /// cannot change the result is not evaluated. Returns the info to hand
    /// to the paths inside `path` when it is a folder.
    pub fn matches(&self, path: &str, parent: &MatchInfo) -> Result<(bool, MatchInfo)> {
        let mut matched = false;
        let mut info = vec![false; self.patterns.len()];
        for (i, pattern) in self.patterns.iter().enumerate() {
            let mut hit = parent.0.get(i).copied().unwrap_or(false);
            if !hit {
                if pattern.exclusion != matched {
                    continue;
                }
                hit = pattern.matches(path)?;
                if !hit && parent.0.is_empty() {
                    // Nothing known of the folders: try each of them.
                    let mut dir = String::new();
                    let parts: Vec<&str> = path.split('/').collect();
                    for part in &parts[..parts.len() - 1] {
                        if !dir.is_empty() {
                            dir.push('/');
                        }
                        dir.push_str(part);
                        if pattern.matches(&dir)? {
                            hit = true;
                            break;
                        }
                    }
                }
            }
            info[i] = hit;
            if hit {
                matched = !pattern.exclusion;
            }
        }
        Ok((matched, MatchInfo(info)))
    }

    /// Whether the walk enters the excluded folder `dir` (fsutil): always
    /// when a `!` pattern has wildcards; otherwise only when a `!` pattern
    /// names a path inside `dir`.
    pub fn enters_excluded(&self, dir: &str) -> bool {
        if !self.only_prefix_exceptions {
            return true;
        }
        let dir_slash = format!("{dir}/");
        self.patterns.iter().any(|p| {
            p.exclusion && format!("{}/", p.without_trailing_glob()).starts_with(&dir_slash)
        })
    }
}

/// patternmatcher's `compile`: the match type, and for a regexp its Go
/// source translated to the `regex` crate.
fn compile(pattern: &str) -> Result<Kind, String> {
    #[derive(PartialEq)]
    enum T {
        Exact,
        Prefix,
        Suffix,
        Regex,
    }
    let chars: Vec<char> = pattern.chars().collect();
    let mut go = String::from("^");
    let mut t = T::Exact;
    let mut at = 0;
    let mut first = true;
    while at < chars.len() {
        let ch = chars[at];
        at += 1;
        match ch {
            '*' if chars.get(at) == Some(&'*') => {
                at += 1;
                if chars.get(at) == Some(&'/') {
                    at += 1;
                }
                if at == chars.len() {
                    if t == T::Exact {
                        t = T::Prefix;
                    } else {
                        go.push_str(".*");
                        t = T::Regex;
                    }
                } else {
                    go.push_str("(.*/)?");
                    t = T::Regex;
                }
                if first {
                    t = T::Suffix;
                }
            }
            '*' => {
                go.push_str("[^/]*");
                t = T::Regex;
            }
            '?' => {
                go.push_str("[^/]");
                t = T::Regex;
            }
            '.' | '+' | '(' | ')' | '|' | '{' | '}' | '$' => {
                go.push('\\');
                go.push(ch);
            }
            '\\' => match chars.get(at) {
                Some(&next) => {
                    at += 1;
                    go.push('\\');
                    go.push(next);
                    t = T::Regex;
                }
                None => go.push('\\'),
            },
            '[' | ']' => {
                go.push(ch);
                t = T::Regex;
            }
            _ => go.push(ch),
        }
        first = false;
    }
    match t {
        T::Exact => Ok(Kind::Exact),
        T::Prefix => Ok(Kind::Prefix(pattern[..pattern.len() - 2].to_string())),
        T::Suffix => Ok(Kind::Suffix(pattern[2..].to_string())),
        T::Regex => {
            go.push('$');
            let rust = go_regex_to_rust(&go)?;
            regex::Regex::new(&rust)
                .map(Kind::Regex)
                .map_err(|e| format!("regexp {go:?}: {e}"))
        }
    }
}

/// Checks `pattern` with the syntax of Go's `filepath.Match` (Unix): a
/// class is `[`, an optional `^`, one or more characters or ranges (`-`
/// and `]` only escaped), then `]`; `\` escapes the next character and
/// cannot end the pattern.
pub fn check_go_glob(pattern: &str) -> Result<(), &'static str> {
    let c: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    // One class character, as Go's getEsc reads it.
    let esc = |i: &mut usize| -> Result<(), &'static str> {
        match c.get(*i) {
            None | Some('-') | Some(']') => return Err("bad class character"),
            Some('\\') => {
                *i += 1;
                if *i >= c.len() {
                    return Err("trailing backslash in a class");
                }
            }
            _ => {}
        }
        *i += 1;
        if *i >= c.len() {
            return Err("unclosed class");
        }
        Ok(())
    };
    while i < c.len() {
        match c[i] {
            '[' => {
                i += 1;
                if c.get(i) == Some(&'^') {
                    i += 1;
                }
                let mut ranges = 0;
                loop {
                    if c.get(i) == Some(&']') && ranges > 0 {
                        i += 1;
                        break;
                    }
                    esc(&mut i)?;
                    if c[i] == '-' {
                        i += 1;
                        esc(&mut i)?;
                    }
                    ranges += 1;
                }
            }
            '\\' => {
                i += 2;
                if i > c.len() {
                    return Err("trailing backslash");
                }
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// The POSIX classes Go's regexp knows (`[:alpha:]`, `[:^alpha:]`, …);
/// the `regex` crate knows the same names with the same ASCII meaning.
const POSIX: &[&str] = &[
    "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print", "punct",
    "space", "upper", "word", "xdigit",
];

/// Translates the Go (RE2, Perl flags) regexp `go`, as patternmatcher
/// builds it, to the `regex` crate's syntax with the same meaning.
fn go_regex_to_rust(go: &str) -> Result<String, String> {
    let c: Vec<char> = go.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < c.len() {
        match c[i] {
            '\\' => {
                let next = *c.get(i + 1).ok_or("trailing backslash")?;
                match next {
                    'A' => out.push_str(r"\A"),
                    'z' => out.push_str(r"\z"),
                    'b' => out.push_str(r"(?-u:\b)"),
                    'B' => out.push_str(r"(?-u:\B)"),
                    'Q' => {
                        // Literal text up to \E or the end.
                        let mut j = i + 2;
                        while j < c.len() && !(c[j] == '\\' && c.get(j + 1) == Some(&'E')) {
                            out.push_str(&regex::escape(&c[j].to_string()));
                            j += 1;
                        }
                        i = (j + 2).min(c.len());
                        continue;
                    }
                    _ => {
                        i = escape(&c, i, &mut out)?;
                        continue;
                    }
                }
                i += 2;
            }
            '[' => i = class(&c, i, &mut out)?,
            // The operators patternmatcher emits or passes through.
            ch @ ('^' | '$' | '*' | '?' | '(' | ')' | '.' | '|') => {
                out.push(ch);
                i += 1;
            }
            ch => {
                out.push_str(&regex::escape(&ch.to_string()));
                i += 1;
            }
        }
    }
    Ok(out)
}

/// A Go escape at `c[i] == '\\'` that is valid in and out of classes (a
/// Perl or Unicode class, or one character); appends its `regex` form and
/// returns the index after it.
fn escape(c: &[char], i: usize, out: &mut String) -> Result<usize, String> {
    let e = *c.get(i + 1).ok_or("trailing backslash")?;
    let perl = match e {
        'd' => Some("[0-9]"),
        'D' => Some("[^0-9]"),
        's' => Some("[\\t\\n\\x0C\\r ]"),
        'S' => Some("[^\\t\\n\\x0C\\r ]"),
        'w' => Some("[0-9A-Za-z_]"),
        'W' => Some("[^0-9A-Za-z_]"),
        _ => None,
    };
    if let Some(p) = perl {
        out.push_str(p);
        return Ok(i + 2);
    }
    if e == 'p' || e == 'P' {
        let mut j = i + 2;
        match c.get(j) {
            Some('{') => {
                while j < c.len() && c[j] != '}' {
                    j += 1;
                }
                if j == c.len() {
                    return Err("unclosed \\p{".into());
                }
                j += 1;
            }
            Some(_) => j += 1,
            None => return Err("\\p without a class".into()),
        }
        out.extend(&c[i..j]);
        return Ok(j);
    }
    let (ch, next) = char_escape(c, i)?;
    out.push_str(&regex::escape(&ch.to_string()));
    Ok(next)
}

/// Go's `parseEscape`: the one character an escape at `c[i]` stands for.
fn char_escape(c: &[char], i: usize) -> Result<(char, usize), String> {
    let e = *c.get(i + 1).ok_or("trailing backslash")?;
    let octal = |k: usize| c.get(k).is_some_and(|d| ('0'..='7').contains(d));
    let ch = match e {
        e if e.is_ascii() && !e.is_ascii_alphanumeric() => e,
        '1'..='7' if !octal(i + 2) => return Err(format!("invalid escape \\{e}")),
        '0'..='7' => {
            let mut v = e as u32 - '0' as u32;
            let mut j = i + 2;
            while j < i + 4 && octal(j) {
                v = v * 8 + (c[j] as u32 - '0' as u32);
                j += 1;
            }
            return Ok((char::from_u32(v).ok_or("invalid octal escape")?, j));
        }
        'x' => {
            let (digits, next): (String, usize) = if c.get(i + 2) == Some(&'{') {
                let end = (i + 3..c.len())
                    .find(|&k| c[k] == '}')
                    .ok_or("unclosed \\x{")?;
                (c[i + 3..end].iter().collect(), end + 1)
            } else {
                if i + 4 > c.len() {
                    return Err("short \\x escape".into());
                }
                (c[i + 2..i + 4].iter().collect(), i + 4)
            };
            let v = u32::from_str_radix(&digits, 16)
                .ok()
                .filter(|_| !digits.is_empty() && digits.chars().all(|d| d.is_ascii_hexdigit()))
                .and_then(char::from_u32)
                .ok_or_else(|| format!("invalid escape \\x{digits}"))?;
            return Ok((v, next));
        }
        'a' => '\x07',
        'f' => '\x0C',
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'v' => '\x0B',
        e => return Err(format!("invalid escape \\{e}")),
    };
    Ok((ch, i + 2))
}

/// A Go class at `c[i] == '['` (`[` literal inside, `[:name:]` POSIX,
/// escapes, ranges); appends a `regex` class of the same characters and
/// returns the index after its `]`.
fn class(c: &[char], i: usize, out: &mut String) -> Result<usize, String> {
    let mut j = i + 1;
    out.push('[');
    if c.get(j) == Some(&'^') {
        out.push('^');
        j += 1;
    }
    let mut first = true;
    loop {
        match c.get(j) {
            None => return Err("missing closing ]".into()),
            Some(']') if !first => break,
            _ => {}
        }
        first = false;
        if c[j] == '[' && c.get(j + 1) == Some(&':') {
            let rest: String = c[j + 2..].iter().collect();
            if let Some(end) = rest.find(":]") {
                let name = &rest[..end];
                if !POSIX.contains(&name.trim_start_matches('^')) {
                    return Err(format!("invalid character class [:{name}:]"));
                }
                out.push_str(&format!("[:{name}:]"));
                j += 2 + name.chars().count() + 2;
                continue;
            }
        }
        if c[j] == '\\'
            && matches!(
                c.get(j + 1),
                Some('d' | 'D' | 's' | 'S' | 'w' | 'W' | 'p' | 'P')
            )
        {
            j = escape(c, j, out)?;
            continue;
        }
        let (lo, next) = class_char(c, j)?;
        j = next;
        let mut hi = lo;
        if c.get(j) == Some(&'-') && c.get(j + 1).is_some_and(|&n| n != ']') {
            let (h, next) = class_char(c, j + 1)?;
            hi = h;
            j = next;
            if hi < lo {
                return Err("invalid character class range".into());
            }
        }
        out.push_str(&regex::escape(&lo.to_string()));
        if hi != lo {
            out.push('-');
            out.push_str(&regex::escape(&hi.to_string()));
        }
    }
    out.push(']');
    Ok(j + 1)
}

/// One character of a class (Go's `parseClassChar`).
fn class_char(c: &[char], j: usize) -> Result<(char, usize), String> {
    match c.get(j) {
        None => Err("missing closing ]".into()),
        Some('\\') => char_escape(c, j),
        Some(&ch) => Ok((ch, j + 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `path` is excluded by the `.dockerignore` lines `patterns`,
    /// walking its folders first as fsutil does (a folder pruned on the
    /// way excludes the path too).
    fn excluded(patterns: &[&str], path: &str) -> bool {
        let lines = crate::context::parse_dockerignore(&patterns.join("\n"));
        let m = Matcher::new(&lines).unwrap();
        let parts: Vec<&str> = path.split('/').collect();
        let mut info = MatchInfo::default();
        for n in 1..parts.len() {
            let dir = parts[..n].join("/");
            let (hit, next) = m.matches(&dir, &info).unwrap();
            if hit && !m.enters_excluded(&dir) {
                return true;
            }
            info = next;
        }
        m.matches(path, &info).unwrap().0
    }

    #[test]
    fn go_clean_cases() {
        for (input, want) in [
            ("", "."),
            (".", "."),
            ("./a/", "a"),
            ("a//b/./c", "a/b/c"),
            ("a/../../b", "../b"),
            ("/../a", "/a"),
            ("/", "/"),
            ("!a/../b", "b"),
            ("x\\[1\\].bin", "x\\[1\\].bin"),
        ] {
            assert_eq!(go_clean(input), want, "{input:?}");
        }
    }

    #[test]
    fn the_issue_example() {
        let p = ["[^a]*.tmp", "x\\[1\\].bin"];
        assert!(!excluded(&p, "a.tmp"));
        assert!(!excluded(&p, "ab.tmp"));
        assert!(excluded(&p, "b.tmp"));
        assert!(excluded(&p, "c.tmp"));
        assert!(excluded(&p, "x[1].bin"));
        assert!(!excluded(&p, "x1.bin"));
    }

    #[test]
    fn table_from_patternmatcher_semantics() {
        // (patterns, path, excluded)
        let table: &[(&[&str], &str, bool)] = &[
            (&["*.tmp"], "a.tmp", true),
            (&["*.tmp"], "d/a.tmp", false),
            (&["*/*.tmp"], "d/a.tmp", true),
            (&["**/*.tmp"], "d/e/a.tmp", true),
            (&["**/*.tmp"], "a.tmp", true),
            (&["**"], "anything/at/all", true),
            (&["**/cache"], "cache", true),
            (&["**/cache"], "a/b/cache/f", true),
            (&["**cache"], "xcache", true),
            (&["logs/**"], "logs/a/b", true),
            (&["logs/**"], "logs2", false),
            (&["a/**/b"], "a/b", true),
            (&["a/**/b"], "a/x/y/b", true),
            (&["a/**/b"], "a/xb", false),
            (&["?.bin"], "a.bin", true),
            (&["?.bin"], "ab.bin", false),
            (&["[a-c].bin"], "b.bin", true),
            (&["[a-c].bin"], "d.bin", false),
            (&["[^a-c].bin"], "d.bin", true),
            (&["[^a-c].bin"], "a.bin", false),
            (&["[!a].bin"], "!.bin", true),
            (&["[!a].bin"], "b.bin", false),
            (&["\\*.bin"], "*.bin", true),
            (&["\\*.bin"], "a.bin", false),
            (&["a\\?"], "a?", true),
            (&["a\\?"], "ab", false),
            (&["\\d.bin"], "7.bin", true),
            (&["\\d.bin"], "d.bin", false),
            (&["/big.bin"], "big.bin", true),
            (&["./dir/../big.bin"], "big.bin", true),
            (&["dir/"], "dir/f", true),
            (&["dir"], "dir/sub/f", true),
            (&["a.b"], "axb", false),
            (&["a+b"], "a+b", true),
            (&["a^b"], "a^b", true),
            (&["a^*"], "a^b", false),
            (&["(x)"], "(x)", true),
            (&["*.tmp", "!keep.tmp"], "keep.tmp", false),
            (&["*.tmp", "!keep.tmp", "*"], "keep.tmp", true),
            (&["dir", "!dir/keep"], "dir/keep", false),
            (&["dir", "!dir/keep"], "dir/other", true),
            (&["dir", "!dir/keep"], "dir/keep/deep", false),
            (&["dir", "!dir/*.txt"], "dir/a.txt", false),
            (&["dir", "!dir/*.txt"], "dir/a.bin", true),
            (&["dir", "!**/keep"], "dir/sub/keep", false),
            (&["dir/*", "!dir"], "dir/f", true),
            // `[*]` is the Go regexp `[[^/]*]`: a class of `[`, `^` and
            // `/` repeated, then `]`.
            (&["[*]"], "]", true),
            (&["[*]"], "*", false),
            (&["[a*]"], "a[^]", true),
            (&["[[:digit:]]x"], "5x", true),
            (&["[[:digit:]]x"], "ax", false),
            (&["[[]x"], "[x", true),
            (&["*\\.bin"], "a.bin", true),
            (&["a b"], "a b", true),
            (&["café/*"], "café/x", true),
            (&["caf?"], "café", true),
        ];
        for (patterns, path, want) in table {
            assert_eq!(
                excluded(patterns, path),
                *want,
                "patterns {patterns:?} on {path:?}"
            );
        }
    }

    #[test]
    fn excluded_folders_are_entered_only_when_a_negation_may_reach_inside() {
        let m = Matcher::new(&["dir".into(), "!dir/keep".into()]).unwrap();
        assert!(m.enters_excluded("dir"));
        assert!(!m.enters_excluded("other"));
        let m = Matcher::new(&["dir".into()]).unwrap();
        assert!(!m.enters_excluded("dir"));
        let m = Matcher::new(&["dir".into(), "!*/keep".into()]).unwrap();
        assert!(m.enters_excluded("dir"), "a wildcard negation enters all");
    }

    #[test]
    fn bad_patterns_are_errors() {
        for p in ["[", "a[b", "[]a]", "[a-]", "a\\", "[^]", "!"] {
            assert!(Matcher::new(&[p.to_string()]).is_err(), "{p:?}");
        }
        for p in ["]", "a]b", "[a-c]", "[\\]]", "x\\[1\\].bin"] {
            Matcher::new(&[p.to_string()]).unwrap_or_else(|e| panic!("{p:?}: {e}"));
        }
        // Valid for filepath.Match, not for Go's regexp: fails when used.
        let m = Matcher::new(&["\\e".into()]).unwrap();
        assert!(m.matches("e", &MatchInfo::default()).is_err());
    }
}
