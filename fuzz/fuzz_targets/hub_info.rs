//! The Hub's revision answer (`/api/models/{repo}/revision/{rev}?blobs=true`):
//! any bytes parse or fail; every accepted file name is safe.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(info) = modelpack::huggingface::parse_info(data, "org/repo") {
        for f in &info.files {
            assert!(
                modelpack::huggingface::is_safe_repo_path(&f.path),
                "{:?}",
                f.path
            );
        }
    }
});
