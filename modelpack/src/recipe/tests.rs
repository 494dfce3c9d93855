use super::*;

fn args(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn load(text: &str, a: &[(&str, &str)]) -> Result<Option<Loaded>> {
    Recipe::load(text, "model.yaml", &args(a))
}

fn err(text: &str) -> String {
    load(text, &[]).unwrap_err().to_string()
}

#[test]
fn an_error_about_a_key_with_a_line_break_stays_on_one_line() {
    // Found by the recipe fuzz target (fuzz/seeds/recipe/key-with-line-break):
    // a flow mapping whose key spans lines, with carriage returns.
    let text = "{ources\u{c6}\u{f8}\n  \r source: caf\u{e9}\r, 2]\r\n";
    let e = err(text);
    assert!(e.starts_with("model.yaml"), "{e}");
    assert!(!e.contains('\n') && !e.contains('\r'), "{e:?}");
}

#[test]
fn blank_files_and_comments_are_no_recipe() {
    for t in ["", "\n", "# syntax=localhost:5000/f:dev\n", "# a\n\n---\n"] {
        assert!(load(t, &[]).unwrap().is_none(), "{t:?}");
    }
}

#[test]
fn attest_is_one_of_four_words_with_substitution() {
    use crate::trust::Attest;
    let l = load("attest: none\n", &[]).unwrap().unwrap();
    assert_eq!(l.recipe.attest, Some(Attest::None));
    let l = load("attest: ${a:-all}\n", &[("a", "sbom")])
        .unwrap()
        .unwrap();
    assert_eq!(l.recipe.attest, Some(Attest::Sbom));
    assert_eq!(load("name: x\n", &[]).unwrap().unwrap().recipe.attest, None);
    let e = err("attest: yes\n");
    assert!(
        e.contains("attest must be none, sbom, provenance or all"),
        "{e}"
    );
}

#[test]
fn media_types_is_cncf_or_cnai_with_substitution() {
    let l = load("media_types: cnai\n", &[]).unwrap().unwrap();
    assert_eq!(l.recipe.media_types, Some(Spelling::Cnai));
    let l = load("media_types: ${spelling:-cncf}\n", &[("spelling", "cnai")])
        .unwrap()
        .unwrap();
    assert_eq!(l.recipe.media_types, Some(Spelling::Cnai));
    assert_eq!(
        load("name: x\n", &[]).unwrap().unwrap().recipe.media_types,
        None
    );
    let e = err("media_types: cnfc\n");
    assert!(
        e.contains("unknown media_types \"cnfc\"; accepted: cncf, cnai"),
        "{e}"
    );
}

#[test]
fn every_field_parses() {
    let text = r#"# syntax=localhost:5000/f:dev
target: packager/generic
name: ${name:-tiny}
sources:
  - source: huggingface://org/repo
    revision: ${revision:-main}
    include: ["*.safetensors", config.json]
    exclude: "*.md, *.txt"
    path: weights/
  - source: https://h/x/m.gguf
    checksum: sha256:0000000000000000000000000000000000000000000000000000000000000000
  - source: ./LICENSE
layer_packaging: {default: tar+gzip, weight: raw, doc: tar}
descriptor: {authors: ["${author}"], licenses: [MIT]}
config: {paramSize: 7B}
annotations: {org.example.team: ml}
"#;
    let l = load(text, &[("author", "Ann"), ("revision", "v1")])
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap();
    let r = &l.recipe;
    assert_eq!(r.target.as_deref(), Some("packager/generic"));
    assert_eq!(r.name, Some(Text("tiny".into())));
    assert_eq!(r.sources.len(), 3);
    let hub = &r.sources[0];
    assert_eq!(hub.revision.as_deref(), Some("v1"));
    assert_eq!(hub.include, ["*.safetensors", "config.json"]);
    assert_eq!(hub.exclude, ["*.md", "*.txt"]);
    assert_eq!(hub.path.as_deref(), Some("weights"));
    assert!(matches!(&hub.spec, SourceSpec::HuggingFace(h) if h.revision == "v1"));
    assert!(matches!(&r.sources[1].spec, SourceSpec::Url(u) if u[0].checksum.is_some()));
    assert_eq!(
        r.sources[2].spec,
        SourceSpec::Context(Some("LICENSE".into()))
    );
    let p = r.layer_packaging.as_ref().unwrap();
    assert_eq!(p.default, Some(LayerPackaging::TarGzip));
    assert_eq!(
        p.for_kind(Kind::Weight, LayerPackaging::Raw, false),
        LayerPackaging::Raw
    );
    assert_eq!(
        p.for_kind(Kind::Doc, LayerPackaging::Raw, false),
        LayerPackaging::Tar
    );
    assert_eq!(
        p.for_kind(Kind::Code, LayerPackaging::Raw, false),
        LayerPackaging::TarGzip
    );
    let o = r.overrides().unwrap();
    assert_eq!(o.descriptor.authors, Some(vec!["Ann".to_string()]));
    assert_eq!(o.config.param_size.as_deref(), Some("7B"));
    assert_eq!(
        r.annotations("model.yaml").unwrap()["org.example.team"],
        "ml"
    );
    assert_eq!(
        l.args_read,
        BTreeSet::from([
            "author".to_string(),
            "name".to_string(),
            "revision".to_string()
        ])
    );
}

#[test]
fn errors_name_file_line_column_and_what_is_accepted() {
    let cases: &[(&str, &str)] = &[
        ("name: x\nsorces: []\n", "model.yaml:2:1: sorces: unknown field `sorces`, expected one of `target`, `name`, `sources`"),
        ("sources:\n  - source: .\n    incude: x\n", "model.yaml:3:5: sources[0].incude: unknown field `incude`, expected one of `source`, `include`"),
        ("sources: .\n", "model.yaml:1:10: sources: invalid type: string \".\", expected a sequence"),
        ("layer_packaging: zip\n", "model.yaml:1:18: layer_packaging: unknown layer packaging \"zip\"; accepted: raw, tar, tar+gzip, tar+zstd"),
        ("layer_packaging: {weights: raw}\n", "layer_packaging: unknown kind \"weights\"; accepted: default, weight, weight_config, code, doc, dataset"),
        ("target: packager/x\n", "model.yaml:1:1: target: unknown target \"packager/x\"; accepted: packager/modelpack, packager/generic"),
        ("name: a\n\nsources:\n  - source: huggingface://o/r\n    revision: ${rev}\n", "model.yaml:5:5: sources[0].revision: build arg \"rev\" is not set; pass --build-arg rev=… or give a default: ${rev:-value}"),
        ("sources:\n  - source: s3://b/x\n", "model.yaml:2:3: sources[0]: source: s3:// sources are not supported yet"),
        ("sources:\n  - source: .\n    path: ../x\n", "model.yaml:2:3: sources[0]: path \"../x\" is not a clean relative folder"),
        ("config:\n  paramSize: lots\n", "model.yaml:1:1: config: config.paramSize \"lots\" is not a count with a scale"),
        ("descriptor:\n  author: [x]\n", "model.yaml:2:3: descriptor.author: unknown field `author`, expected one of"),
        ("sources:\n  - source: .\n    revision: main\n", "model.yaml:2:3: sources[0]: revision only applies to huggingface:// sources"),
    ];
    let mut bad = Vec::new();
    for (text, want) in cases {
        let got = err(text);
        if !(got.starts_with(want) || (!want.starts_with("model.yaml") && got.contains(want))) {
            bad.push(format!("{text:?}\n got: {got}\nwant: {want}"));
        }
        assert!(!got.contains('\n'), "one line: {got:?}");
        assert!(got.starts_with("model.yaml:"), "{got}");
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn interpolation() {
    let mut used = BTreeSet::new();
    let a = args(&[("x", "1"), ("empty", "")]);
    assert_eq!(interpolate("a${x}b", &a, &mut used).unwrap(), "a1b");
    assert_eq!(interpolate("${y:-d}", &a, &mut used).unwrap(), "d");
    assert_eq!(interpolate("${empty:-d}", &a, &mut used).unwrap(), "d");
    assert_eq!(interpolate("$${x} $5", &a, &mut used).unwrap(), "${x} $5");
    assert!(interpolate("${x", &a, &mut used)
        .unwrap_err()
        .contains("unclosed"));
    assert!(interpolate("${a b}", &a, &mut used)
        .unwrap_err()
        .contains("not a build-arg reference"));
    assert!(interpolate("${nope}", &a, &mut used)
        .unwrap_err()
        .contains("\"nope\" is not set"));
}

#[test]
fn clean_paths() {
    assert_eq!(clean_path("a/b/").unwrap().as_deref(), Some("a/b"));
    assert_eq!(clean_path(".").unwrap(), None);
    for bad in ["/a", "a/../b", "a//b", "./a", "a/*"] {
        assert!(clean_path(bad).is_err(), "{bad}");
    }
}

/// Every recipe under `examples/` parses and the shipped JSON Schema
/// accepts it; the schema refuses what the parser refuses. `examples/ci/`
/// holds CI pipelines (YAML too), not recipes.
#[test]
fn example_recipes_match_the_schema() {
    let schema: Value = serde_json::from_str(SCHEMA).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the recipe schema compiles");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut found = Vec::new();
    let mut dirs = vec![root];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                if !p.ends_with("ci") {
                    dirs.push(p);
                }
            } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                found.push(p);
            }
        }
    }
    assert!(found.len() >= 3, "example recipes: {found:?}");
    for p in found {
        let text = std::fs::read_to_string(&p).unwrap();
        let value: Value = serde_yaml_ng::from_str(&text).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", p.display());
        Recipe::load(&text, &p.display().to_string(), &BTreeMap::new())
            .unwrap_or_else(|e| panic!("{e}"));
    }
    for bad in [
        "{sorces: []}",
        "{layer_packaging: zip}",
        "{sources: [{path: x}]}",
        "{target: x}",
        "{media_types: cnfc}",
    ] {
        let value: Value = serde_yaml_ng::from_str(bad).unwrap();
        assert!(!validator.is_valid(&value), "schema accepts {bad}");
    }
}

