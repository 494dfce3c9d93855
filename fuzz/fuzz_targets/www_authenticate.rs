//! A registry's `WWW-Authenticate` header: any value parses (what cannot
//! be read is skipped), never panics or hangs; schemes and parameter names
//! come out lowercased and non-empty.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let header = String::from_utf8_lossy(data);
    for c in oci_registry::parse_challenges(&header) {
        assert!(!c.scheme.is_empty(), "{header:?}");
        assert_eq!(c.scheme, c.scheme.to_ascii_lowercase());
        for name in c.params.keys() {
            assert_eq!(*name, name.to_ascii_lowercase());
        }
    }
});
