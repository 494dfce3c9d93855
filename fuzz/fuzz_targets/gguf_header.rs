//! GGUF headers (v2/v3): any bytes read or fail within the header budget.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = modelpack::describe::gguf::read_header(data);
});
