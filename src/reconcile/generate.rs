//! Realistic billing records at any size, with discrepancies of every class injected at a
//! known rate and the ground truth written beside them (`tokaudit gen-logs`, hidden): Bedrock
//! invocation logs as Bedrock delivers them (gzip JSON lines in its S3 layout) and LiteLLM
//! logging payloads as JSON lines. Tests reconcile them and compare with `truth.json`; the
//! benchmark runs them at 10 million records per side.
//!
//! The truth is computed here in Rust from the price table, independently of the SQL checks.

use super::row::model_key;
use crate::core::prices::{Prices, Rates};
use flate2::Compression;
use flate2::write::GzEncoder;
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// The models traffic is spread over (all in the embedded price table).
const MODELS: [&str; 3] = [
    "anthropic.claude-3-haiku-20240307-v1:0",
    "anthropic.claude-3-5-haiku-20241022-v1:0",
    "anthropic.claude-3-5-sonnet-20240620-v1:0",
];
/// Bedrock operations, by how the gateway calls them.
const OPERATIONS: [&str; 4] = [
    "Converse",
    "ConverseStream",
    "InvokeModel",
    "InvokeModelWithResponseStream",
];
/// API keys (hashes) traffic is spread over.
const API_KEYS: u64 = 16;
/// The first call's time: 2026-11-27T00:00:00Z, in milliseconds.
const EPOCH_MS: i64 = 1_795_737_600_000;
/// Milliseconds between calls (spread over about three days at 10M records).
const SPACING_MS: i64 = 25;
/// Every how many records one class is injected, at rate 1.
const CLASSES: [Class; 11] = [
    Class::InputDiffers,
    Class::CacheReadDiffers,
    Class::CacheWriteDiffers,
    Class::OutputDiffers,
    Class::Placeholder,
    Class::Unbilled,
    Class::Unlogged,
    Class::TotalNotSum,
    Class::CostDiffers,
    Class::CachedBeyondPrompt,
    Class::Malformed,
];

/// What to generate.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The folder (`invocation-logs/`, `gateway-logs/`, `truth.json` inside).
    pub out: PathBuf,
    /// Calls.
    pub records: u64,
    /// Records per file.
    pub per_file: u64,
    /// One record in this many carries a discrepancy (0: clean logs).
    pub every: u64,
    /// One gateway record in this many keeps no provider request id (0: all keep it).
    pub without_id_every: u64,
    /// The seed.
    pub seed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    InputDiffers,
    CacheReadDiffers,
    CacheWriteDiffers,
    OutputDiffers,
    Placeholder,
    Unbilled,
    Unlogged,
    TotalNotSum,
    CostDiffers,
    CachedBeyondPrompt,
    Malformed,
}

/// The expected findings of one class and field.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Expected {
    /// Records.
    pub records: u64,
    /// Tokens, logged minus billed.
    pub tokens: i64,
    /// USD, logged minus billed.
    pub usd: f64,
}

/// The ground truth of a generated set.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Truth {
    /// Calls generated.
    pub records: u64,
    /// Pairs a reconciliation must match.
    pub matched: u64,
    /// Of which by request id.
    pub matched_by_request_id: u64,
    /// Of which by the fallback.
    pub matched_by_fallback: u64,
    /// `class/field` → expected findings.
    pub classes: BTreeMap<String, Expected>,
    /// Malformed records per source.
    pub malformed: BTreeMap<String, u64>,
    /// Bytes written per source.
    pub bytes: BTreeMap<String, u64>,
}

impl Truth {
    fn add(&mut self, class: &str, field: &str, tokens: i64, usd: f64) {
        let e = self.classes.entry(format!("{class}/{field}")).or_default();
        e.records += 1;
        e.tokens += tokens;
        e.usd += usd;
    }
}

/// One call's true usage and what the gateway logs of it.
#[derive(Debug, Clone)]
struct Call {
    n: u64,
    model: &'static str,
    operation: &'static str,
    start_ms: i64,
    input: u64,
    cache_read: u64,
    cache_write: u64,
    output: u64,
}

