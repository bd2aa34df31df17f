//! The command line (clap derive), and nothing else: flags in, a [`RunPlan`] or a typed set of
//! options out. Doc comments are the help text.
//!
//! House rules: long flags are implicit, short flags explicit and rare, value names upper-case;
//! every default comes from [`crate::defaults`].

use crate::defaults;
use crate::plan::{
    self, ApiChoice, CachePlan, CacheTtl, Endpoint, Limits, RecordsPlan, RunPlan, TargetKind,
};
use crate::report::Format;
use clap::builder::PossibleValue;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The exit codes, as `--help` and the man page list them (constants in [`crate::exit`]).
pub const EXIT_CODES: &str = "\
Exit codes:
  0  every check held
  1  a mismatch or violated invariant (also a gate's unexpected pass)
  2  usage error: bad or contradicting flags, a refused suite
  3  runtime error: auth, network, exception frame, malformed fixture,
     a report that could not be written, nothing audited
  4  inconclusive: nothing contradicted, but something could not be compared
  130, 143  stopped by SIGINT / SIGTERM (written reports say incomplete)
When several apply, the most serious wins: 1, then 3, then 4.";

/// Audit LLM token accounting: the same prompt through Bedrock's streaming and non-streaming
/// APIs must be billed the same.
#[derive(Debug, Parser)]
#[command(name = "tokaudit", version, about, long_about = None, after_help = EXIT_CODES)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Send one prompt through both paths (live Bedrock, or --offline) and audit the pair.
    #[command(after_help = EXIT_CODES)]
    Compare(Box<CompareArgs>),
    /// Audit recorded fixtures (files or folders), with no network.
    #[command(after_help = EXIT_CODES)]
    Replay(ReplayArgs),
    /// Run the Bedrock emulator on loopback.
    Serve(ServeArgs),
    /// Run a suite of cases as a CI regression gate, with baselines and JUnit / Markdown / JSON.
    #[command(after_help = EXIT_CODES)]
    Gate(GateArgs),
    /// Show the prices a model is costed at, and where they come from.
    Prices(PricesArgs),
    /// Rewrite recorded fixtures (files or folders) in the current format, atomically.
    Migrate(MigrateArgs),
    /// Reconcile billing records of real traffic (provider invocation logs, gateway logs,
    /// spans) against each other, on DataFusion (or a Ballista cluster).
    #[cfg(feature = "reconcile")]
    #[command(after_help = EXIT_CODES)]
    Reconcile(Box<ReconcileArgs>),
    /// Generate realistic billing records with injected discrepancies and their ground truth.
    #[cfg(feature = "reconcile")]
    #[command(hide = true, name = "gen-logs")]
    GenLogs(GenLogsArgs),
    /// Start a Ballista scheduler (for `reconcile --engine ballista`).
    #[cfg(feature = "ballista")]
    #[command(hide = true, name = "ballista-scheduler")]
    BallistaScheduler(BallistaSchedulerArgs),
    /// Start a Ballista executor that registers with a scheduler.
    #[cfg(feature = "ballista")]
    #[command(hide = true, name = "ballista-executor")]
    BallistaExecutor(BallistaExecutorArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(CompletionsArgs),
    /// Print the man page (roff): `tokaudit man | man -l -`.
    Man,
}

/// `tokaudit reconcile`.
#[cfg(feature = "reconcile")]
#[derive(Debug, clap::Args)]
pub struct ReconcileArgs {
    /// Bedrock model invocation logs: folders, files or s3://BUCKET/PREFIX (gzip JSON lines,
    /// as Bedrock delivers them). The billed side when given.
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub invocation_logs: Vec<String>,
    /// Gateway logs: LiteLLM's logging payloads (its S3 / file loggers, one JSON object per
    /// line or per object) or spend-log rows exported as JSON lines, `.csv` or `.parquet`.
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub gateway_logs: Vec<String>,
    /// OTLP span exports (the OpenTelemetry Collector file exporter, one export per line).
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub spans: Vec<String>,
    /// tokaudit's own recordings (`compare --record DIR`): each side of a case is one call,
    /// with the usage the wire carried and Bedrock's request id.
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub recordings: Vec<String>,
    /// How a logged record finds its billed record.
    #[arg(long, value_enum, default_value_t = crate::reconcile::checks::JoinMode::Auto)]
    pub join: crate::reconcile::checks::JoinMode,
    /// Fallback join: how far (ms) the provider's timestamp may lie outside the logged call's
    /// start and end. Bedrock logs whole seconds, so at least 1000.
    #[arg(long, value_name = "MS", default_value_t = defaults::RECONCILE_WINDOW_MS)]
    pub window_ms: u32,
    /// Relative difference tolerated between a logged cost and its logged usage at list price.
    #[arg(long, value_name = "FRACTION", default_value_t = defaults::RECONCILE_COST_TOLERANCE)]
    pub cost_tolerance: f64,
    /// A check of your own: SQL over the same tables; every row it returns is a finding.
    /// Repeatable.
    #[arg(long, value_name = "FILE")]
    pub check: Vec<PathBuf>,
    /// Write the differing records as DIR/differences.parquet and DIR/differences.csv, and
    /// the malformed records as DIR/malformed.csv.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Where the engine runs: embedded DataFusion, or a Ballista cluster (--scheduler).
    #[arg(long, value_enum, default_value_t = EngineChoice::Datafusion)]
    pub engine: EngineChoice,
    /// The Ballista scheduler, df://HOST:PORT.
    #[arg(long, value_name = "URL", required_if_eq("engine", "ballista"))]
    pub scheduler: Option<String>,
    /// Memory the embedded engine may hold before it spills to disk, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = defaults::RECONCILE_MEMORY_MIB,
          value_parser = clap::value_parser!(u64).range(64..))]
    pub memory_limit: u64,
    /// Where the staged tables and spill files go (a folder removed at the end).
    #[arg(long, value_name = "DIR", env = "TMPDIR", default_value = "/tmp")]
    pub work_dir: PathBuf,
    /// AWS region for s3:// sources (else the SDK's chain).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// AWS profile name for s3:// sources.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// An S3 endpoint (a local S3 server such as moto).
    #[arg(long, value_name = "URL", value_parser = http_url)]
    pub endpoint_url: Option<String>,
    /// Prices.
    #[arg(long, value_name = "FILE")]
    pub prices: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReconcileFormat::Table)]
    pub format: ReconcileFormat,
}

