//! Bedrock model invocation logs, written by the emulator (`serve --invocation-logs DIR`) as
//! Bedrock delivers them to S3: gzip JSON lines under
//! `AWSLogs/<account>/BedrockModelInvocationLogs/<region>/YYYY/MM/DD/HH/`, one record per
//! successful Bedrock Runtime call, with what was *billed* (an abandoned stream is logged with
//! the output generated until the disconnect). With a gateway logging too, a whole
//! provider-versus-gateway reconciliation runs on one machine.
//!
//! Field names follow `shared/reference/billing-and-records.md` §6. The cache counts
//! (`input.cacheReadInputTokenCount`, `input.cacheWriteInputTokenCount`) are not confirmed
//! in AWS's documentation. `output.outputBodyJson` is not written; `input.inputBodyJson` is
//! the request body as received, credentials in its top-level fields redacted.
//!
//! Records are batched and each batch is written as one complete object (temporary file, then
//! rename), so a reader never sees a truncated gzip and a crash loses at most one batch.

use crate::core::ledger::LedgerEntry;
use crate::files;
use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The account id the emulator logs under (never a real one).
pub const ACCOUNT: &str = "000000000000";
/// The caller the emulator logs (it checks no credentials).
const IDENTITY: &str = "arn:aws:iam::000000000000:user/tokaudit-emulator";
/// Records per object at most.
pub const BATCH_RECORDS: usize = 1_000;
/// Uncompressed bytes per object at most (request bodies can be large).
pub const BATCH_BYTES: usize = 8 * 1024 * 1024;

/// The log of one emulator.
#[derive(Debug)]
pub struct InvocationLog {
    dir: PathBuf,
    region: String,
    pending: Mutex<Vec<u8>>,
    records: AtomicU64,
    objects: AtomicU64,
    failed: AtomicBool,
}

impl InvocationLog {
    /// A log under `dir` for `region`.
    pub fn new(dir: PathBuf, region: String) -> Self {
        InvocationLog {
            dir,
            region,
            pending: Mutex::new(Vec::new()),
            records: AtomicU64::new(0),
            objects: AtomicU64::new(0),
            failed: AtomicBool::new(false),
        }
    }

    /// Log one call, as its ledger entry says it was billed.
    pub fn push(&self, entry: &LedgerEntry, input_body: &[u8]) {
        let Some(line) = record(
            entry,
            &self.region,
            input_body,
            DateTime::from(std::time::SystemTime::now()),
        ) else {
            return;
        };
        let full = {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            pending.extend_from_slice(line.as_bytes());
            pending.push(b'\n');
            let n = self.records.fetch_add(1, Ordering::Relaxed) + 1;
            n.is_multiple_of(BATCH_RECORDS as u64) || pending.len() >= BATCH_BYTES
        };
        if full {
            self.flush();
        }
    }

    /// Write what is pending as one object. A failure is reported once on stderr and never
    /// stops the server.
    pub fn flush(&self) {
        let batch = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        if batch.is_empty() {
            return;
        }
        let now = DateTime::from(std::time::SystemTime::now());
        let n = self.objects.fetch_add(1, Ordering::Relaxed);
        let path = object_path(&self.dir, &self.region, now, n);
        if let Err(e) = write_gzip(&path, &batch)
            && !self.failed.swap(true, Ordering::Relaxed)
        {
            eprintln!(
                "tokaudit: error: cannot write invocation logs to {}: {e} (later failures are not repeated)",
                path.display()
            );
        }
    }
}

fn write_gzip(path: &Path, lines: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(lines)?;
    files::write_atomic(path, &gz.finish()?)
}

/// `DIR/AWSLogs/<account>/BedrockModelInvocationLogs/<region>/YYYY/MM/DD/HH/<time>_<n>.json.gz`.
fn object_path(dir: &Path, region: &str, now: DateTime, n: u64) -> PathBuf {
    let stamp = now.fmt(Format::DateTime).unwrap_or_default();
    let part = |r: std::ops::Range<usize>| stamp.get(r).unwrap_or("00").to_string();
    dir.join("AWSLogs")
        .join(ACCOUNT)
        .join("BedrockModelInvocationLogs")
        .join(region)
        .join(part(0..4))
        .join(part(5..7))
        .join(part(8..10))
        .join(part(11..13))
        .join(format!(
            "{}_{}_{n:06}.json.gz",
            now.secs(),
            std::process::id()
        ))
}