/// Generate a set; the truth is also written to `out/truth.json`.
pub fn generate(spec: &Spec, prices: &Prices) -> std::io::Result<Truth> {
    let mut w = Writers::create(&spec.out, spec.per_file)?;
    let mut truth = Truth {
        records: spec.records,
        ..Truth::default()
    };
    let mut rng = SplitMix(spec.seed);
    for n in 0..spec.records {
        let call = call(n, &mut rng);
        let class = (spec.every > 0 && n % spec.every == spec.every - 1)
            .then(|| CLASSES[((n / spec.every) % CLASSES.len() as u64) as usize]);
        let keeps_id = !(spec.without_id_every > 0 && n % spec.without_id_every == 0);
        emit(&call, class, keeps_id, &mut w, &mut truth, prices)?;
    }
    w.finish(&mut truth)?;
    let text = serde_json::to_string_pretty(&truth).map_err(std::io::Error::other)?;
    crate::files::write_atomic(&spec.out.join("truth.json"), text.as_bytes())?;
    Ok(truth)
}

fn call(n: u64, rng: &mut SplitMix) -> Call {
    let cached = rng.below(10) < 3;
    let cache_write = if cached && rng.below(4) == 0 {
        1024 + rng.below(3000)
    } else {
        0
    };
    let cache_read = if cached && cache_write == 0 {
        1024 + rng.below(6000)
    } else {
        0
    };
    Call {
        n,
        model: MODELS[rng.below(MODELS.len() as u64) as usize],
        operation: OPERATIONS[rng.below(OPERATIONS.len() as u64) as usize],
        start_ms: EPOCH_MS + n as i64 * SPACING_MS,
        input: 8 + rng.below(2000),
        cache_read,
        cache_write,
        output: 2 + rng.below(800),
    }
}

/// Write one call to both sides, with its discrepancy, and account for it in the truth.
fn emit(
    c: &Call,
    class: Option<Class>,
    keeps_id: bool,
    w: &mut Writers,
    truth: &mut Truth,
    prices: &Prices,
) -> std::io::Result<()> {
    let rates = prices
        .lookup(c.model)
        .map(|(_, r)| r.clone())
        .unwrap_or_default();
    let mut g = Logged::faithful(c);
    let mut billed = true;
    match class {
        Some(Class::InputDiffers) => {
            g.prompt += 7;
            truth.add("input-differs", "input", 7, 7.0 * rates.input);
        }
        Some(Class::CacheReadDiffers) if c.cache_read > 0 => {
            g.prompt -= c.cache_read;
            g.cache_read = 0;
            let d = -(c.cache_read as i64);
            truth.add(
                "cache-read-differs",
                "cache_read",
                d,
                d as f64 * cache_read_price(&rates),
            );
        }
        Some(Class::CacheWriteDiffers) if c.cache_write > 0 => {
            g.cache_write = 0;
            g.prompt -= c.cache_write;
            let d = -(c.cache_write as i64);
            truth.add(
                "cache-write-differs",
                "cache_write",
                d,
                d as f64 * cache_write_price(&rates),
            );
        }
        Some(Class::OutputDiffers) => {
            g.completion += 5;
            truth.add("output-differs", "output", 5, 5.0 * rates.output);
        }
        Some(Class::Placeholder) if c.output > 1 && g.stream => {
            g.completion = 1;
            let d = 1 - c.output as i64;
            truth.add("placeholder-output", "output", d, d as f64 * rates.output);
        }
        Some(Class::Unbilled) => billed = false,
        Some(Class::Unlogged) => g.logged = false,
        Some(Class::TotalNotSum) => {
            g.total_extra = 3;
            truth.add("total-not-sum", "total", 3, 0.0);
        }
        Some(Class::CostDiffers) => {
            g.cost_zero = true;
            let cost = logged_cost(&g, &rates);
            truth.add("cost-differs", "cost", 0, -cost);
        }
        Some(Class::CachedBeyondPrompt) if c.cache_read + c.cache_write > 0 => {
            // LiteLLM 1.63.14 on Invoke cache streams: the cache split kept, the prompt without it.
            let cache = c.cache_read + c.cache_write;
            g.prompt -= cache;
            if cache > c.input {
                truth.add(
                    "cached-beyond-prompt",
                    "cache",
                    (cache - c.input) as i64,
                    0.0,
                );
            }
            let d = -(cache as i64);
            truth.add("input-differs", "input", d, d as f64 * rates.input);
        }
        Some(Class::Malformed) => {
            w.malformed(c, truth)?;
            return Ok(());
        }
        _ => {}
    }
    if billed {
        w.invocation_log(c)?;
    }
    if g.logged {
        w.gateway_log(c, &g, keeps_id, &rates)?;
    }
    match (billed, g.logged) {
        (true, true) => {
            truth.matched += 1;
            if keeps_id {
                truth.matched_by_request_id += 1;
            } else {
                truth.matched_by_fallback += 1;
            }
        }
        (false, true) => {
            let cost = logged_cost(&g, &rates);
            truth.add("unbilled", "record", (g.prompt + g.completion) as i64, cost);
        }
        (true, false) => {
            let usd = -billed_cost(c, &rates);
            truth.add(
                "unlogged",
                "record",
                -((c.input + c.cache_read + c.cache_write + c.output) as i64),
                usd,
            );
        }
        (false, false) => {}
    }
    Ok(())
}

