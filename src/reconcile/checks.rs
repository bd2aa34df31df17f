//! The checks shipped with the binary, as SQL over the staged tables (`checks/*.sql`), with
//! the few settings they take filled in. Users add their own `.sql` files over the same
//! tables with `--check FILE`.

use super::row::SourceKind;

/// How a logged record finds the billed record of the same call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum JoinMode {
    /// The provider's request id where the logged record keeps it, else the fallback.
    Auto,
    /// The provider's request id only (records without one stay unmatched).
    Id,
    /// Model, conversation digest and time window only, even where an id is kept.
    Fallback,
}

/// Fallback candidates of a logged table against the billed one.
const CANDIDATES: &str = include_str!("checks/candidates.sql");
/// Matched pairs of a logged table against the billed one.
const PAIRS: &str = include_str!("checks/pairs.sql");
/// Differences, one-sided records and invariants of a logged table.
const FINDINGS: &str = include_str!("checks/findings.sql");

/// The columns that identify a pair in every row of its findings.
const PAIR_KEYS: &str = "joined_by, lrid, request_id, record_id, model, day, api_key, file, line, billed_file, billed_line";

/// The settings the shipped checks take.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// The join.
    pub join: JoinMode,
    /// How far outside a logged call's start and end the provider's timestamp may be.
    pub window_ms: i64,
    /// The relative difference between a logged cost and its logged usage at list price
    /// that is tolerated (price tables differ in rounding and date).
    pub cost_tolerance: f64,
}

/// The join's switches: by id, by the fallback, the fallback even where an id is kept.
fn switches(join: JoinMode) -> [(&'static str, bool); 3] {
    let (id, fallback, everything) = match join {
        JoinMode::Auto => (true, true, false),
        JoinMode::Id => (true, false, false),
        JoinMode::Fallback => (false, true, true),
    };
    [
        ("{by_id}", id),
        ("{by_fallback}", fallback),
        ("{fallback_everything}", everything),
    ]
}

fn fill(sql: &str, logged: SourceKind, billed: SourceKind, s: Settings) -> String {
    let mut sql = sql
        .replace("{logged}", logged.table())
        .replace("{billed}", billed.table())
        .replace("{candidates}", &candidates_table(logged))
        .replace("{window_ms}", &s.window_ms.to_string());
    for (key, on) in switches(s.join) {
        sql = sql.replace(key, &on.to_string());
    }
    sql
}

/// The fallback candidates query of `logged` against `billed`.
pub fn candidates(logged: SourceKind, billed: SourceKind, s: Settings) -> String {
    fill(CANDIDATES, logged, billed, s)
}

/// The pairs query of `logged` against `billed`, over its candidates table.
pub fn pairs(logged: SourceKind, billed: SourceKind, s: Settings) -> String {
    fill(PAIRS, logged, billed, s)
}

/// The candidates table of a logged source.
pub fn candidates_table(logged: SourceKind) -> String {
    format!("candidates_{}", logged.table())
}

/// The findings query of `logged` against `billed`, over its pairs table.
pub fn findings(logged: SourceKind, billed: SourceKind, s: Settings) -> String {
    FINDINGS
        .replace("{logged}", logged.table())
        .replace("{billed}", billed.table())
        .replace("{cost_tolerance}", &format!("{:e}", s.cost_tolerance))
        .replace("{keys}", PAIR_KEYS)
}

/// The pairs table of a logged source.
pub fn pairs_table(logged: SourceKind) -> String {
    format!("pairs_{}", logged.table())
}

/// Classes that are notes about a record on its own rather than a difference in what is
/// billed; they count as findings but carry no price.
pub const INVARIANT_CLASSES: [&str; 2] = ["total-not-sum", "cached-beyond-prompt"];