/// Where `reconcile` runs its plans.
#[cfg(feature = "reconcile")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineChoice {
    /// DataFusion in this process.
    Datafusion,
    /// A Ballista cluster (a build with `--features ballista`).
    Ballista,
}

/// `reconcile`'s output formats.
#[cfg(feature = "reconcile")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReconcileFormat {
    /// The summary table.
    Table,
    /// The JSON report.
    Json,
    /// Markdown, for CI summaries.
    Markdown,
}

/// `tokaudit gen-logs` (hidden).
#[cfg(feature = "reconcile")]
#[derive(Debug, clap::Args)]
pub struct GenLogsArgs {
    /// Output folder.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Calls to generate.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub records: u64,
    /// Records per file.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub per_file: u64,
    /// One call in N carries a discrepancy (0: clean logs).
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub every: u64,
    /// One gateway record in N keeps no provider request id (joined by the fallback).
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub without_id_every: u64,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// `tokaudit ballista-scheduler` (hidden, `--features ballista`).
#[cfg(feature = "ballista")]
#[derive(Debug, clap::Args)]
pub struct BallistaSchedulerArgs {
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:50050")]
    pub bind: std::net::SocketAddr,
}

/// `tokaudit ballista-executor` (hidden, `--features ballista`).
#[cfg(feature = "ballista")]
#[derive(Debug, clap::Args)]
pub struct BallistaExecutorArgs {
    /// The scheduler, HOST:PORT or df://HOST:PORT.
    #[arg(long, value_name = "URL", default_value = "127.0.0.1:50050")]
    pub scheduler: String,
    /// Flight port (shuffle data).
    #[arg(long, value_name = "N", default_value_t = 50051)]
    pub port: u16,
    /// gRPC port.
    #[arg(long, value_name = "N", default_value_t = 50052)]
    pub grpc_port: u16,
    /// Tasks run at once.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub concurrent_tasks: usize,
    /// Memory the executor's pool holds before its operators spill, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = defaults::RECONCILE_MEMORY_MIB)]
    pub memory_limit: u64,
    /// Where shuffle files go. Give every executor on one machine the same folder: a shuffle
    /// file found there is read a batch at a time, one written by another executor elsewhere is
    /// fetched whole into memory.
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
}

/// `tokaudit completions`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `tokaudit migrate`.
#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    /// Fixture files or folders (folders are searched for *.json recursively).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

/// A flag combination that cannot be run: exit 2, one line naming the flags.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// clap's view of the enums the plan and the renderers define (they know nothing of clap).
macro_rules! value_enum {
    ($t:ty) => {
        impl ValueEnum for $t {
            fn value_variants<'a>() -> &'a [Self] {
                &<$t>::ALL
            }
            fn to_possible_value(&self) -> Option<PossibleValue> {
                Some(PossibleValue::new(self.name()).help(self.help()))
            }
        }
    };
}
value_enum!(TargetKind);
value_enum!(ApiChoice);
value_enum!(CacheTtl);
value_enum!(Format);

/// When to colour the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorChoice {
    /// On a terminal, unless `NO_COLOR` is set.
    #[default]
    Auto,
    /// Always (e.g. for a CI log that renders colour).
    Always,
    /// Never.
    Never,
}

