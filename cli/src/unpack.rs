//! `unpack LAYOUT[:NAME]|REF -o DIR`: the model's files, verified, in DIR.

use anyhow::Context;

use super::remote::{self, Subject, SubjectArgs};
use super::{human, step, Command, Failure, Outcome};
use modelpack::layout::Layout;

/// The command.
pub const COMMAND: Command = Command {
    name: "unpack",
    summary: "write a ModelPack layout's files into a folder, verified",
    help: concat!(
        "\
Usage: modelpack-frontend unpack LAYOUT[:NAME] -o DIR [--signature FILE]
       modelpack-frontend unpack REF -o DIR [--signature FILE] [flags]

Places each file of the manifest named NAME (or the only one) at its
org.cncf.model.filepath under DIR: raw layers as they are, tar layers
(tar, tar+gzip, tar+zstd) extracted. Every blob is verified by digest while
it streams; files appear only once their blob checked out. Paths that would
leave DIR, links and devices are refused. Modes are 0644 or 0755 (from the
metadata annotation). Files already present with the same size and sha256
are skipped.

LAYOUT is an existing directory (NAME after its last ':'); anything else
is a registry reference (host[:port]/repository[:tag][@digest]): its
blobs are first downloaded, verified while they stream, into a temporary
layout inside DIR, which is removed afterwards.

  -o, --output DIR   where to put the files (created if missing)
  --signature FILE   also write the model's OpenSSF model-signing signature
                     (the referrer `sign` attached) to FILE, for
                     `model_signing verify key --signature FILE
                     --public_key PUB DIR`; fails when none refers to the
                     model or several do. Keep FILE outside DIR (e.g.
                     DIR.sig), or name it DIR/model.sig, which the
                     verifier leaves out as it was given as --signature.
",
        registry_flags_help!(),
        "
Examples: modelpack-frontend unpack out/layout:tiny -o ./tiny
          modelpack-frontend unpack registry.example.com/models/tiny:v1 -o ./tiny
"
    ),
    run,
};

fn run(p: &mut lexopt::Parser) -> Outcome {
    let SubjectArgs {
        target,
        flags,
        out,
        values,
        ..
    } = SubjectArgs::parse_with_values(p, false, true, &[], &["signature"])?;
    let out = out.ok_or_else(|| Failure::Usage("-o DIR is required".into()))?;
    let signature = values.get("signature").map(std::path::PathBuf::from);
    let fetched;
    let (r, shown) = match remote::subject(&target)? {
        Subject::Layout(r) => (r.clone(), r.to_string()),
        Subject::Remote(reference) => {
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            step(&format!(
                "downloading {reference} into a temporary layout in {}",
                out.display()
            ));
            fetched = remote::fetch_all(&flags, &reference, Some(&out))
                .map_err(|e| remote::explain(&target, &reference, e))?;
            if signature.is_some() {
                let r = fetched.layout_ref();
                let model = Layout::open(&r.dir)?.load(r.name.as_deref())?.entry.digest;
                remote::fetch_referrers(&flags, &reference, &model, &fetched)?;
            }
            (fetched.layout_ref(), reference.to_string())
        }
    };
    let layout = Layout::open(&r.dir)?;
    let loaded = layout.load(r.name.as_deref())?;
    step(&format!(
        "unpacking {shown} ({} layers) into {}",
        loaded.manifest.layers.len(),
        out.display()
    ));
    // Found before anything is written: a missing signature fails early.
    let bundle = match &signature {
        Some(_) => Some(signature_of(&layout, &loaded.entry.digest)?),
        None => None,
    };
    let s = modelpack::unpack::unpack(&layout, &loaded, &out, step)?;
    if let (Some(path), Some(bundle)) = (&signature, bundle) {
        std::fs::write(path, bundle).with_context(|| format!("writing {}", path.display()))?;
        step(&format!(
            "wrote the model's signature to {}",
            path.display()
        ));
    }
    println!(
        "unpacked {shown} into {}: {} files written, {} already present, {} read",
        out.display(),
        s.written,
        s.skipped,
        human(s.bytes)
    );
    Ok(())
}

/// The one model-signing bundle that refers to `subject` in `layout`.
fn signature_of(layout: &Layout, subject: &str) -> anyhow::Result<Vec<u8>> {
    use modelpack::trust::referrer::ReferrerManifest;
    use modelpack::trust::signing::MEDIA_TYPE_SIGSTORE_BUNDLE;
    let mut found = Vec::new();
    for (entry, bytes) in layout.referrers(subject)? {
        let Ok(m) = serde_json::from_slice::<ReferrerManifest>(&bytes) else {
            continue;
        };
        if m.artifact_type == MEDIA_TYPE_SIGSTORE_BUNDLE && m.layers.len() == 1 {
            found.push((entry.digest, layout.read_blob(&m.layers[0])?));
        }
    }
    match found.len() {
        0 => Err(anyhow::anyhow!(
            "no model-signing signature ({MEDIA_TYPE_SIGSTORE_BUNDLE}) refers to {subject}; sign it first with `modelpack-frontend sign`"
        )),
        1 => Ok(found.remove(0).1),
        n => Err(anyhow::anyhow!(
            "{n} signatures refer to {subject} ({}); unpack without --signature and pick one with `pull --referrers`",
            found.iter().map(|(d, _)| d.as_str()).collect::<Vec<_>>().join(", ")
        )),
    }
}
