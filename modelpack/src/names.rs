//! Checks on names: the reference name a layout is tagged with
//! ([`validate_name`]), and file names a remote lists (the Hub's siblings): names that
//! are distinct byte strings but the same file on common file systems
//! (case-insensitive macOS/Windows volumes, Unicode-normalising macOS),
//! and names or depths no file system takes. A layout holding both
//! `README.md` and `readme.md`, or an NFC and an NFD `café.md`, unpacks to
//! something other than the repo on those systems, so such listings are
//! refused with both names.

use std::collections::BTreeMap;

use anyhow::{bail, Result};

use crate::setting::SettingError;

/// Longest path accepted, in bytes (Linux `PATH_MAX` is 4096 with the
/// destination prefix; a repo path this long is hostile, not a model).
pub const MAX_PATH_BYTES: usize = 1024;
/// Longest path component, in bytes (`NAME_MAX` of ext4, xfs, btrfs).
pub const MAX_COMPONENT_BYTES: usize = 255;
/// Deepest path accepted, in components.
pub const MAX_DEPTH: usize = 32;

/// The name with case and Unicode normalisation folded away: two names
/// with the same key are one file on a case-insensitive or normalising file
/// system. The key is the NFC form of the lowercased NFC form, so canonical
/// equivalents (an NFC and an NFD `café.md`) and case variants (`README.md`,
/// `readme.md`) share a key, while different letters (`café.md` and
/// `cafe.md`, distinct files everywhere) do not.
///
/// Normalisation is ICU4X's `icu_normalizer` (the Unicode Consortium's
/// implementation, with its compiled Unicode data): it is already in the
/// build through `url` and `idna`, at the same version, whereas
/// `unicode-normalization` would be one more dependency.
pub fn collision_key(name: &str) -> String {
    let nfc = icu_normalizer::ComposingNormalizerBorrowed::new_nfc();
    nfc.normalize(&nfc.normalize(name).to_lowercase())
        .into_owned()
}

/// Refuses a path longer than [`MAX_PATH_BYTES`], with a component over
/// [`MAX_COMPONENT_BYTES`], or deeper than [`MAX_DEPTH`].
pub fn check_length(path: &str) -> Result<()> {
    let shown: String = path.chars().take(80).collect();
    if path.len() > MAX_PATH_BYTES {
        bail!(
            "the file name {shown:?}… is {} bytes long, over the limit of {MAX_PATH_BYTES}",
            path.len()
        );
    }
    if let Some(c) = path.split('/').find(|c| c.len() > MAX_COMPONENT_BYTES) {
        let c: String = c.chars().take(40).collect();
        bail!("the file name {shown:?} has a component ({c:?}…) over {MAX_COMPONENT_BYTES} bytes, which no common file system stores");
    }
    let depth = path.split('/').count();
    if depth > MAX_DEPTH {
        bail!("the file name {shown:?} is {depth} folders deep, over the limit of {MAX_DEPTH}");
    }
    Ok(())
}

/// Refuses two names that differ only by case or Unicode normalisation
/// (also for folders on the way: `A/x` and `a/y` collide on `A` and `a`).
pub fn check_collisions<'a>(paths: impl IntoIterator<Item = &'a str>) -> Result<()> {
    // collision key of a folder or file → (its spelling, a path holding it)
    let mut seen: BTreeMap<String, (&str, &str)> = BTreeMap::new();
    for path in paths {
        let ends = path.match_indices('/').map(|(i, _)| i).chain([path.len()]);
        for end in ends {
            let spelling = &path[..end];
            let (first, holder) = *seen
                .entry(collision_key(spelling))
                .or_insert((spelling, path));
            if first != spelling {
                bail!(
                    "the names {holder:?} and {path:?} differ only by case or Unicode normalisation ({first:?} vs {spelling:?}); they would be one file on macOS and Windows, so the model cannot be packaged faithfully; rename one in the repo, or leave one out with exclude"
                );
            }
        }
    }
    Ok(())
}

/// Checks a reference name: it becomes a tag (`org.opencontainers.image.ref.name`).
pub fn validate_name(name: &str) -> Result<String, SettingError> {
    let ok_first = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    let ok_rest = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if !ok_first || !ok_rest || name.len() > 128 {
        return Err(SettingError::InvalidName {
            name: name.to_string(),
        });
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_names_are_rejected() {
        for bad in ["", "-x", "a b", "a/b", "é"] {
            assert!(validate_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn nfc_nfd_and_case_spellings_share_a_key() {
        assert_eq!(
            collision_key("caf\u{e9}.md"),
            collision_key("cafe\u{301}.md")
        );
        assert_eq!(collision_key("README.md"), collision_key("readme.md"));
        assert_eq!(
            collision_key("\u{c5}ngstr\u{f6}m"),
            collision_key("a\u{30a}ngstro\u{308}m")
        );
        assert_ne!(collision_key("a.md"), collision_key("b.md"));
        assert_ne!(collision_key("caf\u{e9}.md"), collision_key("cafe.md"));
        assert_eq!(
            collision_key("\u{212b}"),
            collision_key("\u{c5}"),
            "the Angstrom sign is canonically an A with a ring"
        );
    }

    #[test]
    fn different_letters_are_different_files() {
        // Issue 19: accents were stripped, so these were refused.
        check_collisions(["caf\u{e9}.md", "cafe.md"]).unwrap();
        check_collisions(["cafe\u{301}.md", "cafe.md"]).unwrap();
        check_collisions(["r\u{e9}sum\u{e9}/a.md", "resume/a.md"]).unwrap();
        check_collisions(["\u{f1}o.txt", "no.txt", "\u{3b1}.txt", "\u{3ac}.txt"]).unwrap();
    }

    #[test]
    fn colliding_names_are_refused_with_both_names() {
        let err = check_collisions(["caf\u{e9}.md", "cafe\u{301}.md"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("caf\u{e9}.md") && err.contains("Unicode"),
            "{err}"
        );
        let err = check_collisions(["README.md", "readme.md"])
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "the names \"README.md\" and \"readme.md\" differ only by case or Unicode normalisation (\"README.md\" vs \"readme.md\"); they would be one file on macOS and Windows, so the model cannot be packaged faithfully; rename one in the repo, or leave one out with exclude"
        );
        assert!(check_collisions(["CAF\u{c9}.md", "cafe\u{301}.md"]).is_err());
        assert!(
            check_collisions(["Docs/a.md", "docs/b.md"]).is_err(),
            "folders collide too"
        );
        check_collisions(["docs/a.md", "docs/b.md", "docs2/a.md", "a.md", "a.md.bak"]).unwrap();
        check_collisions(["model-00001.safetensors", "model-00002.safetensors"]).unwrap();
    }

    #[test]
    fn overlong_names_are_refused() {
        check_length("a/b/c.bin").unwrap();
        assert!(check_length(&"x".repeat(256))
            .unwrap_err()
            .to_string()
            .contains("255 bytes"));
        assert!(check_length(&vec!["d"; 40].join("/"))
            .unwrap_err()
            .to_string()
            .contains("40 folders deep"));
        assert!(check_length(&vec!["d".repeat(200); 6].join("/"))
            .unwrap_err()
            .to_string()
            .contains("1024"));
    }
}
