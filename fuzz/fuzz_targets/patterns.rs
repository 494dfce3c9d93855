//! include/exclude patterns and fnmatch: any pattern and path, no panic, bounded time.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\n');
    let include = parts.next().unwrap_or("");
    let exclude = parts.next().unwrap_or("");
    let path = parts.next().unwrap_or("a/b.safetensors");
    let list = modelpack::patterns::PatternList::parse(include, exclude);
    let _ = list.keeps(path);
    let _ = modelpack::patterns::fnmatch(include, path);
});
