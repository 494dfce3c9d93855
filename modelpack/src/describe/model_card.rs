//! Model cards (`README.md`): the YAML front matter between leading `---`
//! lines gives licenses, languages and the pipeline tag.

use anyhow::{bail, Context, Result};
use serde_yaml_ng::Value;

/// What a model card's front matter tells.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CardFacts {
    /// `license` (string or list) as given; `other` is replaced by
    /// `license_name` when there is one and dropped otherwise.
    pub licenses: Vec<String>,
    /// `language` entries that are two-letter lower-case codes (`^[a-z]{2}$`), deduplicated.
    pub languages: Vec<String>,
    /// `pipeline_tag`.
    pub pipeline_tag: Option<String>,
    /// Input modalities from the pipeline tag, see [`modalities`].
    pub input_types: Vec<String>,
    /// Output modalities from the pipeline tag, see [`modalities`].
    pub output_types: Vec<String>,
    /// `datasets` (string or list) as given, deduplicated.
    pub datasets: Vec<String>,
}

/// The front matter of a markdown text: the lines between a first line
/// `---` and the next `---` (or `...`) line. None when the text does not
/// start with `---`; an error when it is never closed.
pub fn front_matter(text: &str) -> Result<Option<&str>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.split_inclusive('\n');
    match lines.next() {
        Some(first) if first.trim_end() == "---" => {}
        _ => return Ok(None),
    }
    let start = text.len() - lines.clone().map(str::len).sum::<usize>();
    let mut end = start;
    for line in lines {
        let t = line.trim_end();
        if t == "---" || t == "..." {
            return Ok(Some(&text[start..end]));
        }
        end += line.len();
    }
    bail!("the front matter starting with --- is never closed")
}

/// Reads a model card's front matter; a card without one gives no facts.
pub fn parse_model_card(text: &str) -> Result<CardFacts> {
    let Some(yaml) = front_matter(text)? else {
        return Ok(CardFacts::default());
    };
    let doc: Value = serde_yaml_ng::from_str(yaml).context("the front matter is not valid YAML")?;
    let Value::Mapping(map) = doc else {
        return Ok(CardFacts::default());
    };
    let get = |k: &str| map.get(k);
    let strings = |v: Option<&Value>| -> Vec<String> {
        match v {
            Some(Value::String(s)) => vec![s.trim().to_string()],
            Some(Value::Sequence(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(|s| s.trim().to_string())
                .collect(),
            _ => Vec::new(),
        }
    };
    let license_name = get("license_name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let mut licenses = Vec::new();
    for l in strings(get("license")) {
        let l = if l == "other" {
            match license_name {
                Some(name) => name.to_string(),
                None => continue,
            }
        } else {
            l
        };
        if !l.is_empty() && !licenses.contains(&l) {
            licenses.push(l);
        }
    }
    let mut languages = Vec::new();
    for l in strings(get("language")) {
        if l.len() == 2 && l.bytes().all(|b| b.is_ascii_lowercase()) && !languages.contains(&l) {
            languages.push(l);
        }
    }
    let mut datasets = Vec::new();
    for d in strings(get("datasets")) {
        if !d.is_empty() && !datasets.contains(&d) {
            datasets.push(d);
        }
    }
    let pipeline_tag = get("pipeline_tag")
        .and_then(Value::as_str)
        .map(|s| s.trim().to_string());
    let (inputs, outputs) = pipeline_tag
        .as_deref()
        .and_then(modalities)
        .unwrap_or((&[], &[]));
    Ok(CardFacts {
        licenses,
        languages,
        pipeline_tag,
        input_types: inputs.iter().map(|s| s.to_string()).collect(),
        output_types: outputs.iter().map(|s| s.to_string()).collect(),
        datasets,
    })
}

/// Input and output modalities of a Hugging Face pipeline tag, using only
/// the spec's enum (text, image, audio, video, embedding, other); None for
/// tags not in this table.
///
/// Choices: classification and tagging tasks (text-, token-, zero-shot-,
/// image-, audio-, video-classification) output `text` (labels); fill-mask,
/// question answering, summarization and translation are text → text;
/// feature extraction and sentence similarity output `embedding`; object
/// detection outputs `other` (boxes); segmentation, depth and mask
/// generation output `image`.
pub fn modalities(
    pipeline_tag: &str,
) -> Option<(&'static [&'static str], &'static [&'static str])> {
    const TEXT: &[&str] = &["text"];
    const IMAGE: &[&str] = &["image"];
    const AUDIO: &[&str] = &["audio"];
    const VIDEO: &[&str] = &["video"];
    const EMBEDDING: &[&str] = &["embedding"];
    const OTHER: &[&str] = &["other"];
    const TEXT_IMAGE: &[&str] = &["text", "image"];
    Some(match pipeline_tag {
        "text-generation"
        | "text2text-generation"
        | "fill-mask"
        | "summarization"
        | "translation"
        | "question-answering"
        | "table-question-answering"
        | "conversational"
        | "text-classification"
        | "token-classification"
        | "zero-shot-classification" => (TEXT, TEXT),
        "feature-extraction" | "sentence-similarity" => (TEXT, EMBEDDING),
        "automatic-speech-recognition" | "audio-classification" => (AUDIO, TEXT),
        "text-to-speech" | "text-to-audio" => (TEXT, AUDIO),
        "audio-to-audio" => (AUDIO, AUDIO),
        "image-classification" | "image-to-text" => (IMAGE, TEXT),
        "zero-shot-image-classification"
        | "image-text-to-text"
        | "visual-question-answering"
        | "document-question-answering" => (TEXT_IMAGE, TEXT),
        "image-feature-extraction" => (IMAGE, EMBEDDING),
        "text-to-image" => (TEXT, IMAGE),
        "image-to-image" | "image-segmentation" | "depth-estimation" | "mask-generation" => {
            (IMAGE, IMAGE)
        }
        "object-detection" => (IMAGE, OTHER),
        "text-to-video" => (TEXT, VIDEO),
        "image-to-video" => (IMAGE, VIDEO),
        "video-classification" => (VIDEO, TEXT),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_front_matter_edges() {
        assert_eq!(front_matter("# hi\n---\n").unwrap(), None);
        assert_eq!(front_matter("").unwrap(), None);
        assert_eq!(
            front_matter("---\r\na: 1\r\n---\r\nrest").unwrap(),
            Some("a: 1\r\n")
        );
        assert_eq!(front_matter("\u{feff}---\n---\n").unwrap(), Some(""));
        assert!(front_matter("---\na: 1\n").is_err());
        assert!(parse_model_card("---\n: [\n---\n").is_err());
        assert_eq!(
            parse_model_card("---\n- a\n---\n").unwrap(),
            CardFacts::default()
        );
        // Aliases do not blow up.
        let bomb = "---\na: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nh: [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n---\n";
        let _ = parse_model_card(bomb);
    }

    #[test]
    fn describe_modalities_in_enum() {
        let allowed = ["text", "image", "audio", "video", "embedding", "other"];
        for tag in [
            "text-generation",
            "image-text-to-text",
            "object-detection",
            "text-to-video",
            "feature-extraction",
        ] {
            let (i, o) = modalities(tag).unwrap();
            assert!(i.iter().chain(o).all(|m| allowed.contains(m)), "{tag}");
        }
        assert_eq!(modalities("any-to-any"), None);
    }
}
