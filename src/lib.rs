//! tokaudit: an auditor of LLM token accounting.
//!
//! The pipeline, in module order: [`cli`] (flags) → [`plan`] (what to send) → [`runner`]
//! (executes a plan) → [`provider`] (the only network code, returning raw captures) →
//! [`core`] (`capture` → `normalize` → `audit` → `policy` → finished case, all pure) →
//! [`report`] (renderers). [`fixture`] records and replays captures; [`suite`] turns a gate
//! suite into plans; [`emulator`] is a local Bedrock Runtime with ground truth; [`commands`]
//! wires the jobs together; [`reconcile`] audits billing records of real traffic on DataFusion; [`defaults`] and [`exit`] hold the constants every layer shares.
//! `docs/architecture.md` has the picture.

pub mod cli;
pub mod commands;
pub mod core;
pub mod defaults;
pub mod emulator;
pub mod exit;
pub mod files;
pub mod fixture;
pub mod plan;
pub mod provider;
#[cfg(feature = "reconcile")]
pub mod reconcile;
pub mod report;
pub mod runner;
pub mod suite;
