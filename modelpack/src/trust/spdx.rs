//! Licence values of the Hugging Face Hub (`license:` of a model card) that
//! are SPDX licence ids, in SPDX's exact case. The Hub writes them in lower
//! case (`apache-2.0`); CycloneDX accepts a `license.id` only in SPDX's
//! spelling (`Apache-2.0`). Values not listed (`llama3.2`, `openrail`,
//! `other`'s `license_name`, `bsd` …) go in `license.name` as given.

/// The SPDX ids among the Hub's licence values (the Hub's list, each
/// looked up case-insensitively in the SPDX licence list).
pub const HUB_SPDX_IDS: &[&str] = &[
    "AFL-3.0",
    "AGPL-3.0",
    "Apache-2.0",
    "Artistic-2.0",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "BSD-3-Clause-Clear",
    "BSL-1.0",
    "C-UDA-1.0",
    "CC-BY-2.0",
    "CC-BY-2.5",
    "CC-BY-3.0",
    "CC-BY-4.0",
    "CC-BY-NC-2.0",
    "CC-BY-NC-3.0",
    "CC-BY-NC-4.0",
    "CC-BY-NC-ND-3.0",
    "CC-BY-NC-ND-4.0",
    "CC-BY-NC-SA-2.0",
    "CC-BY-NC-SA-3.0",
    "CC-BY-NC-SA-4.0",
    "CC-BY-ND-4.0",
    "CC-BY-SA-3.0",
    "CC-BY-SA-4.0",
    "CC0-1.0",
    "CDLA-Permissive-1.0",
    "CDLA-Permissive-2.0",
    "CDLA-Sharing-1.0",
    "ECL-2.0",
    "EPL-1.0",
    "EPL-2.0",
    "etalab-2.0",
    "EUPL-1.1",
    "EUPL-1.2",
    "GPL-2.0",
    "GPL-3.0",
    "ISC",
    "LGPL-2.1",
    "LGPL-3.0",
    "LPPL-1.3c",
    "MIT",
    "MPL-2.0",
    "MS-PL",
    "NCSA",
    "OFL-1.1",
    "OSL-3.0",
    "PostgreSQL",
    "Unlicense",
    "WTFPL",
    "Zlib",
];

/// The SPDX id `value` stands for (matched ignoring case), if any.
pub fn spdx_id(value: &str) -> Option<&'static str> {
    HUB_SPDX_IDS
        .iter()
        .find(|id| id.eq_ignore_ascii_case(value.trim()))
        .copied()
}
