//! An image reference (`host[:port]/repo[:tag][@digest]`): any text parses
//! or fails, never panics; a parsed reference prints as text that parses
//! back to it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(r) = oci_registry::Reference::parse(&text) {
        let shown = r.to_string();
        let again = oci_registry::Reference::parse(&shown)
            .unwrap_or_else(|e| panic!("{text:?} printed as {shown:?}, which fails: {e}"));
        assert_eq!(again, r, "{text:?} printed as {shown:?}");
        let _ = r.api_host();
        let _ = r.manifest_ref();
    }
});
