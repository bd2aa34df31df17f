//! Gate suites: the checked-in TOML file that says which cases a CI gate runs.
//!
//! ```toml
//! [defaults]                      # optional, applies to every case
//! model = "anthropic.claude-3-haiku-20240307-v1:0"
//! max_tokens = 64
//!
//! [[case]]
//! name = "write-hi"               # required, unique: names the recordings and the JUnit suite
//! target = "bedrock"              # bedrock | openai | anthropic
//! api = "both"                    # bedrock: invoke | converse | both
//! prompt = "Write Hi"             # or prompts = ["…", "…"]
//! runs = 2
//! system = "You are terse."       # optional; cache = true marks it as a cache prefix
//! # base_url, api_key_env, ledger, region, temperature, emulator_faults (offline only)
//!
//! [case.tolerance]                # explicit only; the default tolerance is zero
//! output-parity = 2               # allowed absolute difference, per invariant id
//!
//! [case.expect]                   # a case known to be broken
//! verdict = "mismatch"
//! reason = "LiteLLM #9577, fixed upstream in v1.65.0"
//! findings = ["input-parity"]     # optional: the violations that make it fail
//!
//! [[case]]
//! name = "recorded"
//! fixtures = ["fixtures/invoke-write-hi.json"]   # always replayed, in every mode
//! ```
//!
//! Unknown keys and bad values are errors that name the file and line.

