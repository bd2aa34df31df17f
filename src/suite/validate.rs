//! Small validators, one per rule of a suite case. Each returns the byte offset of what is
//! wrong (the caller turns it into a line) and a message that names the case and the key.

use super::spec::{CaseSpec, ExpectSpec};
use super::{RecordSources, Source};
use crate::core::audit::{Invariant, Verdict};
use crate::core::policy::Expectation;
use crate::plan::{self, UnknownName};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use toml::Spanned;

/// What is wrong, and where (a byte offset into the suite text).
pub(super) struct Located {
    pub at: usize,
    pub message: String,
}

fn at(span: usize, message: String) -> Located {
    Located { at: span, message }
}

/// Names must be unique and usable as folder names (recordings live in `DIR/<case>/`).
pub(super) fn name(case: &str, seen: &mut HashSet<String>) -> Result<(), String> {
    if case.is_empty() || case.contains(['/', '\\']) || case.starts_with('.') {
        return Err("`name` must be non-empty, without slashes, and not start with a dot".into());
    }
    if !seen.insert(case.to_string()) {
        return Err("a case with this name already exists; names must be unique".into());
    }
    Ok(())
}

/// A value the command line also takes (same enum, same spelling), or the allowed ones.
pub(super) fn choice<T: FromStr<Err = UnknownName>>(
    value: Option<&Spanned<String>>,
    default: T,
    key: &str,
    case: &str,
) -> Result<T, Located> {
    match value {
        None => Ok(default),
        Some(v) => v
            .get_ref()
            .parse()
            .map_err(|e: UnknownName| at(v.span().start, format!("case {case:?}: {key} {e}"))),
    }
}

/// A whole number ≥ 1 (`runs`, `max_tokens`).
pub(super) fn positive(
    value: Option<&Spanned<i64>>,
    key: &str,
    default: u32,
    case: &str,
) -> Result<u32, Located> {
    let Some(n) = value else { return Ok(default) };
    u32::try_from(*n.get_ref())
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| {
            at(
                n.span().start,
                format!(
                    "case {case:?}: {key} = {} must be a whole number ≥ 1",
                    n.get_ref()
                ),
            )
        })
}

/// Exactly one of `prompt`, `prompts` or `fixtures`; fixture paths are relative to the suite
/// and must exist now, so that a typo is a suite error before any call, not a replay error
/// after the spend.
pub(super) fn source(c: &CaseSpec, suite: &Path) -> Result<Source, String> {
    match c.kind.as_ref().map(|k| k.get_ref().as_str()) {
        Some("reconcile") => return records(c, suite).map(Source::Records),
        Some("audit") | None => {}
        Some(other) => {
            return Err(format!(
                "kind {other:?} is not a kind of case: use \"audit\" (the default) or \"reconcile\""
            ));
        }
    }
    if let Some(key) = record_key(c) {
        return Err(format!("`{key}` is for a case of kind = \"reconcile\""));
    }
    if c.check_expect == Some(true) {
        if c.fixtures.is_none() {
            return Err("check_expect judges recorded fixtures: use it with `fixtures`".into());
        }
        if c.expect.is_some() {
            return Err(
                "check_expect takes each fixture's own expect block: drop [case.expect]".into(),
            );
        }
    }
    match (&c.prompt, &c.prompts, &c.fixtures) {
        (Some(p), None, None) => Ok(Source::Prompts(vec![p.clone()])),
        (None, Some(ps), None) if !ps.is_empty() => Ok(Source::Prompts(ps.clone())),
        (None, None, Some(fs)) if !fs.is_empty() => {
            let base = suite.parent().unwrap_or(Path::new("."));
            let paths: Vec<PathBuf> = fs.iter().map(|f| base.join(f)).collect();
            if let Some((f, p)) = fs.iter().zip(&paths).find(|(_, p)| !p.exists()) {
                return Err(format!(
                    "fixtures: {f:?} does not exist (looked for {}; paths are relative to the suite file)",
                    p.display()
                ));
            }
            Ok(Source::Fixtures(paths))
        }
        _ => Err(
            "give exactly one of `prompt`, `prompts` (non-empty) or `fixtures` (non-empty)".into(),
        ),
    }
}

/// The ways `join` may be set, as `--join` takes them.
const JOIN_MODES: [&str; 3] = ["auto", "id", "fallback"];

