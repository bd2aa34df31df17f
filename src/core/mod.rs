//! The pure core: capture → normalize → audit. Nothing in here touches the network, the
//! clock or the file system, so live runs, replays and emulator runs share every line.

pub mod audit;
pub mod capture;
pub mod ledger;
pub mod normalize;
pub mod redact;
pub mod wire;
