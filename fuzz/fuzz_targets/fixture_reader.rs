//! The fixture reader and the whole pipeline behind it: any text that loads as a fixture is
//! validated, normalized and audited, and nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokaudit::core::pipeline::{Pair, audit_pair};
use tokaudit::core::policy::Policy;
use tokaudit::fixture::Fixture;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(fx) = Fixture::parse(text) else {
        return;
    };
    let Ok(warmup) = fx.warmup_capture() else {
        return;
    };
    if let Ok((ns, st)) = fx.captures() {
        let pair = Pair {
            non_streaming: &ns,
            streaming: &st,
            warmup: warmup.as_ref(),
            origin: None,
            records: fx.records.as_ref(),
        };
        // The cost checks and priced findings run too: the pipeline prices every case.
        let _ = audit_pair(fx.meta(), pair, fx.upstream(), &Policy::default());
    }
});
