//! The `config_json` build arg: any text parses or fails with a message;
//! whatever parses composes into a config that passes the checks.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(over) = modelpack::config::PartialConfig::parse_override(&text, "fuzz") {
        let merged = modelpack::config::PartialConfig::default().overlay(&over);
        modelpack::config::check(&merged.descriptor, &merged.config)
            .expect("a parsed override stays valid when merged");
    }
});