impl ColorChoice {
    /// Every choice.
    pub const ALL: [ColorChoice; 3] = [ColorChoice::Auto, ColorChoice::Always, ColorChoice::Never];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ColorChoice::Auto => "auto",
            ColorChoice::Always => "always",
            ColorChoice::Never => "never",
        }
    }

    /// One line for the help.
    pub fn help(self) -> &'static str {
        match self {
            ColorChoice::Auto => "on a terminal, unless NO_COLOR is set",
            ColorChoice::Always => "always",
            ColorChoice::Never => "never",
        }
    }
}

value_enum!(ColorChoice);

/// How the report looks on stdout (`compare`, `replay`, `gate`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct OutputArgs {
    /// Colour: auto (a terminal without NO_COLOR), always, never.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Full provenance paths in the table (JSON always has them).
    #[arg(long)]
    pub sources: bool,
    /// Summary only: the table prints the spread and the summary line, no case, and no
    /// progress bar is drawn (other formats are unchanged).
    #[arg(long, short)]
    pub quiet: bool,
}

/// Which prices cost a case (`compare`, `replay`, `gate`, `prices`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct PricingArgs {
    /// A price table in tokaudit's format (docs/prices.md) instead of the embedded one.
    #[arg(long, value_name = "FILE")]
    pub prices: Option<PathBuf>,
    /// Price cases as this model (for gateway aliases the table does not know).
    #[arg(long, value_name = "ID")]
    pub price_model: Option<String>,
}