fn cache_read_price(r: &Rates) -> f64 {
    r.cache_read.unwrap_or(r.input)
}

fn cache_write_price(r: &Rates) -> f64 {
    r.cache_write_5m.unwrap_or(r.input)
}

fn billed_cost(c: &Call, r: &Rates) -> f64 {
    c.input as f64 * r.input
        + c.cache_read as f64 * cache_read_price(r)
        + c.cache_write as f64 * cache_write_price(r)
        + c.output as f64 * r.output
}

fn logged_cost(g: &Logged, r: &Rates) -> f64 {
    let uncached = g.prompt as i64 - (g.cache_read + g.cache_write) as i64;
    uncached as f64 * r.input
        + g.cache_read as f64 * cache_read_price(r)
        + g.cache_write as f64 * cache_write_price(r)
        + g.completion as f64 * r.output
}

/// What the gateway logs of a call.
#[derive(Debug, Clone)]
struct Logged {
    logged: bool,
    stream: bool,
    /// Prompt tokens, cache included (the OpenAI convention).
    prompt: u64,
    cache_read: u64,
    cache_write: u64,
    completion: u64,
    total_extra: u64,
    cost_zero: bool,
}

impl Logged {
    fn faithful(c: &Call) -> Self {
        Logged {
            logged: true,
            stream: c.operation.ends_with("Stream"),
            prompt: c.input + c.cache_read + c.cache_write,
            cache_read: c.cache_read,
            cache_write: c.cache_write,
            completion: c.output,
            total_extra: 0,
            cost_zero: false,
        }
    }
}

fn request_id(n: u64) -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        n as u32,
        (n >> 32) as u16,
        n % 4096,
        (n / 4096) % 4096,
        n
    )
}

fn messages(c: &Call) -> serde_json::Value {
    json!([{"role": "user", "content": format!("Summarize support ticket #{} in one line.", c.n)}])
}

fn iso(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let day = super::stage::day_of(ms);
    let s = secs.rem_euclid(86_400);
    format!("{day}T{:02}:{:02}:{:02}Z", s / 3600, (s / 60) % 60, s % 60)
}

/// The open files of both sides.
struct Writers {
    out: PathBuf,
    per_file: u64,
    provider: Option<(GzEncoder<BufWriter<std::fs::File>>, PathBuf)>,
    provider_n: u64,
    provider_files: u64,
    gateway: Option<(BufWriter<std::fs::File>, PathBuf)>,
    gateway_n: u64,
    gateway_files: u64,
    line: String,
}