/// The first key of a reconcile case's records that `c` sets, if any.
fn record_key(c: &CaseSpec) -> Option<&'static str> {
    [
        ("invocation_logs", c.invocation_logs.is_some()),
        ("gateway_logs", c.gateway_logs.is_some()),
        ("spans", c.spans.is_some()),
        ("recordings", c.recordings.is_some()),
        ("join", c.join.is_some()),
    ]
    .into_iter()
    .find_map(|(key, set)| set.then_some(key))
}

/// A reconcile case: two sources or more; local paths are relative to the suite and must
/// exist now; the expectation is a verdict and a reason (its findings name invariants of
/// the wire audit, which a reconciliation does not check).
fn records(c: &CaseSpec, suite: &Path) -> Result<RecordSources, String> {
    refuse_audit_keys(c)?;
    let base = suite.parent().unwrap_or(Path::new("."));
    let resolve = |paths: Option<&Vec<String>>| -> Result<Vec<String>, String> {
        paths
            .into_iter()
            .flatten()
            .map(|p| local_or_s3(p, base))
            .collect()
    };
    let sources = RecordSources {
        invocation_logs: resolve(c.invocation_logs.as_ref())?,
        gateway_logs: resolve(c.gateway_logs.as_ref())?,
        spans: resolve(c.spans.as_ref())?,
        recordings: resolve(c.recordings.as_ref())?,
        join: c.join.as_ref().map_or("auto", |j| j.get_ref()).to_string(),
    };
    if !JOIN_MODES.contains(&sources.join.as_str()) {
        return Err(format!(
            "join {:?}: use one of {}",
            sources.join,
            JOIN_MODES.join(", ")
        ));
    }
    let named = [
        &sources.invocation_logs,
        &sources.gateway_logs,
        &sources.spans,
        &sources.recordings,
    ];
    if named.iter().filter(|s| !s.is_empty()).count() < 2 {
        return Err(
            "a reconcile case compares two sources or more: give two of invocation_logs, gateway_logs, spans and recordings".into(),
        );
    }
    Ok(sources)
}

/// What a reconcile case does not take: it sends nothing and audits no pair.
fn refuse_audit_keys(c: &CaseSpec) -> Result<(), String> {
    let given = [
        ("prompt", c.prompt.is_some()),
        ("prompts", c.prompts.is_some()),
        ("fixtures", c.fixtures.is_some()),
        ("check_expect", c.check_expect.is_some()),
    ];
    if let Some((key, _)) = given.iter().find(|(_, set)| *set) {
        return Err(format!(
            "a reconcile case reads billing records; drop `{key}` (or make it its own case)"
        ));
    }
    if c.expect.as_ref().is_some_and(|e| !e.findings.is_empty()) {
        return Err(
            "a reconcile case's [case.expect] takes a verdict and a reason, not findings".into(),
        );
    }
    Ok(())
}

/// An `s3://` prefix as written; a local path joined to the suite's folder, which must exist.
fn local_or_s3(path: &str, base: &Path) -> Result<String, String> {
    if path.starts_with("s3://") {
        return Ok(path.to_string());
    }
    let joined = base.join(path);
    if !joined.exists() {
        return Err(format!(
            "{path:?} does not exist (looked for {}; paths are relative to the suite file)",
            joined.display()
        ));
    }
    Ok(joined.display().to_string())
}

/// Emulator faults, checked as `--emulator-fault` checks them.
pub(super) fn faults(c: &CaseSpec) -> Result<Vec<String>, Located> {
    c.emulator_faults
        .iter()
        .flatten()
        .map(|f| {
            plan::parse_faults(std::slice::from_ref(f.get_ref()))
                .map(|_| f.get_ref().clone())
                .map_err(|e| at(f.span().start, format!("case {:?}: {e}", c.name)))
        })
        .collect()
}

/// Allowed differences per invariant id, each ≥ 0.
pub(super) fn tolerance(c: &CaseSpec) -> Result<BTreeMap<Invariant, u64>, Located> {
    let mut out = BTreeMap::new();
    for (k, v) in c.tolerance.iter().flatten() {
        let inv = Invariant::from_id(k.get_ref()).ok_or_else(|| {
            let known: Vec<&str> = Invariant::ALL.iter().map(|i| i.id()).collect();
            at(
                k.span().start,
                format!(
                    "case {:?}: tolerance for unknown invariant {:?}; known: {}",
                    c.name,
                    k.get_ref(),
                    known.join(", ")
                ),
            )
        })?;
        let n = u64::try_from(*v.get_ref())
            .map_err(|_| format!("tolerance {} must be ≥ 0", v.get_ref()))
            .and_then(|n| crate::core::count::in_range(n, "tolerance").map_err(|e| e.problem))
            .map_err(|m| at(v.span().start, format!("case {:?}: {m}", c.name)))?;
        out.insert(inv, n);
    }
    Ok(out)
}