/// `tokaudit compare`.
#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// The user prompt.
    #[arg(long, value_name = "TEXT")]
    pub prompt: String,
    /// A system prompt.
    #[arg(long, value_name = "TEXT")]
    pub system: Option<String>,
    /// Mark the system prompt as a cache prefix (cache_control / cachePoint), after a warm-up
    /// call that writes it, so that both measured calls should read it.
    #[arg(long, requires = "system")]
    pub cache: bool,
    /// The cache TTL to ask for (default: none sent, the provider's 5 minutes).
    #[arg(long, value_enum, value_name = "TTL", requires = "cache")]
    pub cache_ttl: Option<CacheTtl>,
    /// With --cache: no warm-up call (the cache state is then unknown, and a differing cache
    /// split only a note).
    #[arg(long, requires = "cache")]
    pub no_warmup: bool,
    /// Turn on extended thinking with this token budget (Anthropic `thinking`; a
    /// `reasoning_effort` for OpenAI-compatible targets). Sends no temperature.
    #[arg(long, value_name = "BUDGET", value_parser = clap::value_parser!(u32).range(i64::from(defaults::MIN_THINKING_BUDGET)..))]
    pub thinking: Option<u32>,
    /// Model id, inference-profile id or ARN.
    #[arg(long, value_name = "ID", env = "TOKAUDIT_MODEL", default_value = defaults::MODEL)]
    pub model: String,
    /// What to audit: Bedrock, or a gateway / API speaking OpenAI or Anthropic.
    #[arg(long, value_enum, default_value_t = TargetKind::Bedrock)]
    pub target: TargetKind,
    /// Base URL of an openai / anthropic target (`…/v1` or the root; required for them unless --offline).
    #[arg(long, value_name = "URL", value_parser = http_url)]
    pub base_url: Option<String>,
    /// Environment variable holding the target's API key (default OPENAI_API_KEY or
    /// ANTHROPIC_API_KEY; optional for local gateways). The key is never printed or recorded.
    #[arg(long, value_name = "NAME")]
    pub api_key_env: Option<String>,
    /// The upstream's ledger (`tokaudit serve`'s `/_tokaudit/ledger`): adds the upstream's own
    /// numbers for each request and checks `ledger-parity`.
    #[arg(long, value_name = "URL", value_parser = http_url)]
    pub ledger: Option<String>,
    /// Receive the gateway's OpenTelemetry spans (OTLP/HTTP, protobuf or JSON) on this
    /// address (a bare port means 127.0.0.1) and audit what it recorded for each request
    /// against what it returned (`record-present`, `record-parity`).
    #[arg(long, value_name = "ADDR", value_parser = listen_addr)]
    pub otlp_listen: Option<std::net::SocketAddr>,
    /// How long to wait for records after a prompt's last pair (exporters batch: LiteLLM's
    /// default schedule delay is 5 s).
    #[arg(long, value_name = "SECONDS", default_value_t = defaults::RECORD_WAIT_SECS)]
    pub record_wait: u64,
    /// Close each streaming response after N server-sent events, as a client timeout or a
    /// stop button does; the aborted stream's record (and the upstream's bill, with
    /// --ledger) is then what is checked, not its partial usage.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub abort_after: Option<u32>,
    /// Bedrock API family to audit.
    #[arg(long, value_enum, default_value_t = ApiChoice::Both)]
    pub api: ApiChoice,
    /// AWS region (else AWS_REGION / AWS_DEFAULT_REGION / the profile's region).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// AWS profile name.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Send requests to this endpoint instead of Bedrock (e.g. `tokaudit serve`'s URL).
    #[arg(long, value_name = "URL", value_parser = http_url)]
    pub endpoint_url: Option<String>,
    /// Maximum output tokens per call [default: 64, or BUDGET + 64 with --thinking].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_tokens: Option<u32>,
    /// Sampling temperature.
    #[arg(long, value_name = "T", default_value_t = defaults::TEMPERATURE, value_parser = temperature)]
    pub temperature: f32,
    /// Seconds allowed per call, the whole stream included.
    #[arg(long, value_name = "SECS", default_value_t = defaults::TIMEOUT_SECS, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
    /// SDK attempts per call (retries back off on throttling; each retry is reported).
    #[arg(long, value_name = "N", default_value_t = defaults::MAX_ATTEMPTS, value_parser = clap::value_parser!(u32).range(1..=defaults::MAX_ATTEMPTS_LIMIT as i64))]
    pub max_attempts: u32,
    /// How many pairs to run (the order of the two paths alternates between runs).
    #[arg(long, value_name = "N", default_value_t = defaults::RUNS, value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,
    /// How many pairs run at once.
    #[arg(long, value_name = "N", default_value_t = defaults::CONCURRENCY, value_parser = clap::value_parser!(u32).range(1..=defaults::CONCURRENCY_LIMIT as i64))]
    pub concurrency: u32,
    /// Write one fixture per pair into this folder (atomically, redacted); a folder that
    /// already holds fixtures is refused unless --force.
    #[arg(long, value_name = "DIR")]
    pub record: Option<PathBuf>,
    /// With --record: write into a folder that already holds fixtures, replacing those of
    /// the same name.
    #[arg(long, requires = "record")]
    pub force: bool,
    /// Use the built-in emulator: no credentials, no network.
    #[arg(long, conflicts_with_all = ["endpoint_url", "profile"])]
    pub offline: bool,
    /// With --offline: make the built-in emulator inject this fault, NAME[=ARG][@RATE]
    /// (repeatable; `tokaudit serve --list-faults`).
    #[arg(long, value_name = "FAULT", requires = "offline")]
    pub emulator_fault: Vec<String>,
    /// Prices.
    #[command(flatten)]
    pub pricing: PricingArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// How the report looks.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Two flags that cannot mean anything together, and why.
