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
//! api = "both"                    # bedrock: invoke | converse | both; openai: chat | responses
//! prompt = "Write Hi"             # or prompts = ["…", "…"]
//! runs = 2
//! system = "You are terse."       # optional (or system_file = "prompts/x.txt"); cache = true
//!                                 # marks it as a cache prefix
//! cache_ttl = "1h"                # with cache: 5m | 1h; warmup = false skips the warm-up call
//! thinking = 1024                 # extended-thinking budget (max_tokens defaults above it)
//! max_cost = 0.002                # USD per call: `cost-budget` fails a dearer call
//! price_model = "claude-sonnet-4-5"  # price a gateway alias as this model
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
//!
//! [[case]]
//! name = "billing-records"       # the reconciliation of `tokaudit reconcile` (its feature)
//! kind = "reconcile"
//! invocation_logs = ["records/bedrock/"]          # files, folders or s3:// prefixes
//! gateway_logs = ["s3://litellm-logs/prod/"]      # also spans, recordings; join = "auto"
//!
//! [[case]]
//! name = "corpus"
//! fixtures = ["fixtures/"]        # files or folders
//! check_expect = true             # each fixture must end as its own `expect` block says
//! ```
//!
//! Unknown keys and bad values are errors that name the file and line ([`validate`]). A
//! prompt case becomes a [`RunPlan`] ([`Case::plan`]); a fixture case is replayed.

mod spec;
mod validate;

use crate::core::audit::Invariant;
use crate::core::policy::Expectation;
use crate::defaults;
use crate::plan::{ApiChoice, CachePlan, Endpoint, Limits, RunPlan, TargetKind};
use spec::{CaseSpec, Settings, SuiteFile};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;
use validate::Located;

/// What a case runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// Prompts sent live, offline, or replayed from `--replay DIR/<case>/`.
    Prompts(Vec<String>),
    /// Recorded fixtures, always replayed.
    Fixtures(Vec<PathBuf>),
    /// Billing records reconciled (`kind = "reconcile"`).
    Records(RecordSources),
}

/// The billing records of a `kind = "reconcile"` case, as `tokaudit reconcile`'s flags name
/// them: local paths (relative to the suite file) or `s3://` prefixes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RecordSources {
    /// `invocation_logs`.
    pub invocation_logs: Vec<String>,
    /// `gateway_logs`.
    pub gateway_logs: Vec<String>,
    /// `spans`.
    pub spans: Vec<String>,
    /// `recordings`.
    pub recordings: Vec<String>,
    /// `join`: `auto`, `id` or `fallback`.
    pub join: String,
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
    /// Cache the system prompt, and how.
    pub cache: Option<CachePlan>,
    /// Extended-thinking budget.
    pub thinking: Option<u32>,
    /// `max_tokens` (raised above a thinking budget when unset).
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
    /// Emulator faults (offline only), validated as `--emulator-fault` values.
    pub emulator_faults: Vec<String>,
    /// Allowed absolute differences per invariant.
    pub tolerance: BTreeMap<Invariant, u64>,
    /// A cost budget per call, in USD.
    pub max_cost: Option<f64>,
    /// The model to price the case as.
    pub price_model: Option<String>,
    /// Expected failure.
    pub expect: Option<Expectation>,
    /// A fixture case judged fixture by fixture against each one's `expect` block.
    pub check_expect: bool,
}

/// How the gate runs a prompt case: against the emulator or live, with the command line's
/// region, profile and timeout.
#[derive(Debug, Clone, PartialEq)]
pub struct RunMode {
    /// `--offline`.
    pub offline: bool,
    /// `--region`, over the case's.
    pub region: Option<String>,
    /// `--profile`.
    pub profile: Option<String>,
    /// `--timeout`.
    pub timeout: Duration,
}

