//! The pure core: capture → normalize → audit → policy → finished case, in [`pipeline`].
//! Nothing in here touches the network, the clock or the file system, so live runs, replays
//! and emulator runs share every line.
//!
//! Module order follows the data: [`capture`] (the raw exchange, with its codecs in [`wire`]
//! and [`redact`]), [`normalize`], [`audit`] (with the upstream truth of [`ledger`]),
//! [`policy`], then the finished models [`case`], [`summary`] and [`gate`].

pub mod audit;
pub mod capture;
pub mod case;
pub mod count;
pub mod gate;
pub mod ledger;
pub mod normalize;
pub mod pipeline;
pub mod policy;
pub mod prices;
pub mod record;
pub mod redact;
pub mod summary;
pub mod validate;
pub mod wire;