impl Writers {
    fn create(out: &Path, per_file: u64) -> std::io::Result<Self> {
        std::fs::create_dir_all(out.join("gateway-logs"))?;
        Ok(Writers {
            out: out.to_path_buf(),
            per_file: per_file.max(1),
            provider: None,
            provider_n: 0,
            provider_files: 0,
            gateway: None,
            gateway_n: 0,
            gateway_files: 0,
            line: String::new(),
        })
    }

    fn provider_file(
        &mut self,
        at_ms: i64,
    ) -> std::io::Result<&mut GzEncoder<BufWriter<std::fs::File>>> {
        if self.provider_n.is_multiple_of(self.per_file) {
            self.close_provider()?;
            let stamp = iso(at_ms);
            let dir = self
                .out
                .join("invocation-logs/AWSLogs/000000000000/BedrockModelInvocationLogs/us-east-1")
                .join(&stamp[0..4])
                .join(&stamp[5..7])
                .join(&stamp[8..10])
                .join(&stamp[11..13]);
            std::fs::create_dir_all(&dir)?;
            let path = dir.join(format!(
                "{}_{:06}.json.gz",
                at_ms / 1000,
                self.provider_files
            ));
            self.provider_files += 1;
            let f = BufWriter::new(std::fs::File::create(&path)?);
            self.provider = Some((GzEncoder::new(f, Compression::fast()), path));
        }
        self.provider_n += 1;
        Ok(&mut self.provider.as_mut().expect("opened above").0)
    }

    fn gateway_file(&mut self) -> std::io::Result<&mut BufWriter<std::fs::File>> {
        if self.gateway_n.is_multiple_of(self.per_file) {
            if let Some((mut f, _)) = self.gateway.take() {
                f.flush()?;
            }
            let path = self.out.join(format!(
                "gateway-logs/spend-{:06}.jsonl",
                self.gateway_files
            ));
            self.gateway_files += 1;
            self.gateway = Some((BufWriter::new(std::fs::File::create(&path)?), path));
        }
        self.gateway_n += 1;
        Ok(&mut self.gateway.as_mut().expect("opened above").0)
    }

    fn close_provider(&mut self) -> std::io::Result<()> {
        if let Some((gz, _)) = self.provider.take() {
            gz.finish()?.flush()?;
        }
        Ok(())
    }

    fn invocation_log(&mut self, c: &Call) -> std::io::Result<()> {
        let body = json!({
            "anthropic_version": "bedrock-2023-05-31", "max_tokens": 1024,
            "messages": [{"role": "user", "content": [{"type": "text", "text": format!("Summarize support ticket #{} in one line.", c.n)}]}]
        });
        let at = c.start_ms + 3 + (c.n % 57) as i64;
        self.line.clear();
        let record = json!({
            "schemaType": "ModelInvocationLog", "schemaVersion": "1.0",
            "timestamp": iso(at), "accountId": "000000000000",
            "identity": {"arn": "arn:aws:sts::000000000000:assumed-role/gateway/litellm"},
            "region": "us-east-1", "requestId": request_id(c.n), "operation": c.operation,
            "modelId": c.model,
            "input": {"inputContentType": "application/json", "inputBodyJson": body,
                      "inputTokenCount": c.input, "cacheReadInputTokenCount": c.cache_read,
                      "cacheWriteInputTokenCount": c.cache_write},
            "output": {"outputContentType": "application/json", "outputTokenCount": c.output}
        });
        self.line.push_str(&record.to_string());
        self.line.push('\n');
        let line = std::mem::take(&mut self.line);
        self.provider_file(at)?.write_all(line.as_bytes())?;
        self.line = line;
        Ok(())
    }

