//! The `source` build arg (and `revision`): any text parses or fails, never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (source, revision) = match text.split_once('\n') {
        Some((s, r)) => (s, Some(r)),
        None => (text.as_ref(), None),
    };
    if let Ok(spec) = modelpack::source::SourceSpec::parse(source, revision) {
        let name = spec.default_name();
        assert!(!name.is_empty() && name.len() <= 128);
    }
});