/// The invocation log line of a billed call; `None` for what Bedrock does not log here
/// (rejected requests, gateway routes, CountTokens).
fn record(entry: &LedgerEntry, region: &str, input_body: &[u8], now: DateTime) -> Option<String> {
    let bedrock = matches!(
        entry.operation.as_str(),
        "InvokeModel" | "InvokeModelWithResponseStream" | "Converse" | "ConverseStream"
    );
    let truth = entry.truth.filter(|_| bedrock && entry.status == 200)?;
    let mut body: Value = serde_json::from_slice(input_body).unwrap_or(Value::Null);
    // LiteLLM 1.63.14 sends its AWS credentials inside InvokeModel bodies; they are not logged.
    if let Value::Object(fields) = &mut body {
        crate::core::redact::span_attributes(fields);
    }
    let line = json!({
        "schemaType": "ModelInvocationLog",
        "schemaVersion": "1.0",
        "timestamp": now.fmt(Format::DateTime).unwrap_or_default(),
        "accountId": ACCOUNT,
        "identity": {"arn": IDENTITY},
        "region": region,
        "requestId": entry.request_id,
        "operation": entry.operation,
        "modelId": entry.model,
        "input": {
            "inputContentType": "application/json",
            "inputBodyJson": body,
            "inputTokenCount": truth.input,
            "cacheReadInputTokenCount": truth.cache_read,
            "cacheWriteInputTokenCount": truth.cache_write,
        },
        "output": {
            "outputContentType": "application/json",
            "outputTokenCount": truth.output,
        },
    });
    Some(line.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::ledger::Usage;
    use flate2::read::GzDecoder;
    use std::io::Read;

    fn entry(operation: &str, status: u16) -> LedgerEntry {
        LedgerEntry {
            request_id: "70ca0d17-7a3c-4e1d-9b2f-000000000001".into(),
            operation: operation.into(),
            model: "anthropic.claude-3-haiku-20240307-v1:0".into(),
            status,
            truth: Some(Usage {
                input: 10,
                cache_read: 0,
                cache_write: 0,
                cache_write_1h: 0,
                output: 2,
                reasoning: 0,
            }),
            reported: None,
            faults: Vec::new(),
            correlation: None,
            aborted_after_frames: None,
        }
    }

    #[test]
    fn credentials_a_gateway_put_in_the_body_are_not_logged() {
        let body =
            br#"{"messages":[],"aws_secret_access_key":"wJalrXUtnFEMI/K7MDENG","max_tokens":9}"#;
        let line = record(
            &entry("InvokeModel", 200),
            "us-east-1",
            body,
            DateTime::from_secs(0),
        )
        .unwrap();
        assert!(!line.contains("wJalrXUtnFEMI"), "{line}");
        assert!(line.contains(r#""max_tokens":9"#), "{line}");
    }

    #[test]
    fn a_batch_is_one_gzip_object_in_bedrocks_layout() {
        let dir = tempfile::tempdir().unwrap();
        let log = InvocationLog::new(dir.path().to_path_buf(), "us-east-1".into());
        log.push(&entry("ConverseStream", 200), br#"{"messages":[]}"#);
        log.push(&entry("Converse", 429), b"{}");
        log.push(&entry("ChatCompletions", 200), b"{}");
        log.flush();
        log.flush();
        let found: Vec<PathBuf> = walk(dir.path());
        assert_eq!(found.len(), 1, "{found:?}");
        let rel = found[0]
            .strip_prefix(dir.path())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(
            rel.starts_with("AWSLogs/000000000000/BedrockModelInvocationLogs/us-east-1/"),
            "{rel}"
        );
        assert_eq!(rel.split('/').count(), 9, "{rel}");
        let mut text = String::new();
        GzDecoder::new(std::fs::File::open(&found[0]).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 1, "only the billed Bedrock call: {text}");
        assert_eq!(
            lines[0]["requestId"],
            "70ca0d17-7a3c-4e1d-9b2f-000000000001"
        );
        assert_eq!(lines[0]["input"]["inputTokenCount"], 10);
        assert_eq!(lines[0]["output"]["outputTokenCount"], 2);
        assert_eq!(lines[0]["input"]["inputBodyJson"]["messages"], json!([]));
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
        out
    }
}
