//! tokaudit: an auditor of LLM token accounting.
//!
//! The pipeline, in module order: [`cli`] → [`provider`] (the only network code) →
//! [`core`] (`capture` → `normalize` → `audit`, pure) → [`report`] (renderers). [`fixture`]
//! records and replays captures; [`emulator`] is a local Bedrock Runtime with ground truth;
//! [`commands`] wires the jobs together; [`exit`] documents the exit codes.

pub mod cli;
pub mod commands;
pub mod core;
pub mod emulator;
pub mod exit;
pub mod fixture;
pub mod provider;
pub mod report;
pub mod suite;