    fn gateway_log(
        &mut self,
        c: &Call,
        g: &Logged,
        keeps_id: bool,
        rates: &Rates,
    ) -> std::io::Result<()> {
        let cost = if g.cost_zero {
            0.0
        } else {
            logged_cost(g, rates)
        };
        let headers = if keeps_id {
            json!({"llm_provider-x-amzn-requestid": request_id(c.n)})
        } else {
            json!({})
        };
        let start = c.start_ms as f64 / 1000.0;
        let record = json!({
            "id": format!("chatcmpl-{}", request_id(c.n ^ 0x5a5a)), "call_type": "acompletion",
            "stream": g.stream, "status": "success", "custom_llm_provider": "bedrock",
            "model": c.model, "model_group": model_key(c.model), "api_base": "https://bedrock-runtime.us-east-1.amazonaws.com",
            "startTime": start, "endTime": start + 0.1 + (c.n % 90) as f64 / 100.0,
            "prompt_tokens": g.prompt, "completion_tokens": g.completion,
            "total_tokens": g.prompt + g.completion + g.total_extra, "response_cost": cost,
            "metadata": {"user_api_key_hash": format!("sk-hash-{:02}", c.n % API_KEYS),
                         "usage_object": {"prompt_tokens": g.prompt, "completion_tokens": g.completion,
                                          "cache_read_input_tokens": g.cache_read,
                                          "cache_creation_input_tokens": g.cache_write}},
            "hidden_params": {"additional_headers": headers},
            "messages": messages(c)
        });
        let text = record.to_string();
        let f = self.gateway_file()?;
        f.write_all(text.as_bytes())?;
        f.write_all(b"\n")
    }

    /// One malformed record, rotating through the kinds a reader meets.
    fn malformed(&mut self, c: &Call, truth: &mut Truth) -> std::io::Result<()> {
        let kind = (c.n / 7) % 4;
        match kind {
            0 => self
                .gateway_file()?
                .write_all(b"{\"id\": \"chatcmpl-broken\", \"model\": \n")?,
            1 => {
                let f = self.gateway_file()?;
                f.write_all(b"{\"id\":\"chatcmpl-x\",\"model\":\"anthropic.claude-3-haiku-20240307-v1:0\",\"startTime\":1795737600.0,\"completion_tokens\":3}\n")?
            }
            2 => {
                let f = self.gateway_file()?;
                f.write_all(b"{\"id\":\"chatcmpl-y\",\"model\":\"anthropic.claude-3-haiku-20240307-v1:0\",\"startTime\":1795737600.0,\"prompt_tokens\":\"12\",\"completion_tokens\":3}\n")?
            }
            _ => {
                // A truncated gzip object of its own: the one record in it is lost, and said so.
                let dir = self.out.join("invocation-logs/AWSLogs/000000000000/BedrockModelInvocationLogs/us-east-1/truncated");
                std::fs::create_dir_all(&dir)?;
                let mut gz = GzEncoder::new(Vec::new(), Compression::default());
                gz.write_all(
                    format!(
                        "{{\"requestId\":\"{}\",\"padding\":\"{}\"}}\n",
                        request_id(c.n),
                        "x".repeat(64)
                    )
                    .as_bytes(),
                )?;
                let bytes = gz.finish()?;
                std::fs::write(
                    dir.join(format!("{}.json.gz", c.n)),
                    &bytes[..bytes.len() / 2],
                )?;
            }
        }
        let source = if kind == 3 {
            "invocation-logs"
        } else {
            "gateway-logs"
        };
        *truth.malformed.entry(source.into()).or_default() += 1;
        Ok(())
    }

    fn finish(mut self, truth: &mut Truth) -> std::io::Result<()> {
        self.close_provider()?;
        if let Some((mut f, _)) = self.gateway.take() {
            f.flush()?;
        }
        for (name, dir) in [
            ("invocation-logs", "invocation-logs"),
            ("gateway-logs", "gateway-logs"),
        ] {
            truth
                .bytes
                .insert(name.into(), folder_bytes(&self.out.join(dir)));
        }
        Ok(())
    }
}

fn folder_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => folder_bytes(&e.path()),
            _ => e.metadata().map(|m| m.len()).unwrap_or(0),
        })
        .sum()
}

/// SplitMix64: a small, fast, seedable generator (Steele, Lea and Flood 2014), so that the
/// same seed gives the same logs on every platform.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
