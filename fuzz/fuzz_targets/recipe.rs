//! A `model.yaml` recipe: any text loads or fails with one
//! `model.yaml[:line:col]: …` line, never panics; positions are in the file.
//! The first line of the input is a build arg value (`${x}`), the rest the
//! recipe.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    let (arg, text) = input.split_once('\n').unwrap_or(("", input.as_ref()));
    let args = BTreeMap::from([("x".to_string(), arg.to_string())]);
    match modelpack::recipe::Recipe::load(text, "model.yaml", &args) {
        Ok(Some(loaded)) => {
            let _ = loaded.recipe.overrides();
            let _ = loaded.recipe.annotations("model.yaml");
        }
        Ok(None) => {}
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.starts_with("model.yaml"), "{msg}");
            assert!(!msg.contains('\n'), "{msg:?}");
        }
    }
    // The position finder on its own, with the first line as the path.
    if let Some((line, col)) = modelpack::recipe::locate(text, arg) {
        assert!(line >= 1 && line <= text.lines().count(), "{line}");
        assert!(col >= 1 && col <= text.lines().nth(line - 1).unwrap().chars().count() + 1);
    }
});
