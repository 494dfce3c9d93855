//! `sign LAYOUT[:NAME]|REF --key KEY`: the OpenSSF model-signing signature
//! of the model (`modelpack::trust::signing`), attached as an OCI 1.1
//! referrer of its manifest, in the layout or pushed to the registry.

use std::path::PathBuf;

use anyhow::{anyhow, Context};

use super::remote::{self, RegistryFlags, Subject};
use super::{step, text, Command, Failure, Outcome};
use modelpack::layout::{Layout, LayoutRef, Loaded};
use modelpack::trust::referrer;
use modelpack::trust::signing::{self, Key, MEDIA_TYPE_SIGSTORE_BUNDLE, SIGNATURE_FILE};

/// The command.
pub const COMMAND: Command = Command {
    name: "sign",
    summary: "sign a model (OpenSSF model signing, a P-256 key) and attach the signature",
    help: concat!(
        "\
Usage: modelpack-frontend sign LAYOUT[:NAME] --key KEY [--signature FILE]
       modelpack-frontend sign REF --key KEY [--signature FILE] [flags]

Signs the model as the OpenSSF model-signing reference (`model_signing sign
key`, PyPI model-signing 1.1.1) does: a sigstore bundle v0.3
(application/vnd.dev.sigstore.bundle.v0.3+json) holding a DSSE envelope
whose in-toto statement (predicate type https://model_signing/signature/v1.0)
lists every file of the model with its sha256, leaving out the top-level
.git, .gitattributes, .github and .gitignore as the reference does. Raw
layers are the files, so their layer digests are the sha256 and nothing is
read; tar layers are read and each file inside hashed.

The bundle is attached as an OCI 1.1 referrer of the model manifest
(artifactType application/vnd.dev.sigstore.bundle.v0.3+json, one layer
titled model.sig): into the layout, or for a REF pushed to its repository
(referrers API, else the tag-schema fallback). `unpack --signature FILE`
writes it beside the unpacked files, and `model_signing verify key
--signature FILE --public_key PUB DIR` checks them.

  --key KEY          the private key: PEM, ECDSA P-256, PKCS#8 (PRIVATE KEY)
                     or SEC1 (EC PRIVATE KEY), not encrypted
  --signature FILE   also write the bundle to FILE
",
        registry_flags_help!(),
        "
Examples: openssl ecparam -name prime256v1 -genkey -noout -out key.pem
          openssl ec -in key.pem -pubout -out pub.pem
          modelpack-frontend sign out/layout:tiny --key key.pem
          modelpack-frontend sign registry.example.com/models/tiny:v1 --key key.pem
"
    ),
    run,
};

struct Args {
    target: String,
    key: PathBuf,
    signature: Option<PathBuf>,
    flags: RegistryFlags,
}

fn parse(p: &mut lexopt::Parser) -> Result<Args, Failure> {
    let (mut target, mut key, mut signature) = (None, None, None);
    let mut flags = RegistryFlags::default();
    while let Some(arg) = p.next()? {
        match arg {
            lexopt::Arg::Long("key") => key = Some(PathBuf::from(text(p, "--key")?)),
            lexopt::Arg::Long("signature") => {
                signature = Some(PathBuf::from(text(p, "--signature")?))
            }
            lexopt::Arg::Long(l) if RegistryFlags::knows(l) => {
                let l = l.to_string();
                flags.take(&l, p)?;
            }
            lexopt::Arg::Value(v) if target.is_none() => {
                target = Some(super::positional(v, "LAYOUT")?)
            }
            other => return Err(super::unexpected(other)),
        }
    }
    flags.check()?;
    Ok(Args {
        target: target.ok_or_else(|| Failure::Usage("LAYOUT[:NAME] or REF is required".into()))?,
        key: key.ok_or_else(|| Failure::Usage("--key KEY is required".into()))?,
        signature,
        flags,
    })
}

fn run(p: &mut lexopt::Parser) -> Outcome {
    let a = parse(p)?;
    let pem = std::fs::read_to_string(&a.key)
        .with_context(|| format!("reading the key {}", a.key.display()))?;
    let key = Key::from_pem(&pem).with_context(|| format!("the key {}", a.key.display()))?;
    let (signed, digest) = match remote::subject(&a.target)? {
        Subject::Layout(r) => {
            let layout = Layout::open(&r.dir)?;
            let loaded = layout.load(r.name.as_deref())?;
            let signed = signature(&key, &layout, &loaded, r.name.as_deref())?;
            modelpack::layout::write_referrers(&r.dir, std::slice::from_ref(&signed))?;
            step(&format!(
                "attached the signature {} to {r} as a referrer of {}",
                signed.manifest.descriptor.digest, loaded.entry.digest
            ));
            (signed.clone(), signed.manifest.descriptor.digest.clone())
        }
        Subject::Remote(reference) => {
            let client = a.flags.client(None)?;
            let model = super::resolve::resolve_model(&client, &reference, remote::registry_error)
                .map_err(|e| remote::explain(&a.target, &reference, e))?;
            let head = remote::fetch_head(&a.flags, &model)?;
            let mut fetched = head;
            let mut r: LayoutRef = fetched.layout_ref();
            let mut loaded = Layout::open(&r.dir)?.load(r.name.as_deref())?;
            if signing_needs_blobs(&loaded) {
                step("tar layers: downloading the model to hash the files inside");
                fetched = remote::fetch_all(&a.flags, &model, None)?;
                r = fetched.layout_ref();
                loaded = Layout::open(&r.dir)?.load(r.name.as_deref())?;
            }
            let layout = Layout::open(&r.dir)?;
            let name = model.repository().rsplit('/').next().map(str::to_string);
            let signed = signature(&key, &layout, &loaded, name.as_deref())?;
            let at = model.with_digest(
                oci_registry::Digest::parse(&loaded.entry.digest)
                    .map_err(remote::registry_error)?,
            );
            super::attach::push(&client, &at, std::slice::from_ref(&signed))?;
            drop(fetched);
            (signed.clone(), signed.manifest.descriptor.digest.clone())
        }
    };
    if let Some(path) = &a.signature {
        std::fs::write(path, &signed.document.bytes)
            .with_context(|| format!("writing {}", path.display()))?;
        step(&format!("wrote the signature to {}", path.display()));
    }
    println!("{digest}");
    Ok(())
}

fn signing_needs_blobs(loaded: &Loaded) -> bool {
    modelpack::signed_files::needs_blobs(&loaded.manifest.layers)
}

/// The model's name in the statement: the config's `descriptor.name`, else
/// `fallback` (the layout's name or the repository's last part).
fn model_name(loaded: &Loaded, fallback: Option<&str>) -> String {
    loaded.config["descriptor"]["name"]
        .as_str()
        .filter(|s| !s.is_empty())
        .or(fallback)
        .unwrap_or("model")
        .to_string()
}

/// The signature of `loaded` as a referrer of its manifest.
fn signature(
    key: &Key,
    layout: &Layout,
    loaded: &Loaded,
    fallback_name: Option<&str>,
) -> anyhow::Result<referrer::Referrer> {
    let mut open = |d: &modelpack::oci::Descriptor| -> anyhow::Result<Box<dyn std::io::Read>> {
        let path = layout.blob_path(&d.digest)?;
        let f = std::fs::File::open(&path)
            .with_context(|| format!("opening blob {}", path.display()))?;
        Ok(Box::new(f))
    };
    let resources = modelpack::signed_files::from_layers(&loaded.manifest.layers, &mut open)?;
    if resources.is_empty() {
        return Err(anyhow!("the model has no file to sign"));
    }
    let name = model_name(loaded, fallback_name);
    step(&format!(
        "signing {} files of {name} ({})",
        signing::signed_resources(&resources).len(),
        loaded.entry.digest
    ));
    let bundle = signing::sign(key, &name, &resources)?;
    Ok(referrer::referrer(
        &loaded.entry,
        MEDIA_TYPE_SIGSTORE_BUNDLE,
        SIGNATURE_FILE,
        bundle,
    ))
}