/// `[case.expect]`: a failing verdict, known invariant ids, and a reason.
pub(super) fn expectation(
    case: &str,
    e: &ExpectSpec,
    case_at: usize,
) -> Result<Expectation, Located> {
    let verdict = match e.verdict.get_ref().as_str() {
        "mismatch" => Verdict::Mismatch,
        "error" => Verdict::Error,
        "inconclusive" => Verdict::Inconclusive,
        other => {
            return Err(at(
                e.verdict.span().start,
                format!(
                    "case {case:?}: expect.verdict {other:?} must be mismatch, error or inconclusive (a case expected to pass needs no expectation)"
                ),
            ));
        }
    };
    let mut findings = Vec::new();
    for f in &e.findings {
        findings.push(Invariant::from_id(f.get_ref()).ok_or_else(|| {
            at(
                f.span().start,
                format!(
                    "case {case:?}: expect.findings: unknown invariant {:?}",
                    f.get_ref()
                ),
            )
        })?);
    }
    if e.reason.trim().is_empty() {
        return Err(at(
            case_at,
            format!("case {case:?}: expect.reason must say why the case is expected to fail"),
        ));
    }
    Ok(Expectation {
        verdict,
        reason: e.reason.clone(),
        findings,
        exact: false,
    })
}

/// A cost budget in USD per call: a finite number > 0.
pub(super) fn budget(c: &CaseSpec) -> Result<Option<f64>, Located> {
    let Some(v) = &c.max_cost else {
        return Ok(None);
    };
    let usd = *v.get_ref();
    if usd.is_finite() && usd > 0.0 {
        Ok(Some(usd))
    } else {
        Err(at(
            v.span().start,
            format!(
                "case {:?}: max_cost = {usd} must be a number of USD per call above 0",
                c.name
            ),
        ))
    }
}

/// `cache_ttl`, `warmup` and `thinking` need what they modify: a cache prefix, a budget
/// Anthropic accepts.
pub(super) fn cache_and_thinking(
    c: &CaseSpec,
) -> Result<(Option<plan::CachePlan>, Option<u32>), Located> {
    let ttl = match &c.cache_ttl {
        Some(t) => Some(choice(
            Some(t),
            plan::CacheTtl::FiveMinutes,
            "cache_ttl",
            &c.name,
        )?),
        None => None,
    };
    let cache = c.cache.unwrap_or(false);
    if !cache && (ttl.is_some() || c.warmup.is_some()) {
        let span = c.cache_ttl.as_ref().map_or(0, |t| t.span().start);
        return Err(at(
            span,
            format!("case {:?}: cache_ttl and warmup need cache = true", c.name),
        ));
    }
    let plan = cache.then_some(plan::CachePlan {
        ttl,
        warmup: c.warmup.unwrap_or(true),
    });
    let min = crate::defaults::MIN_THINKING_BUDGET;
    let thinking = match &c.thinking {
        None => None,
        Some(t) => Some(
            u32::try_from(*t.get_ref())
                .ok()
                .filter(|b| *b >= min)
                .ok_or_else(|| {
                    at(
                        t.span().start,
                        format!(
                            "case {:?}: thinking = {} must be a token budget of at least {min}",
                            c.name,
                            t.get_ref()
                        ),
                    )
                })?,
        ),
    };
    Ok((plan, thinking))
}

/// The system prompt: `system`, or the text of `system_file` (relative to the suite), never
/// both.
pub(super) fn system(c: &CaseSpec, suite: &Path) -> Result<Option<String>, Located> {
    let Some(file) = &c.system_file else {
        return Ok(c.system.clone());
    };
    let here = |m: String| at(file.span().start, format!("case {:?}: {m}", c.name));
    if c.system.is_some() {
        return Err(here("give `system` or `system_file`, not both".into()));
    }
    let path = suite
        .parent()
        .unwrap_or(Path::new("."))
        .join(file.get_ref());
    std::fs::read_to_string(&path)
        .map(Some)
        .map_err(|e| here(format!("system_file {}: cannot read: {e}", path.display())))
}
