//! `--call outline` for a build with a model recipe: the recipe file is the
//! outline's source, its sources are listed in the description, and every
//! build arg its `${…}` read is an outline arg pointing at its line.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::answer::Answer;
use crate::recipe::Read;

/// The 1-based lines of `text` that read `${name`.
fn lines_reading(text: &str, name: &str) -> Vec<usize> {
    let needle = format!("${{{name}");
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            l.match_indices(&needle).any(|(i, _)| {
                let after = &l[i + needle.len()..];
                after.starts_with('}') || after.starts_with(":-")
            })
        })
        .map(|(i, _)| i + 1)
        .collect()
}

/// The default written in `${name:-default}`, if any.
fn written_default(text: &str, name: &str) -> Option<String> {
    let needle = format!("${{{name}:-");
    let i = text.find(&needle)? + needle.len();
    let end = text[i..].find('}')?;
    Some(text[i..i + end].to_string())
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The outline answer with the recipe's part added.
pub fn extend(
    mut json: Value,
    mut txt: String,
    extra: Vec<(String, Vec<u8>)>,
    r: &Read,
    opts: &BTreeMap<String, String>,
) -> Answer {
    let sources: Vec<String> = r
        .loaded
        .recipe
        .sources
        .iter()
        .map(|s| match &s.path {
            Some(p) => format!("{} → {p}/", s.source),
            None => s.source.clone(),
        })
        .collect();
    let described = format!(
        "{}: {} source(s): {}",
        r.file,
        sources.len(),
        sources.join(", ")
    );
    let description = match json["description"].as_str() {
        Some(d) => format!("{d} ({described})"),
        None => described.clone(),
    };
    json["description"] = json!(description);
    // Go's `[][]byte`: base64 strings.
    json["sources"] = json!([base64(r.text.as_bytes())]);
    let mut rows = Vec::new();
    if let Some(args) = json["args"].as_array_mut() {
        for name in &r.loaded.args_read {
            let given = opts.get(&format!("build-arg:{name}")).cloned();
            let value = given
                .or_else(|| written_default(&r.text, name))
                .unwrap_or_default();
            let ranges: Vec<Value> = lines_reading(&r.text, name)
                .iter()
                .map(|l| json!({"start": {"line": l}, "end": {"line": l}}))
                .collect();
            let location = json!({"sourceIndex": 0, "ranges": ranges});
            match args.iter_mut().find(|a| a["name"] == name.as_str()) {
                Some(a) => {
                    a["location"] = location;
                    a["value"] = json!(value);
                }
                None => args.push(json!({"name": name, "description": format!("read by {}", r.file), "value": value, "location": location})),
            }
            rows.push(format!("{name}  {value}"));
        }
    }
    txt.push_str(&format!("\nMODEL RECIPE: {described}\n"));
    if !rows.is_empty() {
        txt.push_str(&format!("BUILD ARGS READ BY {}:\n", r.file));
        for row in rows {
            txt.push_str(&format!("  {row}\n"));
        }
    }
    (json, txt, extra)
}

#[cfg(test)]
mod tests {
    use super::*;
    use modelpack::recipe::Recipe;

    #[test]
    fn outline_lists_sources_and_the_args_read_with_their_lines() {
        let text = "name: ${name:-x}\nsources:\n  - source: huggingface://o/r\n    revision: ${rev:-main}\n  - source: .\n    path: extra\n";
        let loaded = Recipe::load(text, "model.yaml", &BTreeMap::new())
            .unwrap()
            .unwrap();
        let read = Read {
            file: "model.yaml".into(),
            text: text.into(),
            loaded,
        };
        let opts = BTreeMap::from([("build-arg:rev".to_string(), "v2".to_string())]);
        let base =
            json!({"args": [{"name": "name", "description": "reference name", "value": ""}]});
        let (json, txt, _) = extend(base, String::new(), vec![], &read, &opts);
        assert_eq!(
            json["description"],
            "model.yaml: 2 source(s): huggingface://o/r, . → extra/"
        );
        let args = json["args"].as_array().unwrap();
        assert_eq!(args[0]["value"], "x");
        assert_eq!(args[0]["location"]["ranges"][0]["start"]["line"], 1);
        let rev = args.iter().find(|a| a["name"] == "rev").unwrap();
        assert_eq!(
            (
                rev["value"].as_str(),
                rev["location"]["ranges"][0]["start"]["line"].as_u64()
            ),
            (Some("v2"), Some(4))
        );
        assert!(txt.contains("rev  v2"), "{txt}");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
        assert_eq!(base64(b"a"), "YQ==");
    }
}