fn refused(a: &str, b: &str, why: &str) -> Result<(), UsageError> {
    Err(UsageError(format!("{a} and {b} contradict: {why}")))
}

/// A listening address: `HOST:PORT`, or a bare port on loopback.
fn listen_addr(s: &str) -> Result<std::net::SocketAddr, String> {
    if let Ok(port) = s.parse::<u16>() {
        return Ok(([127, 0, 0, 1], port).into());
    }
    s.parse().map_err(|_| {
        format!("{s:?} is not an address: write PORT or HOST:PORT, e.g. 4318 or 127.0.0.1:4318")
    })
}

/// An `http://` or `https://` URL with a host (`--base-url`, `--endpoint-url`, `--ledger`).
fn http_url(text: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(text)
        .map_err(|e| format!("not a URL ({e}); e.g. http://127.0.0.1:4000"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!(
            "{text:?} is not an http:// or https:// URL with a host"
        ));
    }
    Ok(text.to_string())
}

/// A sampling temperature: a finite number ≥ 0 (the providers take 0 to 1 or 2).
fn temperature(text: &str) -> Result<f32, String> {
    let t: f32 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if !t.is_finite() || t < 0.0 {
        return Err(format!("{text} is not a temperature (a finite number ≥ 0)"));
    }
    Ok(t)
}

impl CompareArgs {
    /// Flags that cannot mean anything together, refused before any call: one line naming
    /// both.
    fn contradictions(&self) -> Result<(), UsageError> {
        let bedrock = self.target == TargetKind::Bedrock;
        if self.offline {
            if self.base_url.is_some() {
                return refused(
                    "--offline",
                    "--base-url",
                    "--offline answers with the built-in emulator, so the gateway would never be contacted; drop one",
                );
            }
            if self.ledger.is_some() {
                return refused(
                    "--offline",
                    "--ledger",
                    "the built-in emulator is its own upstream; --ledger is for a gateway in front of `tokaudit serve`",
                );
            }
            if self.api_key_env.is_some() {
                return refused(
                    "--offline",
                    "--api-key-env",
                    "the built-in emulator takes no key",
                );
            }
        }
        if !bedrock {
            for (flag, set) in [
                ("--endpoint-url", self.endpoint_url.is_some()),
                ("--profile", self.profile.is_some()),
                ("--region", self.region.is_some()),
            ] {
                if set {
                    return refused(
                        &format!("--target {}", self.target),
                        flag,
                        "AWS settings apply to --target bedrock; a gateway's address is --base-url",
                    );
                }
            }
        } else if self.base_url.is_some() {
            return refused(
                "--target bedrock",
                "--base-url",
                "Bedrock is reached through the AWS SDK (--endpoint-url for a local one); --base-url is for --target openai or anthropic",
            );
        } else if self.api_key_env.is_some() {
            return refused(
                "--target bedrock",
                "--api-key-env",
                "Bedrock uses the AWS credential chain, not an API key",
            );
        }
        self.gateway_only()
    }