impl Case {
    /// The plan of this case's prompts in `mode`; an error (the case's, not the suite's) when
    /// it cannot run that way.
    pub fn plan(&self, prompts: &[String], mode: &RunMode) -> Result<RunPlan, String> {
        let region = mode.region.clone().or(self.region.clone());
        let endpoint = if mode.offline {
            Endpoint::Offline {
                region,
                faults: crate::plan::parse_faults(&self.emulator_faults)?,
            }
        } else if !self.emulator_faults.is_empty() {
            return Err(format!(
                "emulator_faults only apply with --offline (line {})",
                self.line
            ));
        } else if self.target == TargetKind::Bedrock {
            Endpoint::Bedrock {
                region,
                profile: mode.profile.clone(),
                endpoint_url: None,
            }
        } else {
            let base_url = self.base_url.clone().ok_or_else(|| {
                format!(
                    "target {} needs base_url in the suite (the gateway's address), or run with --offline",
                    self.target
                )
            })?;
            Endpoint::Gateway {
                base_url,
                api_key_env: self.api_key_env.clone(),
            }
        };
        Ok(RunPlan {
            target: self.target,
            endpoint,
            apis: RunPlan::families(self.target, self.api)
                .map_err(|e| format!("{} (line {})", e.replace("--", ""), self.line))?,
            model: self.model.clone(),
            prompts: prompts.to_vec(),
            system: self.system.clone(),
            cache: self.cache,
            thinking: self.thinking,
            runs: self.runs,
            concurrency: defaults::CONCURRENCY,
            limits: Limits {
                max_tokens: self.max_tokens,
                temperature: self.temperature,
                timeout: mode.timeout,
                max_attempts: defaults::MAX_ATTEMPTS,
            },
            ledger: self.ledger.clone(),
            records: None,
            abort_after: None,
        })
    }
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
#[error("{}{}: {message}", path.display(), if *line == 0 { String::new() } else { format!(":{line}") })]
pub struct SuiteError {
    /// The suite file.
    pub path: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// What is wrong and what to do.
    pub message: String,
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
        let err = |l: Located| SuiteError {
            path: path.to_path_buf(),
            line: line_of(text, l.at),
            message: l.message,
        };
        let file: SuiteFile = toml::from_str(text).map_err(|e| {
            let first = e.message().lines().next().unwrap_or("invalid TOML");
            err(Located {
                at: e.span().map_or(0, |s| s.start),
                message: first.to_string(),
            })
        })?;
        if file.case.is_empty() {
            return Err(err(Located {
                at: 0,
                message: "the suite has no [[case]]; add at least one".into(),
            }));
        }
        let mut names = HashSet::new();
        let mut cases = Vec::new();
        for spanned in &file.case {
            let case_at = spanned.span().start;
            let c = spanned.get_ref();
            let here = |m: String| Located {
                at: case_at,
                message: format!("case {:?}: {m}", c.name),
            };
            validate::name(&c.name, &mut names).map_err(|m| err(here(m)))?;
            let source = validate::source(c, path).map_err(|m| err(here(m)))?;
            let mut case = case(c, &file.defaults, source, case_at).map_err(err)?;
            case.system = validate::system(c, path).map_err(err)?;
            case.line = line_of(text, case_at);
            cases.push(case);
        }
        Ok(Suite {
            path: path.to_path_buf(),
            cases,
        })
    }
}

