//! Model-signing bundles (`validate` reads them from layouts and
//! registries): any bytes parse or fail; a parsed bundle's resources hash to
//! its subject digest.
#![no_main]
use libfuzzer_sys::fuzz_target;
use modelpack::trust::signing;

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = signing::parse(data) {
        let resources = parsed.resources().expect("parse checked the resources");
        assert_eq!(
            parsed.statement["subject"][0]["digest"]["sha256"].as_str(),
            Some(signing::root_digest(&resources).unwrap().as_str())
        );
    }
});
