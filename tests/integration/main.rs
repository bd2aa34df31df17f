//! The integration suite: drives the real `tokaudit` binary against the committed fixtures,
//! the in-process emulator (`compare --offline`) and `tokaudit serve` processes, all on
//! loopback. One test binary (one link), one module per job, ripgrep style; reports are
//! asserted on parsed JSON, not on strings.

mod util;

#[cfg(feature = "ballista")]
mod ballista;
mod billing;
mod cli;
mod compare;
mod false_pass;
mod gate;
mod gateway;
mod golden;
mod malformed;
mod properties;
#[cfg(feature = "reconcile")]
mod reconcile;
mod records;
mod regression;
mod replay;
mod secrets;
mod serve;