    /// Flags that audit a gateway (its upstream's ledger, its records, an abort), refused
    /// where no gateway answers.
    fn gateway_only(&self) -> Result<(), UsageError> {
        let bedrock = self.target == TargetKind::Bedrock;
        if let (Some(_), true) = (self.otlp_listen, self.offline || bedrock) {
            return refused(
                if self.offline {
                    "--offline"
                } else {
                    "--target bedrock"
                },
                "--otlp-listen",
                "records are exported by a gateway or SDK under test; point --target openai or anthropic and --base-url at one whose OpenTelemetry exporter sends to this address",
            );
        }
        if self.abort_after.is_some() && bedrock {
            return refused(
                "--target bedrock",
                "--abort-after",
                "aborting a stream is audited on a gateway's record and its upstream's bill; point --target openai or anthropic at the gateway",
            );
        }
        if self.ledger.is_some() && bedrock {
            return refused(
                "--target bedrock",
                "--ledger",
                "the ledger holds a gateway to its upstream; point --target openai or anthropic at the gateway",
            );
        }
        Ok(())
    }

    /// The run plan these flags ask for.
    pub fn plan(&self) -> Result<RunPlan, UsageError> {
        self.contradictions()?;
        let endpoint = if self.offline {
            Endpoint::Offline {
                region: self.region.clone(),
                faults: plan::parse_faults(&self.emulator_fault).map_err(UsageError)?,
            }
        } else if self.target == TargetKind::Bedrock {
            Endpoint::Bedrock {
                region: self.region.clone(),
                profile: self.profile.clone(),
                endpoint_url: self.endpoint_url.clone(),
            }
        } else {
            let base_url = self.base_url.clone().ok_or_else(|| {
                UsageError(format!(
                    "--target {} needs --base-url (the gateway's address, e.g. http://127.0.0.1:4000), or --offline",
                    self.target
                ))
            })?;
            Endpoint::Gateway {
                base_url,
                api_key_env: self.api_key_env.clone(),
            }
        };
        Ok(RunPlan {
            target: self.target,
            endpoint,
            apis: RunPlan::families(self.target, self.api).map_err(UsageError)?,
            model: self.model.clone(),
            prompts: vec![self.prompt.clone()],
            system: self.system.clone(),
            cache: self.cache.then_some(CachePlan {
                ttl: self.cache_ttl,
                warmup: !self.no_warmup,
            }),
            thinking: self.thinking,
            runs: self.runs,
            concurrency: self.concurrency,
            limits: Limits {
                max_tokens: plan::max_tokens(self.max_tokens, self.thinking, "--max-tokens")
                    .map_err(UsageError)?,
                temperature: self.temperature,
                timeout: Duration::from_secs(self.timeout),
                max_attempts: self.max_attempts,
            },
            ledger: self.ledger.clone(),
            abort_after: self.abort_after,
            records: self.otlp_listen.map(|listen| RecordsPlan {
                listen,
                wait: Duration::from_secs(self.record_wait),
            }),
        })
    }
}

/// `tokaudit replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Fixture files or folders (folders are searched for *.json recursively).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Judge each fixture against its own `expect` block (verdict and exactly the listed
    /// violations), as a gate: an intended mismatch that shows up passes, a deviation fails.
    #[arg(long)]
    pub check_expect: bool,
    /// Spans the system exported, read after the fact (the OpenTelemetry Collector file
    /// exporter's OTLP JSON, one export per line): each recording's requests are matched by
    /// the trace ids they were sent with, and their records audited.
    #[arg(long, value_name = "FILE")]
    pub records_file: Option<PathBuf>,
    /// Prices.
    #[command(flatten)]
    pub pricing: PricingArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// How the report looks.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `tokaudit prices`.
#[derive(Debug, clap::Args)]
pub struct PricesArgs {
    /// Model id, inference-profile id or ARN (all models when left out).
    #[arg(value_name = "MODEL")]
    pub model: Option<String>,
    /// A price table in tokaudit's format instead of the embedded one.
    #[arg(long, value_name = "FILE")]
    pub prices: Option<PathBuf>,
    /// Print the whole table as JSON (the format `--prices` reads).
    #[arg(long, conflicts_with = "model")]
    pub json: bool,
}

