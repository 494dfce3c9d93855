//! A `.dockerignore` and a path, as the CLI's `pack` applies it (BuildKit's
//! patternmatcher semantics): any patterns compile or fail, any path is
//! matched or fails, never panics. The last line of the input is the path.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    let (ignore, path) = input.rsplit_once('\n').unwrap_or(("", input.as_ref()));
    let patterns = modelpack::context::parse_dockerignore(ignore);
    if let Ok(ex) = modelpack::context::Excludes::for_directory(&patterns) {
        let _ = ex.excludes(path);
    }
});