use crate::cli::{ApiChoice, TargetKind};
use crate::core::audit::{Invariant, Verdict};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Settings {
    target: Option<Spanned<String>>,
    model: Option<String>,
    api: Option<Spanned<String>>,
    region: Option<String>,
    max_tokens: Option<Spanned<i64>>,
    temperature: Option<f64>,
    runs: Option<Spanned<i64>>,
    base_url: Option<String>,
    api_key_env: Option<String>,
    ledger: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuiteFile {
    #[serde(default)]
    defaults: Settings,
    #[serde(default)]
    case: Vec<Spanned<CaseSpec>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseSpec {
    name: String,
    target: Option<Spanned<String>>,
    model: Option<String>,
    api: Option<Spanned<String>>,
    region: Option<String>,
    max_tokens: Option<Spanned<i64>>,
    temperature: Option<f64>,
    runs: Option<Spanned<i64>>,
    base_url: Option<String>,
    api_key_env: Option<String>,
    ledger: Option<String>,
    prompt: Option<String>,
    prompts: Option<Vec<String>>,
    system: Option<String>,
    cache: Option<bool>,
    fixtures: Option<Vec<String>>,
    emulator_faults: Option<Vec<Spanned<String>>>,
    tolerance: Option<BTreeMap<Spanned<String>, Spanned<i64>>>,
    expect: Option<ExpectSpec>,
}

impl CaseSpec {
    /// The per-case settings, in the same shape as `[defaults]`.
    fn settings(&self) -> Settings {
        Settings {
            target: self.target.clone(),
            model: self.model.clone(),
            api: self.api.clone(),
            region: self.region.clone(),
            max_tokens: self.max_tokens.clone(),
            temperature: self.temperature,
            runs: self.runs.clone(),
            base_url: self.base_url.clone(),
            api_key_env: self.api_key_env.clone(),
            ledger: self.ledger.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectSpec {
    verdict: Spanned<String>,
    reason: String,
    #[serde(default)]
    findings: Vec<Spanned<String>>,
}

/// What a case runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// Prompts sent live, offline, or replayed from `--replay DIR/<case>/`.
    Prompts(Vec<String>),
    /// Recorded fixtures, always replayed.
    Fixtures(Vec<PathBuf>),
}

/// A case known to be broken.
#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    /// The verdict it is expected to end with.
    pub verdict: Verdict,
    /// Why (shown in every report).
    pub reason: String,
    /// The violations that are expected, if listed.
    pub findings: Vec<Invariant>,
}

/// A validated case.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// Unique name.
    pub name: String,
    /// Line of the `[[case]]` table.
    pub line: usize,
    /// What it runs.
    pub source: Source,
    /// Target kind.
    pub target: TargetKind,
    /// Model id.
    pub model: String,
    /// Bedrock API families.
    pub api: ApiChoice,
    /// Region.
    pub region: Option<String>,
    /// System prompt.
    pub system: Option<String>,
    /// Cache the system prompt.
    pub cache: bool,
    /// `max_tokens`.
    pub max_tokens: u32,
    /// Temperature.
    pub temperature: f32,
    /// Runs per prompt.
    pub runs: u32,
    /// Gateway base URL.
    pub base_url: Option<String>,
    /// API key variable.
    pub api_key_env: Option<String>,
    /// Upstream ledger.
    pub ledger: Option<String>,
    /// Emulator faults (offline only).
    pub emulator_faults: Vec<crate::emulator::faults::FaultSpec>,
    /// Allowed absolute differences per invariant.
    pub tolerance: BTreeMap<Invariant, u64>,
    /// Expected failure.
    pub expect: Option<Expectation>,
}

/// A loaded suite.
#[derive(Debug, Clone, PartialEq)]
pub struct Suite {
    /// The file it came from.
    pub path: PathBuf,
    /// Its cases, in file order.
    pub cases: Vec<Case>,
}

/// A suite that cannot be used: one line naming file and line.
#[derive(Debug, thiserror::Error)]
#[error("{}:{line}: {message}", path.display())]
pub struct SuiteError {
    /// The suite file.
    pub path: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// What is wrong and what to do.
    pub message: String,
}

/// Parse a value the command line also takes (same enum, same spelling), or say which ones
/// are allowed.
fn choice<T: clap::ValueEnum>(
    value: Option<&Spanned<String>>,
    default: T,
    key: &str,
    case: &str,
) -> Result<T, (usize, String)> {
    let Some(v) = value else { return Ok(default) };
    T::from_str(v.get_ref(), false).map_err(|_| {
        let allowed: Vec<String> = T::value_variants()
            .iter()
            .filter_map(|x| x.to_possible_value().map(|p| p.get_name().to_string()))
            .collect();
        (
            v.span().start,
            format!(
                "case {case:?}: {key} {:?} is not one of {}",
                v.get_ref(),
                allowed.join(", ")
            ),
        )
    })
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

impl Suite {
    /// Read and validate a suite file.
    pub fn load(path: &Path) -> Result<Suite, SuiteError> {
        let text = std::fs::read_to_string(path).map_err(|e| SuiteError {
            path: path.to_path_buf(),
            line: 0,
            message: format!("cannot read the suite: {e}; write one (see README, \"CI gate\") or pass --suite FILE"),
        })?;
        Suite::parse(path, &text)
    }

    /// Validate suite text.
    pub fn parse(path: &Path, text: &str) -> Result<Suite, SuiteError> {
        let err = |offset: usize, message: String| SuiteError {
            path: path.to_path_buf(),
            line: line_of(text, offset),
            message,
        };
        let file: SuiteFile = toml::from_str(text).map_err(|e| {
            let first = e
                .message()
                .lines()
                .next()
                .unwrap_or("invalid TOML")
                .to_string();
            err(e.span().map_or(0, |s| s.start), first)
        })?;
        if file.case.is_empty() {
            return Err(err(0, "the suite has no [[case]]; add at least one".into()));
        }
        let d = &file.defaults;
        let mut names = std::collections::HashSet::new();
        let mut cases = Vec::new();
        for spanned in file.case {
            let at = spanned.span().start;
            let c = spanned.into_inner();
            let settings = c.settings();
            let s = &settings;
            let here = |m: String| err(at, format!("case {:?}: {m}", c.name));
            if c.name.is_empty() || c.name.contains(['/', '\\']) || c.name.starts_with('.') {
                return Err(here(
                    "`name` must be non-empty, without slashes, and not start with a dot".into(),
                ));
            }
            if !names.insert(c.name.clone()) {
                return Err(here(
                    "a case with this name already exists; names must be unique".into(),
                ));
            }
            let target = choice(
                s.target.as_ref().or(d.target.as_ref()),
                TargetKind::Bedrock,
                "target",
                &c.name,
            )
            .map_err(|(at, m)| err(at, m))?;
            let api = choice(
                s.api.as_ref().or(d.api.as_ref()),
                ApiChoice::Both,
                "api",
                &c.name,
            )
            .map_err(|(at, m)| err(at, m))?;
            let positive =
                |v: Option<&Spanned<i64>>, key: &str, default: u32| -> Result<u32, SuiteError> {
                    match v {
                        None => Ok(default),
                        Some(n) => u32::try_from(*n.get_ref())
                            .ok()
                            .filter(|n| *n >= 1)
                            .ok_or_else(|| {
                                err(
                                    n.span().start,
                                    format!(
                                        "case {:?}: {key} = {} must be a whole number ≥ 1",
                                        c.name,
                                        n.get_ref()
                                    ),
                                )
                            }),
                    }
                };
            let runs = positive(s.runs.as_ref().or(d.runs.as_ref()), "runs", 1)?;
            let max_tokens = positive(
                s.max_tokens.as_ref().or(d.max_tokens.as_ref()),
                "max_tokens",
                64,
            )?;
            let source = match (&c.prompt, &c.prompts, &c.fixtures) {
                (Some(p), None, None) => Source::Prompts(vec![p.clone()]),
                (None, Some(ps), None) if !ps.is_empty() => Source::Prompts(ps.clone()),
                (None, None, Some(fs)) if !fs.is_empty() => {
                    let base = path.parent().unwrap_or(Path::new("."));
                    Source::Fixtures(fs.iter().map(|f| base.join(f)).collect())
                }
                _ => return Err(here(
                    "give exactly one of `prompt`, `prompts` (non-empty) or `fixtures` (non-empty)"
                        .into(),
                )),
            };
            let mut emulator_faults = Vec::new();
            for f in c.emulator_faults.iter().flatten() {
                emulator_faults.push(
                    f.get_ref().parse().map_err(|e: String| {
                        err(f.span().start, format!("case {:?}: {e}", c.name))
                    })?,
                );
            }
            let mut tolerance = BTreeMap::new();
            for (k, v) in c.tolerance.iter().flatten() {
                let inv = Invariant::from_id(k.get_ref()).ok_or_else(|| {
                    err(
                        k.span().start,
                        format!(
                            "case {:?}: tolerance for unknown invariant {:?}; known: {}",
                            c.name,
                            k.get_ref(),
                            Invariant::ALL
                                .iter()
                                .map(|i| i.id())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                })?;
                let n = u64::try_from(*v.get_ref()).map_err(|_| {
                    err(
                        v.span().start,
                        format!("case {:?}: tolerance {} must be ≥ 0", c.name, v.get_ref()),
                    )
                })?;
                tolerance.insert(inv, n);
            }
            let expect = match &c.expect {
                None => None,
                Some(e) => {
                    let verdict = match e.verdict.get_ref().as_str() {
                        "mismatch" => Verdict::Mismatch,
                        "error" => Verdict::Error,
                        "inconclusive" => Verdict::Inconclusive,
                        other => {
                            return Err(err(
                                e.verdict.span().start,
                                format!(
                                    "case {:?}: expect.verdict {other:?} must be mismatch, error or inconclusive (a case expected to pass needs no expectation)",
                                    c.name
                                ),
                            ));
                        }
                    };
                    let mut findings = Vec::new();
                    for f in &e.findings {
                        findings.push(Invariant::from_id(f.get_ref()).ok_or_else(|| {
                            err(
                                f.span().start,
                                format!(
                                    "case {:?}: expect.findings: unknown invariant {:?}",
                                    c.name,
                                    f.get_ref()
                                ),
                            )
                        })?);
                    }
                    if e.reason.trim().is_empty() {
                        return Err(here(
                            "expect.reason must say why the case is expected to fail".into(),
                        ));
                    }
                    Some(Expectation {
                        verdict,
                        reason: e.reason.clone(),
                        findings,
                    })
                }
            };
            cases.push(Case {
                name: c.name.clone(),
                line: line_of(text, at),
                source,
                target,
                model: s
                    .model
                    .clone()
                    .or(d.model.clone())
                    .unwrap_or_else(|| crate::cli::DEFAULT_MODEL.to_string()),
                api,
                region: s.region.clone().or(d.region.clone()),
                system: c.system.clone(),
                cache: c.cache.unwrap_or(false),
                max_tokens,
                temperature: s.temperature.or(d.temperature).unwrap_or(0.0) as f32,
                runs,
                base_url: s.base_url.clone().or(d.base_url.clone()),
                api_key_env: s.api_key_env.clone().or(d.api_key_env.clone()),
                ledger: s.ledger.clone().or(d.ledger.clone()),
                emulator_faults,
                tolerance,
                expect,
            });
        }
        Ok(Suite {
            path: path.to_path_buf(),
            cases,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Suite, SuiteError> {
        Suite::parse(Path::new("s.toml"), text)
    }

    #[test]
    fn a_full_case_parses_with_defaults_applied() {
        let s = parse(
            r#"
[defaults]
model = "m"
runs = 2

[[case]]
name = "a"
prompt = "Write Hi"
api = "invoke"
[case.tolerance]
output-parity = 3
[case.expect]
verdict = "mismatch"
reason = "known"
findings = ["input-parity"]
"#,
        )
        .unwrap();
        let c = &s.cases[0];
        assert_eq!(
            (c.model.as_str(), c.runs, c.api, c.line),
            ("m", 2, ApiChoice::Invoke, 6)
        );
        assert_eq!(c.tolerance[&Invariant::OutputParity], 3);
        assert_eq!(
            c.expect.as_ref().unwrap().findings,
            vec![Invariant::InputParity]
        );
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            (
                "[[case]]\nname = \"a\"\nprompt = \"x\"\nrunz = 2\n",
                4,
                "unknown field `runz`",
            ),
            (
                "[[case]]\nname = \"a\"\nprompt = \"x\"\nruns = 0\n",
                4,
                "runs = 0 must be",
            ),
            (
                "[[case]]\nname = \"a\"\nprompt = \"x\"\napi = \"chat\"\n",
                4,
                "api \"chat\"",
            ),
            ("[[case]]\nname = \"a\"\n", 1, "exactly one of"),
            (
                "[[case]]\nname = \"a\"\nprompt = \"x\"\n\n[[case]]\nname = \"a\"\nprompt = \"y\"\n",
                5,
                "already exists",
            ),
            (
                "[[case]]\nname = \"a\"\nprompt = \"x\"\n[case.tolerance]\noutput-parit = 1\n",
                5,
                "unknown invariant",
            ),
            (
                "[[case]]\nname = \"a\"\nprompt = \"x\"\n[case.expect]\nverdict = \"pass\"\nreason = \"r\"\n",
                5,
                "expect.verdict \"pass\"",
            ),
            ("[[case]]\nname = \"a\"\nprompt = [\"x\"\n", 3, ""),
            ("", 1, "no [[case]]"),
        ];
        for (text, line, needle) in cases {
            let e = parse(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(
                e.to_string().starts_with(&format!("s.toml:{line}: ")),
                "{e}"
            );
            assert!(e.to_string().contains(needle), "{e}");
            assert_eq!(e.to_string().lines().count(), 1, "{e}");
        }
    }
}