/// One case with `[defaults]` applied and every value validated.
fn case(
    c: &CaseSpec,
    defaults: &Settings,
    source: Source,
    case_at: usize,
) -> Result<Case, Located> {
    let s = c.settings().or(defaults);
    let name = c.name.as_str();
    let expect = match &c.expect {
        Some(e) => Some(validate::expectation(name, e, case_at)?),
        None => None,
    };
    let (cache, thinking) = validate::cache_and_thinking(c)?;
    let asked = match &s.max_tokens {
        Some(_) => Some(validate::positive(
            s.max_tokens.as_ref(),
            "max_tokens",
            0,
            name,
        )?),
        None => None,
    };
    let max_tokens =
        crate::plan::max_tokens(asked, thinking, "max_tokens").map_err(|m| Located {
            at: case_at,
            message: format!("case {name:?}: {m}"),
        })?;
    let target = validate::choice(s.target.as_ref(), TargetKind::Bedrock, "target", name)?;
    let api = validate::choice(s.api.as_ref(), ApiChoice::Both, "api", name)?;
    if let Err(e) = RunPlan::families(target, api) {
        let at = s.api.as_ref().map_or(case_at, |a| a.span().start);
        return Err(Located {
            at,
            message: format!("case {name:?}: {}", e.replace("--", "")),
        });
    }
    Ok(Case {
        name: c.name.clone(),
        line: 0,
        source,
        target,
        model: s
            .model
            .clone()
            .unwrap_or_else(|| defaults::MODEL.to_string()),
        api,
        region: s.region.clone(),
        system: c.system.clone(),
        cache,
        thinking,
        max_tokens,
        temperature: s.temperature.map_or(defaults::TEMPERATURE, |t| t as f32),
        runs: validate::positive(s.runs.as_ref(), "runs", defaults::RUNS, name)?,
        base_url: s.base_url.clone(),
        api_key_env: s.api_key_env.clone(),
        ledger: s.ledger.clone(),
        emulator_faults: validate::faults(c)?,
        tolerance: validate::tolerance(c)?,
        max_cost: validate::budget(c)?,
        price_model: c.price_model.clone(),
        expect,
        check_expect: c.check_expect.unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Suite, SuiteError> {
        Suite::parse(Path::new("s.toml"), text)
    }

    /// A suite next to the repository's recorded LiteLLM records.
    fn records_suite(case: &str) -> Result<Suite, SuiteError> {
        let suite = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/reconcile/s.toml");
        Suite::parse(&suite, &format!("[[case]]\nname = \"r\"\n{case}"))
    }

    #[test]
    fn a_reconcile_case_names_its_records_relative_to_the_suite() {
        let s = records_suite(
            "kind = \"reconcile\"\ninvocation_logs = [\"litellm-1.65.1/invocation-logs\"]\ngateway_logs = [\"s3://litellm-logs/prod/\"]\njoin = \"id\"\n",
        )
        .unwrap();
        let Source::Records(r) = &s.cases[0].source else {
            panic!("{:?}", s.cases[0].source)
        };
        assert!(
            r.invocation_logs[0].ends_with("tests/data/reconcile/litellm-1.65.1/invocation-logs")
        );
        assert_eq!(r.gateway_logs, ["s3://litellm-logs/prod/"]);
        assert!(r.spans.is_empty() && r.recordings.is_empty());
        assert_eq!(r.join, "id");
    }

    #[test]
    fn a_reconcile_case_that_cannot_compare_or_mixes_kinds_is_refused() {
        let logs = "invocation_logs = [\"litellm-1.65.1/invocation-logs\"]\n";
        for (case, says) in [
            (
                format!("kind = \"reconcile\"\n{logs}"),
                "two sources or more",
            ),
            (
                format!("kind = \"reconcile\"\nprompt = \"Hi\"\n{logs}"),
                "drop `prompt`",
            ),
            (
                format!("prompt = \"Hi\"\n{logs}"),
                "for a case of kind = \"reconcile\"",
            ),
            (format!("kind = \"records\"\n{logs}"), "not a kind of case"),
            (
                format!("kind = \"reconcile\"\n{logs}gateway_logs = [\"nope/\"]\n"),
                "\"nope/\" does not exist",
            ),
            (
                format!("kind = \"reconcile\"\n{logs}spans = [\"s3://b/\"]\njoin = \"time\"\n"),
                "join \"time\"",
            ),
            (
                format!(
                    "kind = \"reconcile\"\n{logs}spans = [\"s3://b/\"]\n[case.expect]\nverdict = \"mismatch\"\nreason = \"x\"\nfindings = [\"input-parity\"]\n"
                ),
                "not findings",
            ),
        ] {
            let e = records_suite(&case).unwrap_err().to_string();
            assert!(e.contains(says), "{case}: {e}");
            assert!(e.contains("s.toml:1:"), "names the case's line: {e}");
        }
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
                "[[case]]\nname = \"a\"\nprompt = \"x\"\napi = \"messages\"\n",
                4,
                "api \"messages\" is not one of",
            ),
            (
                "[[case]]\nname = \"a\"\nprompt = \"x\"\napi = \"responses\"\n",
                4,
                "api responses is not an API of target bedrock",
            ),
            (
                "[[case]]\nname = \"a\"\nprompt = \"x\"\ncache_ttl = \"1h\"\n",
                4,
                "cache_ttl and warmup need cache = true",
            ),
            (
                "[[case]]\nname = \"a\"\nprompt = \"x\"\nthinking = 1024\nmax_tokens = 100\n",
                1,
                "max_tokens 100 must be above the thinking budget 1024",
            ),
            (
                "[[case]]\nname = \"a\"\nprompt = \"x\"\nmax_cost = -1.0\n",
                4,
                "max_cost = -1 must be",
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
            (
                "[[case]]\nname = \"a\"\nprompt = [\"x\"\n",
                3,
                "unclosed array",
            ),
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
