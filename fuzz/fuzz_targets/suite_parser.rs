//! The gate suite parser and its validators, on any text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokaudit::suite::Suite;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Suite::parse(std::path::Path::new("fuzz.toml"), text);
    }
});
