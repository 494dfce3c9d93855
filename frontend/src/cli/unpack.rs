//! `unpack LAYOUT[:NAME] -o DIR`: the model's files, verified, in DIR.

use std::path::PathBuf;

use super::{human, positional, step, text, unexpected, Command, Failure, Outcome};
use modelpack::layout::{Layout, LayoutRef};

/// The command.
pub const COMMAND: Command = Command {
    name: "unpack",
    summary: "write a ModelPack layout's files into a folder, verified",
    help: "\
Usage: modelpack-frontend unpack LAYOUT[:NAME] -o DIR

Places each file of the manifest named NAME (or the only one) at its
org.cncf.model.filepath under DIR: raw layers as they are, tar layers
(tar, tar+gzip, tar+zstd) extracted. Every blob is verified by digest while
it streams; files appear only once their blob checked out. Paths that would
leave DIR, links and devices are refused. Modes are 0644 or 0755 (from the
metadata annotation). Files already present with the same size and sha256
are skipped.

  -o, --output DIR   where to put the files (created if missing)

Example: modelpack-frontend unpack out/layout:tiny -o ./tiny
",
    run,
};

fn run(p: &mut lexopt::Parser) -> Outcome {
    let mut out: Option<PathBuf> = None;
    let mut target = None;
    while let Some(arg) = p.next()? {
        match arg {
            lexopt::Arg::Short('o') | lexopt::Arg::Long("output") => out = Some(text(p, "--output")?.into()),
            lexopt::Arg::Value(v) if target.is_none() => target = Some(positional(v, "LAYOUT")?),
            other => return Err(unexpected(other)),
        }
    }
    let target = target.ok_or_else(|| Failure::Usage("LAYOUT[:NAME] is required".into()))?;
    let out = out.ok_or_else(|| Failure::Usage("-o DIR is required".into()))?;
    let r = LayoutRef::parse(&target);
    let layout = Layout::open(&r.dir)?;
    let loaded = layout.load(r.name.as_deref())?;
    step(&format!("unpacking {r} ({} layers) into {}", loaded.manifest.layers.len(), out.display()));
    let s = modelpack::unpack::unpack(&layout, &loaded, &out, step)?;
    println!("unpacked {r} into {}: {} files written, {} already present, {} read", out.display(), s.written, s.skipped, human(s.bytes));
    Ok(())
}
