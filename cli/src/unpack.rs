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
Usage: modelpack-frontend unpack LAYOUT[:NAME] -o DIR
       modelpack-frontend unpack REF -o DIR [flags]

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
        target, flags, out, ..
    } = SubjectArgs::parse(p, false, true)?;
    let out = out.ok_or_else(|| Failure::Usage("-o DIR is required".into()))?;
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
    let s = modelpack::unpack::unpack(&layout, &loaded, &out, step)?;
    println!(
        "unpacked {shown} into {}: {} files written, {} already present, {} read",
        out.display(),
        s.written,
        s.skipped,
        human(s.bytes)
    );
    Ok(())
}