/// `tokaudit serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Port (0 picks a free one).
    #[arg(long, value_name = "N", default_value_t = defaults::SERVE_PORT)]
    pub port: u16,
    /// Address to bind. Loopback unless another address is asked for explicitly.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
    /// Largest request body in bytes (Bedrock's own limit is 25,000,000).
    #[arg(long, value_name = "BYTES", default_value_t = defaults::MAX_BODY_BYTES)]
    pub max_body: usize,
    /// Inject this fault, NAME[=ARG][@RATE]: RATE is the share of requests hit (default 1).
    /// Repeatable.
    #[arg(long, value_name = "FAULT")]
    pub fault: Vec<String>,
    /// List the faults and exit.
    #[arg(long)]
    pub list_faults: bool,
    /// Ledger entries kept (the oldest are dropped first; read it in pages with
    /// `?since=N&limit=M`).
    #[arg(long, value_name = "N", default_value_t = defaults::LEDGER_SIZE, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub ledger_size: usize,
    /// Connections served at once; past it, new connections get a 503 and are closed.
    #[arg(long, value_name = "N", default_value_t = defaults::MAX_CONNECTIONS, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_connections: usize,
    /// Seconds a client has to send a request's headers.
    #[arg(long, value_name = "SECS", default_value_t = defaults::HEADER_READ_TIMEOUT.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    pub header_read_timeout: u64,
    /// Seconds a connection may sit with no byte in either direction before it is closed.
    #[arg(long, value_name = "SECS", default_value_t = defaults::IDLE_TIMEOUT.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout: u64,
    /// Seconds the emulator has to start answering a request (then a 503).
    #[arg(long, value_name = "SECS", default_value_t = defaults::REQUEST_TIMEOUT.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout: u64,
    /// Write Bedrock model invocation logs under DIR, as Bedrock delivers them to S3 (gzip
    /// JSON lines under AWSLogs/<account>/BedrockModelInvocationLogs/<region>/YYYY/MM/DD/HH/).
    #[arg(long, value_name = "DIR")]
    pub invocation_logs: Option<PathBuf>,
    /// The region the invocation logs are filed under.
    #[arg(long, value_name = "REGION", default_value = defaults::OFFLINE_REGION, requires = "invocation_logs")]
    pub invocation_log_region: String,
}

/// `tokaudit gate`.
#[derive(Debug, clap::Args)]
pub struct GateArgs {
    /// The suite file.
    #[arg(long, value_name = "FILE", default_value = defaults::SUITE_FILE)]
    pub suite: PathBuf,
    /// Run prompt cases against the built-in emulator (no credentials, no network).
    #[arg(long, conflicts_with = "replay")]
    pub offline: bool,
    /// Replay prompt cases from recordings in DIR/<case>/ instead of calling anything.
    #[arg(long, value_name = "DIR")]
    pub replay: Option<PathBuf>,
    /// Baseline recordings (DIR/<case>/): flag `baseline-drift` when total input moved.
    #[arg(long, value_name = "DIR")]
    pub baseline: Option<PathBuf>,
    /// Re-record the baseline from this run (atomically) instead of checking it.
    #[arg(long, requires = "baseline")]
    pub update_baseline: bool,
    /// Run without drift checks when the --baseline folder does not exist (else an error).
    #[arg(long, requires = "baseline")]
    pub baseline_optional: bool,
    /// Write a JUnit XML report here (created before any call, rewritten after each case).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write a Markdown report here (also appended to $GITHUB_STEP_SUMMARY when set).
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Write the JSON report here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// AWS region for live Bedrock cases (else the case's, the environment's or the profile's).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// AWS profile for live Bedrock cases.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Seconds allowed per call.
    #[arg(long, value_name = "SECS", default_value_t = defaults::TIMEOUT_SECS, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
    /// Prices (a case's `price_model` wins over --price-model).
    #[command(flatten)]
    pub pricing: PricingArgs,
    /// How the report looks.
    #[command(flatten)]
    pub output: OutputArgs,
}