/// Whether `msg` starts with `model.yaml:LINE:COL: ` (line and column
/// positive numbers).
fn has_position(msg: &str) -> bool {
    let parts: Vec<&str> = msg.splitn(4, ':').collect();
    let positive = |s: &str| s.parse::<usize>().is_ok_and(|n| n > 0);
    parts.len() == 4
        && parts[0] == "model.yaml"
        && positive(parts[1])
        && positive(parts[2])
        && parts[3].starts_with(' ')
}

#[test]
fn hostile_recipes_get_a_position_not_a_panic() {
    // (recipe, expected start of the error)
    let cases: &[(&str, &str)] = &[
        // Issue 19: a bare `-` line made the position finder slice "-"[2..].
        ("sources:\n  -\n    source: [1, 2]\n", "model.yaml:3:"),
        (
            "sources:\n  -\n    source: .\n    incude: x\n",
            "model.yaml:4:5: sources[0].incude: unknown field",
        ),
        (
            "sources:\n-\n  source: .\n  incude: x\n",
            "model.yaml:4:3: sources[0].incude",
        ),
        (
            "sources:\n  - source: .\n  -\n    incude: x\n",
            "model.yaml:4:5: sources[1].incude",
        ),
        // Multibyte characters before the error (columns count characters).
        (
            "name: café ☕\nsources:\n  - source: .\n    pâth: x\n",
            "model.yaml:4:5: sources[0].pâth: unknown field",
        ),
        (
            "# ünïcödé\nsources:\n  - source: \"é\"\n    incude: x\n",
            "model.yaml:4:5: sources[0].incude",
        ),
        // Tabs after the dash, CRLF line ends.
        ("sources:\n  -\tsource: .\n    incude: x\n", "model.yaml:"),
        (
            "sources:\r\n  - source: .\r\n    incude: x\r\n",
            "model.yaml:3:5: sources[0].incude",
        ),
        // Errors at the end of the file.
        ("sources:\n  -", "model.yaml:"),
        (
            "sources:\n  - source: .\n    incude:",
            "model.yaml:3:5: sources[0].incude",
        ),
        ("name: x\nsources: [", "model.yaml:"),
        ("sources:\n  - source: [", "model.yaml:"),
        ("-", "model.yaml:"),
        ("- - -\n", "model.yaml:"),
    ];
    let mut bad = Vec::new();
    for (text, want) in cases {
        let got = std::panic::catch_unwind(|| err(text))
            .unwrap_or_else(|_| format!("panicked on {text:?}"));
        if !got.starts_with(want) || !has_position(&got) || got.contains('\n') {
            bad.push(format!("{text:?}\n got: {got}\nwant: {want}…"));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    assert!(
        load("", &[]).unwrap().is_none(),
        "an empty file is no recipe"
    );
}

#[test]
fn locate_never_panics_and_counts_characters() {
    assert_eq!(locate("", "sources[0].source"), None);
    assert_eq!(locate("-", "[0]"), Some((1, 1)));
    assert_eq!(locate("a:\n  -\n    b: 1\n", "a[0].b"), Some((3, 5)));
    assert_eq!(locate("a:\n  -\tb: 1\n", "a[0].b"), Some((2, 5)));
    assert_eq!(locate("a:\n  -   b: 1\n", "a[0].b"), Some((2, 7)));
    assert_eq!(locate("a:\r\n  - b: 1\r\n", "a[0].b"), Some((2, 5)));
    // Unicode blanks count one column each; nothing is sliced mid-character.
    assert_eq!(locate("a:\n\u{3000}\u{3000}b: 1\n", "a.b"), Some((2, 3)));
    assert_eq!(locate("é:\n  - ü: 1\n", "é[0].ü"), Some((2, 5)));
    // `-é` is no list item: the nearest node found is `a`.
    assert_eq!(locate("a:\n  -é\n", "a[0]"), Some((1, 1)));
    for text in [
        "-",
        "- ",
        "-\t",
        "a:\n-",
        "a:\n  -\n",
        "\u{feff}-",
        "a: -\n",
    ] {
        for path in ["[0]", "a[0]", "a[0].b", "a[3].b[2]", "", "a.b.c"] {
            let _ = locate(text, path);
        }
    }
}
