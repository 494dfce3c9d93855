//! safetensors headers: any bytes read or fail, never panic or allocate
//! from the length field (libFuzzer's -malloc_limit_mb catches that).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = modelpack::describe::safetensors::read_header(data);
    let _ = modelpack::describe::safetensors::parse_index(data);
});
