//! Model cards (YAML front matter) and config.json: any text parses or fails.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = modelpack::describe::config_json::parse_config(data);
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(card) = modelpack::describe::model_card::parse_model_card(text) {
            for l in &card.languages {
                assert!(
                    l.len() == 2 && l.bytes().all(|b| b.is_ascii_lowercase()),
                    "{l:?}"
                );
            }
        }
    }
});