impl GateArgs {
    /// What must hold before the suite is read: distinct report files (none of them the
    /// suite) and a baseline that exists unless it is being recorded or optional.
    pub fn check(&self) -> Result<(), UsageError> {
        let files = [
            ("--suite", Some(&self.suite)),
            ("--json", self.json.as_ref()),
            ("--junit", self.junit.as_ref()),
            ("--markdown", self.markdown.as_ref()),
        ];
        let named: Vec<(&str, PathBuf)> = files
            .iter()
            .filter_map(|(flag, p)| p.map(|p| (*flag, same_file_key(p))))
            .collect();
        for (i, (a, pa)) in named.iter().enumerate() {
            if let Some((b, _)) = named[i + 1..].iter().find(|(_, pb)| pb == pa) {
                return Err(UsageError(format!(
                    "{a} and {b} name the same file ({}): one would overwrite the other; give each its own path",
                    pa.display()
                )));
            }
        }
        match &self.baseline {
            Some(dir) if !dir.is_dir() && !self.update_baseline && !self.baseline_optional => {
                Err(UsageError(format!(
                    "--baseline {}: no such folder, so nothing would be checked for drift; record one with --update-baseline, fix the path, or add --baseline-optional",
                    dir.display()
                )))
            }
            _ => Ok(()),
        }
    }
}

/// A path as the file system will resolve it (the folder canonicalized when it exists), so
/// that `out/r.xml` and `./out/../out/r.xml` compare equal.
fn same_file_key(path: &Path) -> PathBuf {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    match (
        abs.parent().and_then(|d| d.canonicalize().ok()),
        abs.file_name(),
    ) {
        (Some(dir), Some(name)) => dir.join(name),
        _ => abs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    fn compare(args: &[&str]) -> Result<CompareArgs, clap::Error> {
        let all = ["tokaudit", "compare", "--prompt", "x"]
            .into_iter()
            .chain(args.iter().copied());
        match Cli::try_parse_from(all)?.command {
            Command::Compare(c) => Ok(*c),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn offline_conflicts_with_endpoint() {
        assert!(compare(&["--offline", "--endpoint-url", "http://a"]).is_err());
    }

    #[test]
    fn flags_become_a_plan() {
        let p = compare(&[
            "--offline",
            "--api",
            "invoke",
            "--emulator-fault",
            "cut-stream@0.5",
        ])
        .unwrap()
        .plan()
        .unwrap();
        assert_eq!(p.apis, vec![crate::core::capture::Api::Invoke]);
        assert!(matches!(&p.endpoint, Endpoint::Offline { faults, .. } if faults.len() == 1));
        assert_eq!(p.limits.max_tokens, defaults::MAX_TOKENS);
        let e = compare(&["--offline", "--emulator-fault", "nope"])
            .unwrap()
            .plan()
            .unwrap_err();
        assert!(e.0.contains("unknown fault \"nope\""), "{e}");
        let e = compare(&["--target", "openai"])
            .unwrap()
            .plan()
            .unwrap_err();
        assert!(e.0.contains("--target openai needs --base-url"), "{e}");
    }

    #[test]
    fn cache_and_thinking_flags_become_a_plan() {
        let p = compare(&[
            "--offline",
            "--system",
            "s",
            "--cache",
            "--cache-ttl",
            "1h",
            "--thinking",
            "1024",
        ])
        .unwrap()
        .plan()
        .unwrap();
        assert_eq!(
            p.cache,
            Some(CachePlan {
                ttl: Some(CacheTtl::OneHour),
                warmup: true
            })
        );
        assert_eq!(
            (p.thinking, p.limits.max_tokens),
            (Some(1024), 1024 + defaults::MAX_TOKENS)
        );
        assert!(
            compare(&["--offline", "--cache-ttl", "1h"]).is_err(),
            "--cache-ttl needs --cache"
        );
        assert!(
            compare(&["--offline", "--thinking", "100"]).is_err(),
            "below Anthropic's minimum"
        );
        let e = compare(&["--offline", "--thinking", "1024", "--max-tokens", "512"])
            .unwrap()
            .plan()
            .unwrap_err();
        assert!(
            e.0.starts_with("--max-tokens 512 must be above the thinking budget 1024"),
            "{e}"
        );
        let e = compare(&["--offline", "--api", "responses"])
            .unwrap()
            .plan()
            .unwrap_err();
        assert!(e.0.contains("not an API of --target bedrock"), "{e}");
    }
}
